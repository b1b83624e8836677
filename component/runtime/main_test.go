package runtime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Test components, built once per test binary by TestMain.
var testComponents = map[string]string{
	"echo":      "../../examples/echo",
	"weather":   "../../examples/weather",
	"misbehave": "./testdata/misbehave",
}

var (
	testWasmDir string // holds <name>.wasm
	testCache   string // compilation cache of the shared runtime

	sharedOnce sync.Once
	sharedRT   *Runtime
	sharedErr  error

	modulesMu sync.Mutex
	modules   = map[string]*Module{}
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wassette-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	testWasmDir = filepath.Join(dir, "wasm")
	testCache = filepath.Join(dir, "cache")
	for name, pkg := range testComponents {
		cmd := exec.Command("go", "build", "-o", filepath.Join(testWasmDir, name+".wasm"), pkg)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building test component %s: %v\n%s", pkg, err, out)
			return 1
		}
	}
	code := m.Run()
	if sharedRT != nil {
		sharedRT.Close(context.Background())
	}
	return code
}

func wasmBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testWasmDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sharedRuntime is one Runtime for all tests, so that each module is
// compiled once.
func sharedRuntime(t testing.TB) *Runtime {
	t.Helper()
	sharedOnce.Do(func() {
		sharedRT, sharedErr = New(context.Background(), Config{CacheDir: testCache})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedRT
}

// module returns the compiled test component name, compiling it on first use.
func module(t testing.TB, name string) *Module {
	t.Helper()
	rt := sharedRuntime(t)
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m, ok := modules[name]; ok {
		return m
	}
	m, err := rt.Compile(context.Background(), wasmBytes(t, name))
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	modules[name] = m
	return m
}
