package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hand-assembled core modules.
var (
	// wasmStartOnly exports a _start that does nothing.
	wasmStartOnly = []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
		"\x03\x02\x01\x00" + // function section: one function of type 0
		"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start = func 0
		"\x0a\x04\x01\x02\x00\x0b") // code section: empty body
	// wasmImportsEnv imports env.f and exports _start.
	wasmImportsEnv = []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" +
		"\x02\x09\x01\x03env\x01f\x00\x00" + // import section: env.f
		"\x03\x02\x01\x00" +
		"\x07\x0a\x01\x06_start\x00\x01" + // _start = func 1 (0 is the import)
		"\x0a\x04\x01\x02\x00\x0b")
	// wasmNoStart is an empty module (a library, not a command).
	wasmNoStart = []byte("\x00asm\x01\x00\x00\x00")
)

func TestCompileRefusesBadBinaries(t *testing.T) {
	t.Parallel()
	rt := sharedRuntime(t)
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"component model", []byte("\x00asm\x0d\x00\x01\x00\x07\x10"), "GOOS=wasip1 GOARCH=wasm"},
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "not a WebAssembly binary"},
		{"empty", nil, "not a WebAssembly binary"},
		{"unknown version", []byte("\x00asm\x02\x00\x00\x00"), "unsupported WebAssembly binary"},
		{"truncated", []byte("\x00asm\x01\x00\x00\x00\x01\x04"), "compile WebAssembly module"},
		{"library", wasmNoStart, "no _start"},
		{"foreign import", wasmImportsEnv, "env.f"},
	}
	for _, tt := range tests {
		m, err := rt.Compile(context.Background(), tt.wasm)
		if err == nil {
			m.Close(context.Background())
			t.Errorf("%s: Compile succeeded", tt.name)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error = %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	_, err := rt.Compile(context.Background(), []byte("\x00asm\x0d\x00\x01\x00"))
	if !errors.Is(err, ErrComponentModel) || !strings.Contains(err.Error(), "no Go runtime can run them") {
		t.Errorf("component model: error = %v, want ErrComponentModel", err)
	}
}

// TestCompilationCacheReload checks that a new Runtime using the same cache
// directory (as after a restart) loads the machine code instead of
// recompiling: TestMain compiled the test components into testCache, and
// compiling one again adds nothing to it. It logs the speed-up. Not parallel:
// other tests add modules to testCache.
func TestCompilationCacheReload(t *testing.T) {
	ctx := context.Background()
	before := cacheFiles(t)
	if before == 0 {
		t.Fatal("the cache directory is empty after TestMain's compilations")
	}
	rt, err := New(ctx, Config{CacheDir: testCache})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	start := time.Now()
	m, err := rt.Compile(ctx, wasmBytes(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	var out envOutput
	callOK(t, m, "env", "", CallOptions{Env: []string{"A=b"}}, &out)
	if after := cacheFiles(t); after != before {
		t.Errorf("compiling a cached module again wrote to the cache: %d files, then %d", before, after)
	}
	cold := coldCompile["echo"]
	t.Logf("compile without cache: %v, from the on-disk cache: %v (%.1fx faster)", cold, warm, float64(cold)/float64(warm))
}

// cacheFiles counts the files in testCache.
func cacheFiles(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(testCache, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt, err := New(ctx, Config{CacheDir: testCache, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Compile(ctx, wasmBytes(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Call(ctx, "env", json.RawMessage(`{"arg":"ARGSECRET"}`), CallOptions{ComponentID: "c1", Env: []string{"TOKEN=ENVSECRET"}})
	if err != nil || !strings.Contains(string(res.Output), "ENVSECRET") {
		t.Fatalf("Call: %s, %v", res.Output, err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "component call") {
		t.Errorf("no call was logged: %q", logs)
	}
	for _, secret := range []string{"ENVSECRET", "TOKEN", "ARGSECRET"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain %q: %s", secret, logs)
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestParseTools(t *testing.T) {
	t.Parallel()
	good := `{"tools":[{"name":"a-b_C9","description":"d","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}}}]}`
	tools, err := ParseTools([]byte(good))
	if err != nil || len(tools) != 1 || tools[0].Name != "a-b_C9" {
		t.Fatalf("ParseTools(good) = %v, %v", tools, err)
	}
	long := strings.Repeat("x", 65)
	bad := map[string]string{
		"not json":            `{"tools":`,
		"not an object":       `[]`,
		"trailing data":       good + `{}`,
		"trailing brace":      good + `}`,
		"no tools":            `{}`,
		"empty tools":         `{"tools":[]}`,
		"unknown field":       `{"tools":[{"name":"a","description":"d","inputSchema":{"type":"object"},"input_schema":{}}]}`,
		"unknown top field":   `{"tools":[{"name":"a","description":"d","inputSchema":{"type":"object"}}],"x":1}`,
		"empty name":          `{"tools":[{"name":"","description":"d","inputSchema":{"type":"object"}}]}`,
		"bad name":            `{"tools":[{"name":"a.b","description":"d","inputSchema":{"type":"object"}}]}`,
		"long name":           `{"tools":[{"name":"` + long + `","description":"d","inputSchema":{"type":"object"}}]}`,
		"dash name":           `{"tools":[{"name":"-x","description":"d","inputSchema":{"type":"object"}}]}`,
		"duplicate":           `{"tools":[{"name":"a","description":"d","inputSchema":{"type":"object"}},{"name":"a","description":"d","inputSchema":{"type":"object"}}]}`,
		"no description":      `{"tools":[{"name":"a","inputSchema":{"type":"object"}}]}`,
		"no schema":           `{"tools":[{"name":"a","description":"d"}]}`,
		"schema not object":   `{"tools":[{"name":"a","description":"d","inputSchema":"object"}]}`,
		"schema null":         `{"tools":[{"name":"a","description":"d","inputSchema":null}]}`,
		"schema wrong type":   `{"tools":[{"name":"a","description":"d","inputSchema":{"type":"string"}}]}`,
		"schema no type":      `{"tools":[{"name":"a","description":"d","inputSchema":{}}]}`,
		"schema bad props":    `{"tools":[{"name":"a","description":"d","inputSchema":{"type":"object","properties":[]}}]}`,
		"tool not an object":  `{"tools":["a"]}`,
		"name not a string":   `{"tools":[{"name":1,"description":"d","inputSchema":{"type":"object"}}]}`,
		"tools not an array":  `{"tools":{}}`,
		"too many tools":      `{"tools":[` + strings.Repeat(`{},`, maxTools) + `{}]}`,
		"whitespace in name":  `{"tools":[{"name":"a b","description":"d","inputSchema":{"type":"object"}}]}`,
		"unicode in name":     `{"tools":[{"name":"é","description":"d","inputSchema":{"type":"object"}}]}`,
		"describe flag name":  `{"tools":[{"name":"--wassette-describe","description":"d","inputSchema":{"type":"object"}}]}`,
		"null tools":          `{"tools":null}`,
		"tools null element":  `{"tools":[null]}`,
		"description not str": `{"tools":[{"name":"a","description":3,"inputSchema":{"type":"object"}}]}`,
	}
	for name, doc := range bad {
		if _, err := ParseTools([]byte(doc)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: error = %v, want ErrProtocol", name, err)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[uint64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB",
		64 << 10: "64 KiB", 1 << 20: "1 MiB", 2686976: "2.6 MiB", 4 << 30: "4 GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
