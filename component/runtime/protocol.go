package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/wassette/wassette/component/secretdecl"
)

// DescribeFlag is the single argument (after the program name) with which a
// module is run to print its tool declarations. See "The wassette tool protocol" in README.md.
const DescribeFlag = "--wassette-describe"

// ErrProtocol reports that a module does not follow the wassette tool
// protocol: its declarations are invalid or a call printed something that is
// not JSON. Use errors.Is to test for it.
var ErrProtocol = errors.New("the module does not follow the wassette tool protocol")

// Tool is a tool declared by a module.
type Tool struct {
	// Name identifies the tool in calls; it matches ^[a-zA-Z0-9_-]{1,64}$
	// and does not start with '-'.
	Name string `json:"name"`
	// Description tells the agent what the tool does.
	Description string `json:"description"`
	// InputSchema is the JSON Schema of the arguments: a JSON object with
	// "type":"object".
	InputSchema json.RawMessage `json:"inputSchema"`
}

// maxTools bounds the number of tools a module may declare.
const maxTools = 256

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// validToolName reports whether name is a valid tool name. Names starting
// with '-' are reserved for protocol flags such as DescribeFlag.
func validToolName(name string) error {
	if !toolNameRE.MatchString(name) {
		return fmt.Errorf("invalid tool name %.80q: names must match ^[a-zA-Z0-9_-]{1,64}$", name)
	}
	if name[0] == '-' {
		return fmt.Errorf("invalid tool name %q: names must not start with '-' (reserved for protocol flags)", name)
	}
	return nil
}

// Description is what a module declares for DescribeFlag: its tools, and the secrets
// they need (see package secretdecl).
type Description struct {
	Tools   []Tool
	Secrets []secretdecl.Secret
}

// ParseTools parses and strictly validates a tool declaration document, the
// JSON a module prints for DescribeFlag, and returns its tools. See
// ParseDescription.
func ParseTools(doc []byte) ([]Tool, error) {
	d, err := ParseDescription(doc)
	return d.Tools, err
}

// ParseDescription parses and strictly validates a tool declaration document, the
// JSON a module prints for DescribeFlag:
//
//	{"tools":[{"name":"...","description":"...","inputSchema":{"type":"object",...}}],
//	 "secrets":[{"key":"API_KEY","description":"...","tools":["..."]}]}
//
// "secrets" is optional. Callers that cache the result of Module.Description can use
// it to re-validate the cached document. Errors wrap ErrProtocol.
func ParseDescription(doc []byte) (Description, error) {
	var d struct {
		Tools   *[]json.RawMessage  `json:"tools"`
		Secrets []secretdecl.Secret `json:"secrets"`
	}
	if err := strictUnmarshal(doc, &d); err != nil {
		return Description{}, fmt.Errorf("%w: the tool declaration document is invalid: %v", ErrProtocol, err)
	}
	if d.Tools == nil {
		return Description{}, fmt.Errorf(`%w: the tool declaration document has no "tools" array`, ErrProtocol)
	}
	if len(*d.Tools) == 0 {
		return Description{}, fmt.Errorf("%w: the module declares no tools", ErrProtocol)
	}
	if len(*d.Tools) > maxTools {
		return Description{}, fmt.Errorf("%w: the module declares %d tools, more than the maximum of %d", ErrProtocol, len(*d.Tools), maxTools)
	}
	tools := make([]Tool, 0, len(*d.Tools))
	seen := make(map[string]bool, len(*d.Tools))
	names := make([]string, 0, len(*d.Tools))
	for i, raw := range *d.Tools {
		var t Tool
		if err := strictUnmarshal(raw, &t); err != nil {
			return Description{}, fmt.Errorf("%w: tool #%d: %v", ErrProtocol, i, err)
		}
		if err := validToolName(t.Name); err != nil {
			return Description{}, fmt.Errorf("%w: tool #%d: %v", ErrProtocol, i, err)
		}
		if seen[t.Name] {
			return Description{}, fmt.Errorf("%w: tool name %q is declared more than once", ErrProtocol, t.Name)
		}
		seen[t.Name] = true
		names = append(names, t.Name)
		if t.Description == "" {
			return Description{}, fmt.Errorf(`%w: tool %q has no "description"`, ErrProtocol, t.Name)
		}
		if err := checkSchema(t.InputSchema); err != nil {
			return Description{}, fmt.Errorf(`%w: tool %q: "inputSchema" %v`, ErrProtocol, t.Name, err)
		}
		t.InputSchema = compact(t.InputSchema)
		tools = append(tools, t)
	}
	if err := secretdecl.Check(d.Secrets, names); err != nil {
		return Description{}, fmt.Errorf(`%w: "secrets": %v`, ErrProtocol, err)
	}
	return Description{Tools: tools, Secrets: d.Secrets}, nil
}

func checkSchema(schema json.RawMessage) error {
	if len(schema) == 0 {
		return errors.New(`is missing; use {"type":"object"} for a tool without arguments`)
	}
	var s map[string]json.RawMessage
	if err := json.Unmarshal(schema, &s); err != nil || s == nil {
		return errors.New("must be a JSON object")
	}
	var typ string
	if err := json.Unmarshal(s["type"], &typ); err != nil || typ != "object" {
		return errors.New(`must have "type":"object"`)
	}
	if p, ok := s["properties"]; ok {
		var props map[string]json.RawMessage
		if err := json.Unmarshal(p, &props); err != nil || props == nil {
			return errors.New(`has "properties" that is not a JSON object`)
		}
	}
	return nil
}

// strictUnmarshal decodes exactly one JSON value, refusing unknown fields and
// trailing data.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
