package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// tool is a benchmarked tool: a module, the tool to call and its arguments.
type tool struct {
	name string // the module's file name, without .wasm
	pkg  string // the Go package it is built from
	tool string
	args json.RawMessage
	want string // a substring of a correct result
}

var tools = []tool{
	{name: "echo", pkg: "github.com/wassette/wassette/examples/echo", tool: "echo",
		args: json.RawMessage(`{"city":"Paris"}`), want: `"Paris"`},
	{name: "textstats", pkg: "./textstats", tool: "textstats",
		args: textstatsArgs(), want: `"distinct":`},
}

// textstatsArgs is a text of about 20 KB for textstats.
func textstatsArgs() json.RawMessage {
	para := "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs! " +
		"How vexingly quick daft zebras jump; Sphinx of black quartz, judge my vow.\n"
	args, _ := json.Marshal(map[string]any{"text": strings.Repeat(para, 120), "top": 5})
	return args
}

// wasmDir holds the modules TestMain builds.
var wasmDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wassette-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wasmDir = dir
	code := 1
	if err := build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build builds every tool's module for WASI preview1 into wasmDir.
func build() error {
	for _, t := range tools {
		cmd := exec.Command("go", "build", "-o", wasmPath(t), t.pkg)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s for wasip1: %v\n%s", t.pkg, err, out)
		}
	}
	return nil
}

func wasmPath(t tool) string { return filepath.Join(wasmDir, t.name+".wasm") }

// BenchmarkCall compares, for each tool and in one run, a warm tool call through
// wassette (Manager.Call of a loaded component: its policy and secrets from the
// stores, the environment merge, a fresh sandboxed instance, the call, the
// redaction of its output), the same call through wassette's runtime package alone
// (a fresh instance, the call), and wasmtime's fresh-instance call of the same
// module (wasmtime-go, the engine of upstream Wassette: a new store with WASI, a new
// instance, _start), each in the same process.
//
// Compare the ratios of one run: the machine's load moves the absolute times.
func BenchmarkCall(b *testing.B) {
	for _, t := range tools {
		b.Run(t.name+"/wassette", func(b *testing.B) { benchManager(b, t) })
		b.Run(t.name+"/runtime", func(b *testing.B) { benchRuntime(b, t) })
		b.Run(t.name+"/wasmtime", func(b *testing.B) { benchWasmtime(b, t) })
	}
}

func benchManager(b *testing.B, t tool) {
	ctx := context.Background()
	root := filepath.Join(b.TempDir(), "data")
	if err := os.Mkdir(root, 0o700); err != nil {
		b.Fatal(err)
	}
	secrets, err := secretstore.Open(filepath.Join(root, "secrets"))
	if err != nil {
		b.Fatal(err)
	}
	policies, err := policy.Open(filepath.Join(root, "components"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := component.Open(ctx, component.Config{
		Dir: filepath.Join(root, "components"), CacheDir: filepath.Join(root, "cache"),
		Secrets: secrets, Policies: policies, Environ: []string{},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(ctx)
	if _, err := m.Load(ctx, wasmPath(t), component.LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	// The stores re-read a file written within the last 2 seconds at every use;
	// a long-lived server's files are older.
	time.Sleep(2100 * time.Millisecond)
	call := func() {
		res, err := m.Call(ctx, t.tool, t.args)
		if err != nil || res.IsError || !strings.Contains(res.Text, t.want) {
			b.Fatalf("Call = %+v, %v", res, err)
		}
	}
	call() // warm up
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

func benchRuntime(b *testing.B, t tool) {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: filepath.Join(b.TempDir(), "cache")})
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(ctx)
	wasm, err := os.ReadFile(wasmPath(t))
	if err != nil {
		b.Fatal(err)
	}
	mod, err := rt.Compile(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	call := func() {
		res, err := mod.Call(ctx, t.tool, t.args, runtime.CallOptions{})
		if err != nil || res.IsError() || !bytes.Contains(res.Output, []byte(t.want)) {
			b.Fatalf("Call = %+v, %v", res, err)
		}
	}
	call()
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

// benchWasmtime runs the tool as wassette runs it (argv [component, tool], the
// arguments on stdin, the JSON result on stdout) in a fresh wasmtime store and
// instance per call, with the same memory limit as wassette's default (256 MiB).
// wasmtime-go's WASI takes stdin and stdout as files: they live in a temporary
// folder, and reading the result back is part of the call.
func benchWasmtime(b *testing.B, t tool) {
	engine := wasmtime.NewEngine()
	defer engine.Close()
	module, err := wasmtime.NewModuleFromFile(engine, wasmPath(t))
	if err != nil {
		b.Fatal(err)
	}
	defer module.Close()
	linker := wasmtime.NewLinker(engine)
	defer linker.Close()
	if err := linker.DefineWasi(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	stdin, stdout, stderr := filepath.Join(dir, "stdin"), filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	if err := os.WriteFile(stdin, t.args, 0o600); err != nil {
		b.Fatal(err)
	}
	call := func() {
		store := wasmtime.NewStore(engine)
		defer store.Close()
		store.Limiter(256<<20, -1, -1, -1, -1)
		wasi := wasmtime.NewWasiConfig()
		wasi.SetArgv([]string{"component", t.tool})
		if err := errors.Join(wasi.SetStdinFile(stdin), wasi.SetStdoutFile(stdout), wasi.SetStderrFile(stderr)); err != nil {
			b.Fatal(err)
		}
		store.SetWasi(wasi)
		inst, err := linker.Instantiate(store, module)
		if err != nil {
			b.Fatal(err)
		}
		_, err = inst.GetFunc(store, "_start").Call(store)
		var exit *wasmtime.Error
		if errors.As(err, &exit) {
			if code, ok := exit.ExitStatus(); ok && code == 0 {
				err = nil
			}
		}
		if err != nil {
			msg, _ := os.ReadFile(stderr)
			b.Fatalf("_start: %v: %s", err, msg)
		}
		out, err := os.ReadFile(stdout)
		if err != nil || !json.Valid(bytes.TrimSpace(out)) || !bytes.Contains(out, []byte(t.want)) {
			b.Fatalf("stdout %q, %v", out, err)
		}
	}
	call()
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}
