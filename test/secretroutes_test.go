package test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/wassette/wassette/internal/wasmtest"
)

// leakForms is a secret in every form in which a leak would still be one: plain,
// reversed, hex in both cases, and base64 in both alphabets, padded or not, and as it
// sits inside a longer base64 text at each byte alignment (the characters that depend
// on the secret's bits alone).
func leakForms(secret string) map[string]string {
	forms := canaryForms(secret)
	r := []rune(secret)
	slices.Reverse(r)
	forms["reversed"] = string(r)
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for shift := 1; shift <= 2; shift++ {
			s := enc.EncodeToString(append(make([]byte, shift), secret...))
			forms["base64 at offset "+string(rune('0'+shift))] = s[(8*shift+5)/6 : 8*(shift+len(secret))/6]
		}
	}
	forms["HEX mixed"] = strings.ToUpper(hex.EncodeToString([]byte(secret))[:8]) + hex.EncodeToString([]byte(secret))[8:]
	return forms
}

// assertNoLeak fails the test if data holds secret in any of leakForms.
func assertNoLeak(t *testing.T, where string, data []byte, secret string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for form, s := range leakForms(secret) {
		hay := data
		if strings.HasPrefix(form, "hex") || strings.HasPrefix(form, "HEX") {
			hay, s = lower, strings.ToLower(s)
		}
		if bytes.Contains(hay, []byte(s)) {
			t.Errorf("the secret (%s form) appears in %s", form, where)
		}
	}
}

// TestModelCannotRouteSecrets drives a real `serve --stdio` as a model would, along
// each route of issue 7 point 2 by which a model could hand a secret to code of its
// choosing: granting wassette's own folders, granting wassette's own variables, host
// values coming back unredacted, and swapping the code under an ID that has secrets. Each
// is refused, or runs with the secrets withheld and tells the model so; no secret
// appears in any encoding in anything the server writes.
func TestModelCannotRouteSecrets(t *testing.T) {
	const (
		apiKey    = "weather-canary-key-7f3a9c2e41"
		authToken = "server-bearer-canary-5e6d7c8b9a"
		hostValue = "host-canary-value-0a1b2c3d4e"
		ownToken  = "leaker-own-canary-Z9y8X7w6v5"
	)
	weather, leaker := exampleWasm(t, "weather"), testWasm(t, "test/testdata/leaker")
	e := newEnv(t)
	// The person loads weather and gives it its key.
	must(t, e, 0, "", "component", "load", weather)
	must(t, e, 0, apiKey, "secret", "set", "weather", "API_KEY", "-")

	p := startServe(t, e.With("WASSETTE_AUTH_TOKEN="+authToken, "HOST_SECRET="+hostValue), "serve", "--stdio")
	c := p.stdioClient(t)
	defer c.Close()

	// Route 1: grant-storage-permission of wassette's own folders, what is in them, what
	// holds them, and a link to them: refused, saying why, and nothing is granted.
	data := e.DataDir
	link := filepath.Join(e.Home, "innocent-looking")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{
		data, filepath.Join(data, "secrets"), filepath.Join(data, "components"), e.Home, "/", link,
		filepath.Join(e.Home, ".cache", "wassette"), filepath.Join(e.Home, ".config"),
	} {
		if err := os.MkdirAll(dir, 0o700); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		res := call(t, c, "grant-storage-permission", map[string]any{"component_id": "weather", "uri": dir, "access": []string{"read"}})
		text := resultText(res)
		if !res.IsError || !strings.Contains(text, "refused") || !strings.Contains(text, "wassette's") ||
			!strings.Contains(text, "secrets") || !strings.Contains(text, "instead") {
			t.Errorf("grant-storage-permission %s: %v %s", dir, res.IsError, text)
		}
	}
	if res := mustOK(t, c, "get-policy", map[string]any{"component_id": "weather"}); strings.Contains(resultText(res), "fs://") {
		t.Errorf("a refused grant was kept:\n%s", resultText(res))
	}

	// Route 2: wassette's own variables cannot be granted ...
	res := call(t, c, "grant-environment-variable-permission", map[string]any{"component_id": "weather", "key": "WASSETTE_AUTH_TOKEN"})
	if !res.IsError || !strings.Contains(resultText(res), "WASSETTE_AUTH_TOKEN is one of wassette's own variables") {
		t.Errorf("grant of WASSETTE_AUTH_TOKEN: %v %s", res.IsError, resultText(res))
	}

	// ... and never reach a component, even through a hand-edited policy; a host value a
	// component is given comes back redacted in every encoding. The person loads the
	// leaker and gives it a secret of its own, which it returns in every encoding too.
	must(t, e, 0, "", "component", "load", leaker)
	must(t, e, 0, ownToken, "secret", "set", "leaker", "OWN_TOKEN", "-")
	handPolicy := "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: WASSETTE_AUTH_TOKEN\n      - key: HOST_SECRET\n"
	if err := os.WriteFile(filepath.Join(data, "components", "leaker.policy.yaml"), []byte(handPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	waitTool(t, c, "leak")
	res = mustOK(t, c, "leak", map[string]any{})
	var leaked map[string][]string
	if err := json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &leaked); err != nil {
		t.Fatalf("leak output: %v\n%s", err, resultText(res))
	}
	if _, ok := leaked["WASSETTE_AUTH_TOKEN"]; ok {
		t.Errorf("a host WASSETTE_ variable reached the component: %v", leaked)
	}
	if len(leaked["HOST_SECRET"]) == 0 || len(leaked["OWN_TOKEN"]) == 0 {
		t.Errorf("the leaker did not get its variables: %v", leaked)
	}
	res = call(t, c, "leak_error", map[string]any{})
	if !res.IsError || !strings.Contains(resultText(res), "OWN_TOKEN") {
		t.Errorf("leak_error: %v %s", res.IsError, resultText(res))
	}
	// A hand-edited grant of the data folder fails the call, naming the folder.
	handPolicy += "  storage:\n    allow:\n      - uri: \"fs://" + filepath.ToSlash(data) + "\"\n        access: [read]\n"
	if err := os.WriteFile(filepath.Join(data, "components", "leaker.policy.yaml"), []byte(handPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	res = call(t, c, "read", map[string]any{"path": filepath.Join(data, "secrets", "weather.yaml")})
	if !res.IsError || !strings.Contains(resultText(res), "refused") {
		t.Errorf("read through a hand-edited grant of the data folder: %v %s", res.IsError, resultText(res))
	}

	// Route 3: the model swaps the code under weather's ID, replacing it in place, and
	// again after unloading it: the new module runs without weather's key, and the model
	// is told what the person must run.
	for _, how := range []string{"replace", "unload and load"} {
		if how == "unload and load" {
			mustOK(t, c, "unload-component", map[string]any{"component_id": "weather"})
		} else {
			mustOK(t, c, "unload-component", map[string]any{"component_id": "leaker"})
		}
		res = mustOK(t, c, "load-component", map[string]any{"path": leaker, "component_id": "weather"})
		var out struct {
			Approved bool     `json:"approved"`
			Withheld []string `json:"withheld"`
		}
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, &out)
		if out.Approved || !slices.Equal(out.Withheld, []string{"API_KEY"}) ||
			!strings.Contains(resultText(res), "does NOT receive") || !strings.Contains(resultText(res), "wassette component approve weather") {
			t.Errorf("%s: load-component: %s", how, resultText(res))
		}
		waitTool(t, c, "leak")
		res = mustOK(t, c, "leak", map[string]any{})
		if len(res.Content) != 2 || !strings.Contains(resultText(res), "ran WITHOUT its secrets and policy values (API_KEY)") {
			t.Errorf("%s: the leak result does not say the key was withheld: %s", how, resultText(res))
		}
		if err := json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &leaked); err != nil || leaked["API_KEY"] != nil {
			t.Errorf("%s: the swapped module got the key: %v %v", how, leaked, err)
		}
		res = mustOK(t, c, "get-policy", map[string]any{"component_id": "weather"})
		if !strings.Contains(resultText(res), "approved: false") || !strings.Contains(resultText(res), "withheld") ||
			!strings.Contains(resultText(res), "wassette component approve weather") {
			t.Errorf("%s: get-policy does not say the key is withheld:\n%s", how, resultText(res))
		}
	}
	out, _ := must(t, e, 0, "", "policy", "get", "weather")
	if !strings.Contains(out, "approved: false") || !strings.Contains(out, "- API_KEY") || !strings.Contains(out, "wassette component approve weather") {
		t.Errorf("policy get does not say the key is withheld:\n%s", out)
	}

	c.Close()
	if code := p.wait(t); code != 0 {
		t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
	}
	<-p.copied
	checkJSONRPCLines(t, p.stdout.Bytes())
	for _, secret := range []string{apiKey, authToken, hostValue, ownToken} {
		assertNoLeak(t, "the server's stdout", p.stdout.Bytes(), secret)
		assertNoLeak(t, "the server's stderr", p.stderr.Bytes(), secret)
	}
}

// testWasm returns the module built from the package pkg (relative to the module root).
func testWasm(t *testing.T, pkg string) string {
	t.Helper()
	paths, err := wasmtest.Build(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return paths[0]
}

// waitTool waits until the server offers tool (the CLI's changes are picked up within
// seconds); a hang guard, not a timing assertion.
func waitTool(t *testing.T, c *client.Client, tool string) {
	t.Helper()
	for range 600 {
		if slices.Contains(toolList(t, c), tool) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the server never offered %s", tool)
}
