package cmrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmtest"
)

// corpusPath returns the path of a component of the corpus (testdata/components).
func corpusPath(t testing.TB, name string) string { return cmtest.Path(t, name) }

var (
	rtOnce sync.Once
	shared *Runtime
	rtErr  error
	mods   sync.Map // name -> *Module
)

// module compiles a corpus component once per test binary, from the corpus's
// compilation cache (shared by the test binaries that compile its components,
// so that each is compiled once per corpus).
func module(t testing.TB, name string) *Module {
	t.Helper()
	m, err := compileCorpus(corpusPath(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func compileCorpus(path string) (*Module, error) {
	rtOnce.Do(func() {
		shared, rtErr = New(context.Background(), Config{CacheDir: filepath.Join(filepath.Dir(path), ".wazero-cache")})
	})
	if rtErr != nil {
		return nil, rtErr
	}
	if m, ok := mods.Load(path); ok {
		return m.(*Module), nil
	}
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := shared.Compile(context.Background(), wasm)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", filepath.Base(path), err)
	}
	if prev, loaded := mods.LoadOrStore(path, m); loaded {
		m.Close(context.Background())
		return prev.(*Module), nil
	}
	return m, nil
}

func TestEnvironmentAndConfigStore(t *testing.T) {
	m := module(t, "js-env")
	ctx := context.Background()
	opts := runtime.CallOptions{ComponentID: "env", Env: []string{"API_KEY=sk-canary-1234567890", "REGION=eu"}}
	for _, tool := range []string{"get-env", "get-config"} {
		r, err := m.Call(ctx, tool, json.RawMessage(`{"key":"API_KEY"}`), opts)
		if err != nil || r.IsError || r.Text != "sk-canary-1234567890" || string(r.Structured) != `{"result":"sk-canary-1234567890"}` {
			t.Fatalf("%s: %+v %v", tool, r, err)
		}
		r, err = m.Call(ctx, tool, json.RawMessage(`{"key":"HOME"}`), opts)
		if err != nil || r.Text != "null" {
			t.Fatalf("%s of a host variable: %+v %v", tool, r, err)
		}
	}
	for _, tool := range []string{"list-env", "list-config"} {
		r, err := m.Call(ctx, tool, nil, opts)
		if err != nil || r.Text != `[["API_KEY","sk-canary-1234567890"],["REGION","eu"]]` {
			t.Fatalf("%s: %+v %v", tool, r, err)
		}
	}
	// Rotation: the next call sees the new value.
	opts.Env[0] = "API_KEY=rotated"
	if r, err := m.Call(ctx, "get-config", json.RawMessage(`{"key":"API_KEY"}`), opts); err != nil || r.Text != "rotated" {
		t.Fatalf("after rotation: %+v %v", r, err)
	}
}

func TestBadArguments(t *testing.T) {
	m := module(t, "js-kinds")
	r, err := m.Call(context.Background(), "add-u8", json.RawMessage(`{"a":1,"b":256}`), runtime.CallOptions{})
	if err != nil || !r.IsError || !strings.Contains(r.Text, "b: u8 out of range [0, 255]") {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = m.Call(context.Background(), "area", json.RawMessage(`{"s":{"tag":"rect","val":{"x":1}}}`), runtime.CallOptions{})
	if err != nil || !r.IsError || !strings.Contains(r.Text, "s.val.y: missing") {
		t.Fatalf("%+v %v", r, err)
	}
	r, err = m.Call(context.Background(), "checked-div", json.RawMessage(`{"a":1,"b":0}`), runtime.CallOptions{})
	if err != nil || !r.IsError || r.Structured != nil {
		t.Fatalf("err result: %+v %v", r, err)
	}
	r, err = m.Call(context.Background(), "checked-div", json.RawMessage(`{"a":7,"b":2}`), runtime.CallOptions{})
	if err != nil || r.IsError || string(r.Structured) != `{"result":{"ok":3}}` {
		t.Fatalf("ok result: %+v %v", r, err)
	}
}

func TestLimits(t *testing.T) {
	m := module(t, "js-limits")
	ctx := context.Background()
	cases := []struct {
		tool string
		lim  runtime.Limits
		want error
	}{
		{"spin", runtime.Limits{Timeout: 2 * time.Second}, runtime.ErrTimeout},
		// A generous time limit: memory must be what stops it, on a busy machine too.
		{"hog", runtime.Limits{MemoryBytes: 64 << 20, Timeout: 5 * time.Minute}, runtime.ErrMemoryLimit},
		{"flood", runtime.Limits{OutputBytes: 64 << 10}, runtime.ErrOutputLimit},
	}
	for _, c := range cases {
		_, err := m.Call(ctx, c.tool, nil, runtime.CallOptions{Limits: c.lim})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.tool, err, c.want)
		}
		r, err := m.Call(ctx, "ping", nil, runtime.CallOptions{})
		if err != nil || r.Text != "pong" {
			t.Fatalf("ping after %s: %+v %v", c.tool, r, err)
		}
	}
	if _, err := m.Call(ctx, "ping", nil, runtime.CallOptions{Limits: runtime.Limits{MemoryBytes: 1 << 20}}); !errors.Is(err, runtime.ErrMemoryLimit) {
		t.Errorf("a limit below the initial memory: %v", err)
	}
}

// Concurrent calls each see their own environment.
func TestConcurrentCallsAreIsolated(t *testing.T) {
	m := module(t, "js-env")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "value-" + string(rune('a'+i))
			r, err := m.Call(context.Background(), "get-config", json.RawMessage(`{"key":"K"}`), runtime.CallOptions{Env: []string{"K=" + key}})
			if err != nil || r.Text != key {
				errs <- errors.New("call " + key + " saw " + r.Text)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMissingImportsAreListed(t *testing.T) {
	r, err := New(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	wasm, err := os.ReadFile("../cm/testdata/t1.wasm")
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Compile(context.Background(), wasm)
	if err == nil || !strings.Contains(err.Error(), "does not provide: test:t1/host@0.1.0#get, test:t1/host@0.1.0#log") {
		t.Fatalf("Compile: %v", err)
	}
}
