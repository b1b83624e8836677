package guest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var testTools = []Tool{
	{
		Name:        "add",
		Description: "Adds two numbers.",
		InputSchema: json.RawMessage(`{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}}}`),
		Handler: func(args json.RawMessage) (any, error) {
			var in struct{ A, B float64 }
			if err := json.Unmarshal(args, &in); err != nil {
				return nil, err
			}
			return map[string]float64{"sum": in.A + in.B}, nil
		},
	},
	{Name: "fail", Description: "Fails.", Handler: func(json.RawMessage) (any, error) { return nil, errors.New("it broke") }},
	{Name: "panic", Description: "Panics.", Handler: func(json.RawMessage) (any, error) { panic("oops") }},
	{Name: "args", Description: "Returns its arguments.", Handler: func(a json.RawMessage) (any, error) { return a, nil }},
	{Name: "nohandler", Description: "Has no handler."},
}

func runTool(args []string, stdin string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb, Component{Tools: testTools})
	return code, out.String(), errb.String()
}

func TestDescribe(t *testing.T) {
	code, out, errs := runTool([]string{"c", DescribeFlag}, "")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		Tools []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"inputSchema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tools) != len(testTools) || doc.Tools[0].Name != "add" || !strings.Contains(string(doc.Tools[0].InputSchema), `"number"`) {
		t.Errorf("describe = %s", out)
	}
	if string(doc.Tools[1].InputSchema) != `{"type":"object"}` {
		t.Errorf("default schema = %s", doc.Tools[1].InputSchema)
	}
}

func TestDescribeSecrets(t *testing.T) {
	c := Component{Tools: testTools[:1], Secrets: []Secret{{Key: "API_KEY", Description: "The key.", Tools: []string{"add"}}}}
	var out, errb bytes.Buffer
	if code := run([]string{"c", DescribeFlag}, strings.NewReader(""), &out, &errb, c); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"secrets":[{"key":"API_KEY","description":"The key.","tools":["add"]}]`) {
		t.Errorf("describe = %s", out.String())
	}
	out.Reset()
	run([]string{"c", DescribeFlag}, strings.NewReader(""), &out, &errb, Component{Tools: testTools[:1]})
	if strings.Contains(out.String(), "secrets") {
		t.Errorf("a component without secrets declares some: %s", out.String())
	}
}

func TestCall(t *testing.T) {
	tests := []struct {
		args          []string
		stdin         string
		code          int
		stdout, errIn string
	}{
		{[]string{"c", "add"}, `{"a":1,"b":2.5}`, 0, `{"sum":3.5}` + "\n", ""},
		{[]string{"c", "args"}, ``, 0, "{}\n", ""},
		{[]string{"c", "fail"}, `{}`, ExitToolError, "", "it broke"},
		{[]string{"c", "panic"}, `{}`, ExitToolError, "", "tool panicked: oops"},
		{[]string{"c", "nohandler"}, `{}`, ExitToolError, "", "has no handler"},
		{[]string{"c", "add"}, `{`, ExitUsage, "", "not valid JSON"},
		{[]string{"c", "nope"}, `{}`, ExitUsage, "", `unknown tool "nope"`},
		{[]string{"c"}, ``, ExitUsage, "", "run it with wassette"},
		{[]string{"c", "add", "extra"}, ``, ExitUsage, "", "run it with wassette"},
	}
	for _, tt := range tests {
		code, out, errs := runTool(tt.args, tt.stdin)
		if code != tt.code || out != tt.stdout || !strings.Contains(errs, tt.errIn) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr containing %q",
				tt.args, code, out, errs, tt.code, tt.stdout, tt.errIn)
		}
	}
}

func TestHTTPOutsideWasm(t *testing.T) {
	_, err := HTTPGet("https://example.com/")
	if err == nil || !strings.Contains(err.Error(), "GOOS=wasip1") {
		t.Errorf("HTTPGet outside wasip1: %v", err)
	}
	if _, err := Do(nil); err == nil {
		t.Error("Do(nil) succeeded")
	}
}

func TestResponseHeaderValue(t *testing.T) {
	r := &Response{Header: map[string][]string{"Content-Type": {"application/json"}}}
	if got := r.HeaderValue("content-type"); got != "application/json" {
		t.Errorf("HeaderValue = %q", got)
	}
	if got := r.HeaderValue("X-Missing"); got != "" {
		t.Errorf("HeaderValue(missing) = %q", got)
	}
}
