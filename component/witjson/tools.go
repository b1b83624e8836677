// Package witjson turns the exports of a WASI 0.2 component into MCP tools:
// their names, descriptions and JSON Schemas, and the conversion of JSON
// arguments to component values and of results back to JSON.
//
// Names and schemas follow upstream Wassette's component2json, so prompts
// and configurations carry over, and are stricter where it is loose:
// integers are "integer" with their range and refused when out of it, flags
// are arrays of names, a top-level err result is a tool error, functions
// whose signatures hold resources are not tools, and a bad argument is
// refused with its path ("s.val[1]: expected an integer (u8)").
package witjson

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wassette/wassette/component/cm"
)

// MaxNameLength is the longest tool name MCP allows.
const MaxNameLength = 128

// Tool is an exported function offered as an MCP tool.
type Tool struct {
	Name         string
	Description  string
	InputSchema  json.RawMessage
	OutputSchema json.RawMessage // nil for a function without result
	// Export is the function the tool calls.
	Export *cm.Export
}

// ToolName names the tool of function fn of the exported interface iface
// ("" for a function the component exports directly), as upstream Wassette
// does: each part lower-cased, every character outside [a-z0-9-] turned into
// "_", joined by "_": "get-weather",
// "wassette_types-demo_shapes_0_1_0_area".
func ToolName(iface, fn string) string {
	if iface == "" {
		return normalize(fn)
	}
	return normalize(iface) + "_" + normalize(fn)
}

func normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Tools returns the tools of a component: one per exported function whose
// signature holds no resource, in export order. Two functions that would
// get the same name, or a name longer than MaxNameLength, are an error.
func Tools(c *cm.Component) ([]Tool, error) {
	docs := parseDocs(c.CustomSections("package-docs"))
	var out []Tool
	seen := map[string]string{}
	for _, e := range c.Exports() {
		if e.Type.HasResources() {
			continue
		}
		name := ToolName(e.Interface, e.Name)
		where := e.Name
		if e.Interface != "" {
			where = e.Interface + "#" + e.Name
		}
		if len(name) > MaxNameLength {
			return nil, fmt.Errorf("exported function %s gives the tool name %q, longer than the %d characters MCP allows", where, name, MaxNameLength)
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("exported functions %s and %s both give the tool name %q", other, where, name)
		}
		seen[name] = where
		in, err := json.Marshal(InputSchema(e.Type))
		if err != nil {
			return nil, err
		}
		t := Tool{Name: name, Description: docs.lookup(e.Interface, e.Name), InputSchema: in, Export: e}
		if t.Description == "" {
			t.Description = describe(e)
		}
		if os := OutputSchema(e.Type); os != nil {
			if t.OutputSchema, err = json.Marshal(os); err != nil {
				return nil, err
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// describe writes a description from the signature, for a function without
// documentation.
func describe(e *cm.Export) string {
	sig := strings.TrimPrefix(e.Type.String(), "func")
	if e.Interface == "" {
		return fmt.Sprintf("Calls the component's function %s%s.", e.Name, sig)
	}
	return fmt.Sprintf("Calls %s%s from the component's interface %s.", e.Name, sig, e.Interface)
}

// Result is a function's result as an MCP tool result.
type Result struct {
	// IsError reports a top-level result<_, E> that returned err.
	IsError bool
	// Text is the result as text: a string as is, anything else as JSON;
	// for an error, the err payload likewise (or "error" without one).
	Text string
	// Structured is {"result": <JSON>}, the tool's structured content; nil
	// for an error or a function without result.
	Structured json.RawMessage
}

// ToolResult converts a call's result to a tool result.
func ToolResult(ft *cm.FuncType, v any) (Result, error) {
	t := ft.Result
	if t == nil {
		return Result{Text: "null"}, nil
	}
	if t.Kind == cm.KindResult {
		if vr, ok := v.(cm.Variant); ok && vr.Case == 1 {
			if t.Err == nil {
				return Result{IsError: true, Text: "error"}, nil
			}
			text, err := textOf(t.Err, vr.Value)
			return Result{IsError: true, Text: text}, err
		}
	}
	j, err := Encode(t, v)
	if err != nil {
		return Result{}, err
	}
	return Result{Text: text(j), Structured: append(append([]byte(`{"result":`), j...), '}')}, nil
}

func textOf(t *cm.Type, v any) (string, error) {
	j, err := Encode(t, v)
	return text(j), err
}

// text is a JSON value as text: a string as is, anything else as JSON.
func text(j []byte) string {
	if len(j) > 0 && j[0] == '"' {
		var s string
		if json.Unmarshal(j, &s) == nil {
			return s
		}
	}
	return string(j)
}
