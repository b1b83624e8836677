package component

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/component/cmrun"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/secretdecl"
)

// A component is one of two kinds, told apart by its binary's header: a WASI
// preview1 module that speaks wassette's tool protocol (package runtime), or
// a WASI 0.2 component whose tools are its WIT exports (package cmrun). The
// Manager treats both through module.

// module is a compiled component of either kind.
type module interface {
	// call runs one tool call in a fresh instance.
	call(ctx context.Context, tool string, args json.RawMessage, opts runtime.CallOptions) (callResult, error)
	// Close releases the compiled code once the calls in progress end.
	Close(ctx context.Context) error
}

// callResult is a call that ran to completion, before redaction.
type callResult struct {
	isError bool
	// text is the tool's output as text, or its error message.
	text string
	// output is the tool's JSON output: a preview1 module's stdout, or a
	// component's structured content {"result": ...}; nil on error.
	output json.RawMessage
	// structured reports that output is structured content that matches the
	// tool's output schema.
	structured bool
}

// p1Module is a preview1 module of the tool protocol.
type p1Module struct{ *runtime.Module }

func (m p1Module) call(ctx context.Context, tool string, args json.RawMessage, opts runtime.CallOptions) (callResult, error) {
	res, err := m.Module.Call(ctx, tool, args, opts)
	if err != nil {
		return callResult{}, err
	}
	if res.IsError() {
		text := strings.TrimSpace(res.Stderr)
		if text == "" {
			text = fmt.Sprintf("the tool failed with exit code %d and no message", res.ExitCode)
		}
		return callResult{isError: true, text: text}, nil
	}
	return callResult{text: string(res.Output), output: res.Output}, nil
}

// cmModule is a WASI 0.2 component.
type cmModule struct{ *cmrun.Module }

func (m cmModule) call(ctx context.Context, tool string, args json.RawMessage, opts runtime.CallOptions) (callResult, error) {
	res, err := m.Module.Call(ctx, tool, args, opts)
	if err != nil {
		return callResult{}, err
	}
	return callResult{isError: res.IsError, text: res.Text, output: res.Structured, structured: res.Structured != nil}, nil
}

// componentKind marks the tool document of a WASI 0.2 component in the
// registry's metadata; a preview1 module's document is the one its describe
// run printed (with the secrets it declares).
const componentKind = "wasi-0.2-component"

// toolDoc is the tool document of a WASI 0.2 component.
type toolDoc struct {
	Kind    string              `json:"kind"`
	Tools   []cmrun.Tool        `json:"tools"`
	Secrets []secretdecl.Secret `json:"secrets,omitempty"`
}

// description is what a load learns of a component: its tools, the secrets it
// declares, and the document to keep in the registry.
type description struct {
	Tools   []Tool
	Secrets []secretdecl.Secret
	doc     []byte
}

// compile compiles component id's binary of either kind. A new load also
// describes it (a preview1 module is run once for its tools, in a call slot like
// a call); a component compiled again after a restart needs no description.
func (m *Manager) compile(ctx context.Context, id string, wasm []byte, describe bool) (module, description, error) {
	if cm.IsComponent(wasm) {
		c, err := m.cmrt.Compile(ctx, wasm)
		if err != nil {
			return nil, description{}, err
		}
		if !describe {
			return cmModule{c}, description{}, nil
		}
		d := toolDoc{Kind: componentKind, Tools: c.Tools()}
		tools := componentTools(d.Tools)
		names := make([]runtime.Tool, len(tools))
		for i, t := range tools {
			names[i] = t.Tool
		}
		if d.Secrets, err = declaredSecrets(wasm, runtime.Description{Tools: names}); err != nil {
			c.Close(ctx)
			return nil, description{}, err
		}
		doc, err := json.Marshal(d)
		if err != nil {
			c.Close(ctx)
			return nil, description{}, err
		}
		return cmModule{c}, description{Tools: tools, Secrets: d.Secrets, doc: doc}, nil
	}
	p, err := m.rt.Compile(ctx, wasm)
	if err != nil {
		return nil, description{}, err
	}
	if !describe {
		return p1Module{p}, description{}, nil
	}
	release, err := m.acquire(ctx, id, 0)
	if err != nil {
		p.Close(ctx)
		return nil, description{}, err
	}
	rd, err := p.Description(ctx)
	release()
	if err == nil {
		rd.Secrets, err = declaredSecrets(wasm, rd)
	}
	if err != nil {
		p.Close(ctx)
		return nil, description{}, err
	}
	doc, err := json.Marshal(struct {
		Tools   []runtime.Tool      `json:"tools"`
		Secrets []secretdecl.Secret `json:"secrets,omitempty"`
	}{rd.Tools, rd.Secrets})
	if err != nil {
		p.Close(ctx)
		return nil, description{}, err
	}
	d := description{Secrets: rd.Secrets, doc: doc}
	for _, t := range rd.Tools {
		d.Tools = append(d.Tools, Tool{Tool: t})
	}
	return p1Module{p}, d, nil
}

func componentTools(ts []cmrun.Tool) []Tool {
	out := make([]Tool, len(ts))
	for i, t := range ts {
		out[i] = Tool{Tool: runtime.Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema}, OutputSchema: t.OutputSchema}
	}
	return out
}

// parseDescription reads a tool document kept in the registry, of either kind.
func parseDescription(doc []byte) (description, error) {
	var kind struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(doc, &kind) == nil && kind.Kind == componentKind {
		var d toolDoc
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil {
			return description{}, fmt.Errorf("the recorded tools are invalid: %w", err)
		}
		if len(d.Tools) == 0 {
			return description{}, fmt.Errorf("the recorded tools are invalid: none")
		}
		return description{Tools: componentTools(d.Tools), Secrets: d.Secrets}, nil
	}
	rd, err := runtime.ParseDescription(doc)
	if err != nil {
		return description{}, err
	}
	d := description{Secrets: rd.Secrets}
	for _, t := range rd.Tools {
		d.Tools = append(d.Tools, Tool{Tool: t})
	}
	return d, nil
}
