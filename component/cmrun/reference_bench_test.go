package cmrun

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmtest"
)

// BenchmarkCallVsReference compares, in one run, a call of the JS env component
// through wassette (a fresh instance, both WASI interfaces' host, JSON both ways)
// with the same call through the jco reference host (Node and preview2-shim: a
// fresh instance of the transpiled component, the call, JSON both ways).
func BenchmarkCallVsReference(b *testing.B) {
	args := json.RawMessage(`{"key":"API_KEY"}`)
	b.Run("wassette", func(b *testing.B) {
		m := module(b, "js-env")
		opts := runtime.CallOptions{Env: []string{"API_KEY=sk-1234567890", "REGION=eu"}}
		for b.Loop() {
			if r, err := m.Call(context.Background(), "get-config", args, opts); err != nil || r.Text != "sk-1234567890" {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("jco", func(b *testing.B) {
		o := cmtest.StartOracle(b)
		c := cmtest.Call{Component: cmtest.Path(b, "js-env"), Tool: "get-config", Args: args,
			Env: map[string]string{"API_KEY": "sk-1234567890", "REGION": "eu"}}
		if _, err := o.Call(c); err != nil { // transpiles once
			b.Fatal(err)
		}
		for b.Loop() {
			out, err := o.Call(c)
			if err != nil || string(out.Result) != `"sk-1234567890"` {
				b.Fatal(out, err)
			}
		}
	})
}
