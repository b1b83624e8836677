package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wassette/wassette/internal/wasmtest"
)

// Test components (packages, from the module root), built once per test binary by
// TestMain.
var testComponents = map[string]string{
	"echo":      "examples/echo",
	"weather":   "examples/weather",
	"misbehave": "component/runtime/testdata/misbehave",
}

var (
	wasmFiles map[string]string // name -> .wasm path
	testCache string            // compilation cache of the shared runtime

	sharedOnce sync.Once
	sharedRT   *Runtime
	sharedErr  error

	modulesMu sync.Mutex
	modules   = map[string]*Module{}
)

func TestMain(m *testing.M) {
	if wasm := os.Getenv(rssHelperEnv); wasm != "" {
		os.Exit(rssHelper(wasm))
	}
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wassette-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer wasmtest.Cleanup()
	testCache = filepath.Join(dir, "cache")
	if wasmFiles, err = wasmtest.BuildNamed(testComponents); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := warmCache(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if sharedRT != nil {
		sharedRT.Close(context.Background())
	}
	return code
}

// coldCompile is how long each test component took to compile without a cache.
var coldCompile = map[string]time.Duration{}

// warmCache compiles every test component once into testCache, so that the tests'
// Runtimes (and the helper processes) load machine code instead of each compiling
// the same modules again: under the race detector a compilation is the slowest
// thing these tests do.
func warmCache() error {
	ctx := context.Background()
	rt, err := New(ctx, Config{CacheDir: testCache})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for name, path := range wasmFiles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wasm, err := os.ReadFile(path)
			start := time.Now()
			if err == nil {
				_, err = rt.Compile(ctx, wasm)
			}
			mu.Lock()
			defer mu.Unlock()
			coldCompile[name] = time.Since(start)
			if err != nil {
				errs = append(errs, fmt.Errorf("compiling test component %s: %w", name, err))
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func wasmBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(wasmFiles[name])
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
