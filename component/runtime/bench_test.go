package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

var benchEnv = []string{"API_KEY=k", "ENDPOINT_URL=http://127.0.0.1:1"}

var benchArgs = json.RawMessage(`{"city":"Paris"}`)

// BenchmarkCallWarm is a tool call through Module.Call on a compiled module:
// sandbox set-up, a fresh instance, the Go runtime start of the guest, the
// call and the output checks.
func BenchmarkCallWarm(b *testing.B) {
	m := module(b, "echo")
	ctx := context.Background()
	opts := CallOptions{ComponentID: "bench", Env: benchEnv}
	b.ReportAllocs()
	for b.Loop() {
		res, err := m.Call(ctx, "echo", benchArgs, opts)
		if err != nil || res.IsError() {
			b.Fatal(err, res.Stderr)
		}
	}
}

// BenchmarkBareWazero is the baseline for BenchmarkCallWarm: the same module
// and call with bare wazero (default runtime configuration, WASI, a new
// anonymous instance per call).
func BenchmarkBareWazero(b *testing.B) {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	compiled, err := r.CompileModule(ctx, wasmBytes(b, "echo"))
	if err != nil {
		b.Fatal(err)
	}
	base := wazero.NewModuleConfig()
	for _, kv := range benchEnv {
		k, v, _ := bytes.Cut([]byte(kv), []byte("="))
		base = base.WithEnv(string(k), string(v))
	}
	b.ReportAllocs()
	for b.Loop() {
		var stdout, stderr bytes.Buffer
		cfg := base.WithName("").WithArgs(argv0, "echo").
			WithStdin(bytes.NewReader(benchArgs)).WithStdout(&stdout).WithStderr(&stderr)
		mod, err := r.InstantiateModule(ctx, compiled, cfg)
		if err != nil {
			b.Fatal(err, stderr.String())
		}
		if mod != nil {
			mod.Close(ctx)
		}
		if !json.Valid(stdout.Bytes()) {
			b.Fatalf("stdout %q", stdout.Bytes())
		}
	}
}

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
