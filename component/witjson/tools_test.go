package witjson

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/wassette/wassette/component/cm"
)

func TestTools(t *testing.T) {
	ctx := context.Background()
	h := cm.NewHost()
	nop := func(context.Context, *cm.Instance, []any) (any, error) { return nil, nil }
	h.Interface("test:t1/host", nil).Fallback(nop)
	h.Interface("wasi:cli/environment", nil).Fallback(nop)
	rt := cm.NewRuntime(ctx, cm.Config{Host: h})
	defer rt.Close(ctx)
	wasm, err := os.ReadFile("../cm/testdata/t1.wasm")
	if err != nil {
		t.Fatal(err)
	}
	c, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := Tools(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools) != 2 || tools[0].Name != "greet" || tools[1].Name != "test_t1_shapes_0_1_0_area" {
		t.Fatalf("tools %+v", tools)
	}
	if tools[0].Description != "Calls the component's function greet(name: string) -> string." {
		t.Errorf("description %q", tools[0].Description)
	}
	var in map[string]any
	if err := json.Unmarshal(tools[1].InputSchema, &in); err != nil {
		t.Fatal(err)
	}
	if want := `{"additionalProperties":false,"properties":{"a":{"additionalProperties":false,"properties":{"x":{"maximum":2147483647,"minimum":-2147483648,"type":"integer"},"y":{"maximum":2147483647,"minimum":-2147483648,"type":"integer"}},"required":["x","y"],"type":"object"},"b":{"additionalProperties":false,"properties":{"x":{"maximum":2147483647,"minimum":-2147483648,"type":"integer"},"y":{"maximum":2147483647,"minimum":-2147483648,"type":"integer"}},"required":["x","y"],"type":"object"}},"required":["a","b"],"type":"object"}`; string(tools[1].InputSchema) != want {
		t.Errorf("input schema\n%s\nwant\n%s", tools[1].InputSchema, want)
	}
	if string(tools[1].OutputSchema) != `{"properties":{"result":{"maximum":9223372036854775807,"minimum":-9223372036854775808,"type":"integer"}},"required":["result"],"type":"object"}` {
		t.Errorf("output schema %s", tools[1].OutputSchema)
	}
}
