package cmrun

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/wassette/wassette/component/runtime"
)

// The C components: one calls WASI 0.2 through a hand-written canonical ABI
// (wasi:config/store at 0.2.0-rc.1, stdout through wasi:io/streams), the other
// is a preview1 reactor made a component with the preview1 adapter.
func TestCComponents(t *testing.T) {
	ctx := context.Background()
	opts := runtime.CallOptions{Env: []string{"K=v1", "OTHER=x"}}
	for _, c := range []struct{ component, tool, args, want string }{
		{"c-direct", "get-env", `{"key":"K"}`, `{"result":"v1"}`},
		{"c-direct", "get-env", `{"key":"NOPE"}`, `{"result":null}`},
		{"c-direct", "get-config", `{"key":"K"}`, `{"result":{"ok":"v1"}}`},
		{"c-direct", "say", `{"text":"hello"}`, `{"result":6}`},
		{"c-adapter", "get-env", `{"key":"K"}`, `{"result":"v1"}`},
		{"c-adapter", "shout", `{"text":"hi"}`, `{"result":"HI"}`},
	} {
		m := module(t, c.component)
		r, err := m.Call(ctx, c.tool, json.RawMessage(c.args), opts)
		if err != nil || r.IsError || string(r.Structured) != c.want {
			t.Errorf("%s %s %s: %+v %v, want %s", c.component, c.tool, c.args, r, err, c.want)
		}
	}
}
