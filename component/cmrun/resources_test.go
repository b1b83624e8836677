package cmrun

import (
	"context"
	"testing"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/component/wasi"
)

// The every-kind component's resource, through the component-model host: own
// handles as results and parameters, borrows as parameters (alone and in a list),
// and methods. Such functions are not tools, but the host must run them right.
func TestExportedResource(t *testing.T) {
	m := module(t, "js-kinds")
	for _, tl := range m.Tools() {
		if tl.Name == "wassette_kinds_counters_0_1_0_make" {
			t.Errorf("a function with a resource is offered as a tool")
		}
	}
	ctx := context.Background()
	in, err := m.c.Instantiate(ctx, wasi.NewCtx(wasi.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	const iface = "wassette:kinds/counters@0.1.0"
	call := func(name string, args ...any) any {
		t.Helper()
		e, ok := m.c.Export(iface, name)
		if !ok {
			t.Fatalf("no export %s", name)
		}
		res, err := in.Call(ctx, e, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	a := call("make", int64(5))
	if _, ok := a.(cm.Handle); !ok {
		t.Fatalf("make returned %#v", a)
	}
	b := call("[constructor]counter", int64(10))
	call("[method]counter.add", b, int64(7))
	if got := call("[method]counter.get", b); got != int64(17) {
		t.Errorf("get = %v, want 17", got)
	}
	if got := call("total", []any{a, b, a}); got != int64(27) {
		t.Errorf("total = %v, want 27", got)
	}
	c := call("[static]counter.merge", a, b)
	if got := call("[method]counter.get", c); got != int64(22) {
		t.Errorf("merged get = %v, want 22", got)
	}
	if got := call("consume", c); got != int64(22) {
		t.Errorf("consume = %v, want 22", got)
	}
}
