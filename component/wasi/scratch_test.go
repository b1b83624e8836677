package wasi

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/component/witjson"
)

func TestScratchJSEnv(t *testing.T) {
	path := os.Getenv("CM_SCRATCH")
	if path == "" {
		t.Skip("CM_SCRATCH not set")
	}
	ctx := context.Background()
	h := cm.NewHost()
	Register(h)
	cache, _ := wazero.NewCompilationCacheWithDir("/tmp/cmscratch/wzcache")
	rt := cm.NewRuntime(ctx, cm.Config{Host: h, Cache: cache})
	defer rt.Close(ctx)
	wasm, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := rt.Compile(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compiled in %v", time.Since(start))
	tools, err := witjson.Tools(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools {
		t.Logf("tool %s: %s", tl.Name, tl.Description)
	}
	for i := 0; i < 3; i++ {
		start = time.Now()
		var out bytes.Buffer
		wc := NewCtx(Config{Env: [][2]string{{"API_KEY", "k1"}, {"B", "2"}}, Stdout: &out, Stderr: &out})
		in, err := c.Instantiate(ctx, wc)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("instantiated in %v", time.Since(start))
		for _, tl := range tools {
			args, err := witjson.Args(tl.Export.Type, []byte(`{"key":"API_KEY"}`))
			if err != nil {
				args, _ = witjson.Args(tl.Export.Type, []byte(`{}`))
			}
			res, err := in.Call(ctx, tl.Export, args...)
			if err != nil {
				t.Fatalf("%s: %v", tl.Name, err)
			}
			r, err := witjson.ToolResult(tl.Export.Type, res)
			t.Logf("%s -> %s %v (%s)", tl.Name, r.Structured, err, out.String())
			break
		}
		in.Close(ctx)
		t.Logf("call in %v", time.Since(start))
	}
}
