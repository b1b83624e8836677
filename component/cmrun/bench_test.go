package cmrun

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/wassette/wassette/component/runtime"
)

// BenchmarkCall measures a tool call of the JS env component: a fresh
// instance, the call through both WASI interfaces' host, the JSON both ways.
func BenchmarkCall(b *testing.B) {
	m := module(b, "js-env")
	ctx := context.Background()
	opts := runtime.CallOptions{Env: []string{"API_KEY=sk-1234567890", "REGION=eu"}}
	args := json.RawMessage(`{"key":"API_KEY"}`)
	b.ReportAllocs()
	for b.Loop() {
		if r, err := m.Call(ctx, "get-config", args, opts); err != nil || r.Text != "sk-1234567890" {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkCompile compiles the JS env component with a fresh disk cache
// ("cold", what a first load costs) and from a warm one ("cache", what a
// restart costs). Run it with -benchtime 1x: a cold compile takes seconds.
func BenchmarkCompile(b *testing.B) {
	wasm, err := os.ReadFile(corpusPath(b, "js-env"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	dir := b.TempDir()
	compile := func(b *testing.B, cacheDir string) {
		r, err := New(ctx, Config{CacheDir: cacheDir})
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close(ctx)
		m, err := r.Compile(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		m.Close(ctx)
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			fresh, err := os.MkdirTemp(dir, "cold-")
			if err != nil {
				b.Fatal(err)
			}
			compile(b, fresh)
		}
	})
	warm := filepath.Join(dir, "warm")
	compile(b, warm)
	b.Run("cache", func(b *testing.B) {
		for b.Loop() {
			compile(b, warm)
		}
	})
}
