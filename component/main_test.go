package component_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/wasmtest"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// testComponents are the modules the tests load (packages, from the module root),
// built once per test binary by TestMain.
var testComponents = map[string]string{
	"echo":      "examples/echo",
	"weather":   "examples/weather",
	"misbehave": "component/runtime/testdata/misbehave",
	"envtwin":   "component/testdata/envtwin",
	"needskey":  "component/testdata/needskey",
}

var (
	wasmFiles map[string]string // name -> .wasm path
	testCache string            // compilation cache shared by the tests' Managers
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wassette-component-test-")
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
	return m.Run()
}

// warmCache compiles every test module once into testCache, so that the tests'
// Managers load machine code instead of each compiling the same modules again.
func warmCache() error {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: testCache})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(testComponents))
	for name := range testComponents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wasm, err := os.ReadFile(wasmPath(name))
			if err == nil {
				_, err = rt.Compile(ctx, wasm)
			}
			if err != nil {
				errs <- fmt.Errorf("compiling test component %s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// wasmPath is the file of test component name.
func wasmPath(name string) string { return wasmFiles[name] }

func wasmBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(wasmPath(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// testEnviron is the host environment the tests' Managers see, unless a test
// sets its own: a mix of ordinary and sensitive-looking variables, none of which
// may reach a component that does not name it in its policy.
var testEnviron = []string{
	"PATH=/usr/bin:/bin",
	"HOME=/home/tester",
	"HOST_ALLOWED=from-host-value",
	"HOST_DENIED=must-not-leak",
	"SHARED=from-host",
	"AWS_SECRET_ACCESS_KEY=host-aws-secret-value",
}

// fixture is one data folder (components, secrets, policies) and a Manager over it.
type fixture struct {
	root     string
	dir      string // components
	secDir   string
	polDir   string
	cacheDir string
	secrets  *secretstore.Store
	policies *policy.Store
	logs     *syncBuffer
	m        *component.Manager
	cfg      component.Config
}

// newFixture makes fresh folders, stores and a Manager (closed at cleanup);
// change adjusts its Config before Open.
func newFixture(t testing.TB, change func(*component.Config)) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data") // t.TempDir is 0755; the stores want 0700
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		root:     root,
		dir:      filepath.Join(root, "components"),
		secDir:   filepath.Join(root, "secrets"),
		polDir:   filepath.Join(root, "components"),
		cacheDir: testCache,
		logs:     &syncBuffer{},
	}
	var err error
	if f.secrets, err = secretstore.Open(f.secDir); err != nil {
		t.Fatal(err)
	}
	if f.policies, err = policy.Open(f.polDir); err != nil {
		t.Fatal(err)
	}
	f.cfg = component.Config{
		Dir:      f.dir,
		CacheDir: f.cacheDir,
		Secrets:  f.secrets,
		Policies: f.policies,
		Environ:  slices.Clone(testEnviron),
		Logger:   slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if change != nil {
		change(&f.cfg)
	}
	f.m = f.open(t, f.cfg)
	return f
}

// open opens another Manager with cfg, closed at cleanup.
func (f *fixture) open(t testing.TB, cfg component.Config) *component.Manager {
	t.Helper()
	m, err := component.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

// load loads test component name under id (empty: derived from the file name).
func (f *fixture) load(t testing.TB, name, id string) component.Info {
	t.Helper()
	info, err := f.m.Load(context.Background(), wasmPath(name), component.LoadOptions{ID: id})
	if err != nil {
		t.Fatalf("Load(%s as %q): %v", name, id, err)
	}
	return info
}

// setSecrets stores secrets for component id.
func (f *fixture) setSecrets(t testing.TB, id string, kv map[string]string) {
	t.Helper()
	setSecrets(t, f.secrets, id, kv)
}

func setSecrets(t testing.TB, s *secretstore.Store, id string, kv map[string]string) {
	t.Helper()
	vals := make(map[string]secretstore.Value, len(kv))
	for k, v := range kv {
		vals[k] = secretstore.NewValue(v)
	}
	if err := s.Set(id, vals); err != nil {
		t.Fatalf("set secrets of %s: %v", id, err)
	}
}

// updatePolicy changes the policy of component id through the store.
func (f *fixture) updatePolicy(t testing.TB, id string, change func(*policy.Policy) error) {
	t.Helper()
	if err := f.policies.Update(id, change); err != nil {
		t.Fatalf("update the policy of %s: %v", id, err)
	}
}

func ptr(s string) *string { return &s }

// call runs tool and fails the test on an error from Call.
func call(t testing.TB, m *component.Manager, tool, args string) component.Result {
	t.Helper()
	res, err := m.Call(context.Background(), tool, json.RawMessage(args))
	if err != nil {
		t.Fatalf("Call(%s): %v", tool, err)
	}
	return res
}

// callOK runs a tool that must succeed and decodes its output into v (if not nil).
func callOK(t testing.TB, m *component.Manager, tool, args string, v any) component.Result {
	t.Helper()
	res := call(t, m, tool, args)
	if res.IsError {
		t.Fatalf("Call(%s): tool failed: %s", tool, res.Text)
	}
	if res.Output == nil {
		t.Fatalf("Call(%s): no Output; Text = %s", tool, res.Text)
	}
	if v != nil {
		if err := json.Unmarshal(res.Output, v); err != nil {
			t.Fatalf("Call(%s): output %s: %v", tool, res.Output, err)
		}
	}
	return res
}

// callFails runs a tool that must fail (a tool error, not a call error) and
// returns its message.
func callFails(t testing.TB, m *component.Manager, tool, args string) string {
	t.Helper()
	res := call(t, m, tool, args)
	if !res.IsError {
		t.Fatalf("Call(%s) succeeded with %s, want a tool error", tool, res.Text)
	}
	if res.Output != nil {
		t.Errorf("Call(%s) failed but has Output %s", tool, res.Output)
	}
	return res.Text
}

// envOutput is what the env tools of echo and envtwin return.
type envOutput struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
}

// callEnv runs an env tool and returns its argv and environment as a map.
func callEnv(t testing.TB, m *component.Manager, tool string) ([]string, map[string]string) {
	t.Helper()
	var out envOutput
	callOK(t, m, tool, "", &out)
	return out.Argv, envMap(t, out.Env)
}

func envMap(t testing.TB, env []string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Errorf("environment entry %q has no '='", kv)
			continue
		}
		if _, dup := out[k]; dup {
			t.Errorf("environment has %s twice", k)
		}
		out[k] = v
	}
	return out
}

// wantEnv checks that got is exactly want.
func wantEnv(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s is missing, want %q", what, k, v)
		} else if g != v {
			t.Errorf("%s: %s = %q, want %q", what, k, g, v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected variable %s = %q", what, k, v)
		}
	}
}

// toolNames returns the names of m's tools, in order, as "component/tool".
func toolNames(m *component.Manager) []string {
	var out []string
	for _, t := range m.Tools() {
		out = append(out, t.ComponentID+"/"+t.Name)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writes, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
