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
