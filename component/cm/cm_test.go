package cm

import (
	"context"
	"os"
	"testing"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestT1(t *testing.T) {
	ctx := context.Background()
	var logged []string
	h := NewHost()
	h.Interface("test:t1/host", nil).
		Func("log", func(ctx context.Context, in *Instance, args []any) (any, error) {
			logged = append(logged, args[0].(string))
			return nil, nil
		}).
		Func("get", func(ctx context.Context, in *Instance, args []any) (any, error) {
			return Some("v:" + args[0].(string)), nil
		})
	h.Interface("wasi:cli/environment", SemverCompatible(0, 2)).
		Func("get-environment", func(ctx context.Context, in *Instance, args []any) (any, error) {
			return []any{[]any{"A", "1"}}, nil
		})
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	c, err := rt.Compile(ctx, readTestdata(t, "t1.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Exports() {
		t.Logf("export %q %q %s", e.Interface, e.Name, e.Type)
	}
	in, err := c.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	greet, _ := c.Export("", "greet")
	res, err := in.Call(ctx, greet, "héllo")
	if err != nil {
		t.Fatal(err)
	}
	if res != "héllo" || len(logged) != 1 || logged[0] != "héllo" {
		t.Fatalf("greet = %v, logged %q", res, logged)
	}
	area, _ := c.Export("test:t1/shapes@0.1.0", "area")
	res, err = in.Call(ctx, area, []any{int32(1), int32(2)}, []any{int32(4), int32(-3)})
	if err != nil {
		t.Fatal(err)
	}
	if res != int64(-15) {
		t.Fatalf("area = %v", res)
	}
}

type counter struct{ n uint32 }

func TestResources(t *testing.T) {
	ctx := context.Background()
	var dropped []uint32
	h := NewHost()
	h.Interface("test:r/host", Versions("0.1.0")).
		Resource("counter", func(in *Instance, v any) { dropped = append(dropped, v.(*counter).n) }).
		Func("[constructor]counter", func(ctx context.Context, in *Instance, args []any) (any, error) {
			return &counter{n: args[0].(uint32)}, nil
		}).
		Func("[method]counter.next", func(ctx context.Context, in *Instance, args []any) (any, error) {
			c := args[0].(*counter)
			c.n++
			return c.n, nil
		}).
		Func("make", func(ctx context.Context, in *Instance, args []any) (any, error) {
			return &counter{n: 1000 + args[0].(uint32)}, nil
		})
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	c, err := rt.Compile(ctx, readTestdata(t, "t2.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const iface = "test:r/api@0.1.0"
	call := func(name string, args ...any) any {
		t.Helper()
		e, ok := c.Export(iface, name)
		if !ok {
			t.Fatalf("no export %s", name)
		}
		res, err := in.Call(ctx, e, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res
	}
	if got := call("use-counter", uint32(10)); got != uint32(23) {
		t.Fatalf("use-counter = %v, want 23", got)
	}
	if len(dropped) != 1 || dropped[0] != 12 {
		t.Fatalf("dropped %v, want [12] (the counter the component dropped)", dropped)
	}
	acc := call("[constructor]acc", uint32(5))
	hd, ok := acc.(Handle)
	if !ok || hd.Type.Name != "acc" {
		t.Fatalf("constructor returned %#v", acc)
	}
	call("[method]acc.add", acc, uint32(7))
	if got := call("[method]acc.total", acc); got != uint32(12) {
		t.Fatalf("total = %v", got)
	}
	// The leaked counter from make is released when the instance closes.
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 2 || dropped[1] != 1010 {
		t.Fatalf("dropped %v after Close, want the leaked counter too", dropped)
	}
	for _, e := range c.Exports() {
		if want := e.Name != "drop-log"; e.Type.HasResources() != want && e.Name != "use-counter" {
			t.Errorf("%s: HasResources = %v", e.Name, e.Type.HasResources())
		}
	}
}

func readFile(name string) ([]byte, error) { return os.ReadFile(name) }

func TestHandleTableIsBounded(t *testing.T) {
	var tbl handleTable
	rt := &ResourceType{Name: "r", local: true}
	for i := 0; i < maxHandles; i++ {
		if _, err := tbl.add(handle{rt: rt, own: true}); err != nil {
			t.Fatalf("handle %d: %v", i, err)
		}
	}
	if _, err := tbl.add(handle{rt: rt, own: true}); err == nil {
		t.Fatal("the table grew past its bound")
	}
	if _, err := tbl.remove(7, rt); err != nil {
		t.Fatal(err)
	}
	if h, err := tbl.add(handle{rt: rt, own: true}); err != nil || h != 7 {
		t.Fatalf("a freed slot is reused: %d %v", h, err)
	}
}
