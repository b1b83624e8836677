package runtime

import (
	"context"
	"testing"
)

// The warm-call benchmark and its bare-wazero baseline live in package component,
// which measures a call through wassette as a user gets it (policy, secrets, env merge).

// BenchmarkCompile compares compiling a module in a new Runtime (as after a
// restart) without a compilation cache and with a populated on-disk cache.
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	wasm := wasmBytes(b, "echo")
	compile := func(b *testing.B, cfg Config) {
		rt, err := New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer rt.Close(ctx)
		if _, err := rt.Compile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("no-cache", func(b *testing.B) {
		for b.Loop() {
			compile(b, Config{})
		}
	})
	b.Run("disk-cache", func(b *testing.B) {
		cfg := Config{CacheDir: b.TempDir()}
		compile(b, cfg) // populate
		for b.Loop() {
			compile(b, cfg)
		}
	})
}
