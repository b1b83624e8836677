package component_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcr "github.com/google/go-containerregistry/pkg/registry"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/loader"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/cmtest"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// corpus returns the path of a component of the WASI 0.2 test corpus.
func corpus(t testing.TB, name string) string { return cmtest.Path(t, name) }

// corpusCache is the compilation cache of the corpus, shared by the test binaries
// that compile its components, so that each is compiled once.
func corpusCache(t testing.TB) func(*component.Config) {
	dir := filepath.Join(filepath.Dir(corpus(t, "js-env")), ".wazero-cache")
	return func(c *component.Config) { c.CacheDir = dir }
}

func loadCorpus(t testing.TB, f *fixture, name string) component.Info {
	t.Helper()
	info, err := f.m.Load(context.Background(), corpus(t, name), component.LoadOptions{Approve: true}) // as a person loads it
	if err != nil {
		t.Fatalf("Load(%s): %v", name, err)
	}
	return info
}

// A WASI 0.2 component gets its environment through both wasi:cli/environment and
// wasi:config/store, with the precedence of envmerge, nothing else of the host, and
// the value set at the time of each call.
func TestComponentSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, corpusCache(t))
	m := f.m
	info := loadCorpus(t, f, "js-env")
	if info.ID != "js-env" || len(info.Tools) != 4 {
		t.Fatalf("Load = %+v", info)
	}
	for _, tool := range m.Tools() {
		if tool.ComponentID == "js-env" && !strings.Contains(string(tool.OutputSchema), `"result"`) {
			t.Errorf("%s: output schema %s", tool.Name, tool.OutputSchema)
		}
	}
	get := func(tool, key string) string {
		t.Helper()
		res := call(t, m, tool, `{"key":"`+key+`"}`)
		if res.IsError || !res.Structured {
			t.Fatalf("%s(%s): %+v", tool, key, res)
		}
		return res.Text
	}
	for _, tool := range []string{"get-env", "get-config"} {
		if got := get(tool, "HOST_DENIED"); got != "null" {
			t.Errorf("%s: a host variable reached the component: %s", tool, got)
		}
	}
	f.setSecrets(t, "js-env", map[string]string{"SHORT": "s-v1", "SHARED": "sec-sh", "API_KEY": "sk-canary-0123456789"})
	f.updatePolicy(t, "js-env", func(p *policy.Policy) error {
		return errors.Join(p.GrantEnvironment("SHARED", ptr("pol-sh")), p.GrantEnvironment("HOST_ALLOWED", nil))
	})
	want := map[string]string{"SHORT": "s-v1", "SHARED": "pol-sh", "HOST_ALLOWED": "host-ok", "HOST_DENIED": "null"}
	for _, tool := range []string{"get-env", "get-config"} {
		for k, v := range want {
			if got := get(tool, k); got != v {
				t.Errorf("%s(%s) = %s, want %s", tool, k, got, v)
			}
		}
		// The component gets the secret; what comes back is redacted.
		if got := get(tool, "API_KEY"); got != secretstore.Redacted {
			t.Errorf("%s(API_KEY) = %s, want it redacted", tool, got)
		}
	}
	for _, tool := range []string{"list-env", "list-config"} {
		res := call(t, m, tool, `{}`)
		var pairs [][2]string
		if err := json.Unmarshal([]byte(res.Text), &pairs); err != nil {
			t.Fatalf("%s: %s", tool, res.Text)
		}
		got := map[string]string{}
		for _, p := range pairs {
			got[p[0]] = p[1]
		}
		wantAll := map[string]string{"SHORT": "s-v1", "SHARED": "pol-sh", "HOST_ALLOWED": "host-ok", "API_KEY": secretstore.Redacted}
		if len(got) != len(wantAll) {
			t.Errorf("%s: %s, want exactly %v", tool, res.Text, wantAll)
		}
		for k, v := range wantAll {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tool, k, got[k], v)
			}
		}
	}
	// Rotation from another store (the CLI) is seen by the next call.
	cli, err := secretstore.Open(f.secDir)
	if err != nil {
		t.Fatal(err)
	}
	setSecrets(t, cli, "js-env", map[string]string{"SHORT": "s-v2"})
	for _, tool := range []string{"get-env", "get-config"} {
		if got := get(tool, "SHORT"); got != "s-v2" {
			t.Errorf("%s after rotation: %s", tool, got)
		}
	}
	// Bad arguments are a tool error naming the argument.
	if msg := callFails(t, m, "get-env", `{"key":5}`); !strings.Contains(msg, "key: expected a string") {
		t.Errorf("bad argument: %s", msg)
	}
}

// The storage grants of a WASI 0.2 component's policy are its wasi:filesystem
// preopens, at their own paths, on the confined file layer: what a grant allows
// works, the rest is refused (component/cmrun tests every escape).
func TestComponentStorageGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, corpusCache(t))
	m := f.m
	loadCorpus(t, f, "fs-list")
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rw, ro, outside := filepath.Join(base, "rw"), filepath.Join(base, "ro"), filepath.Join(base, "outside")
	for _, d := range []string{rw, ro, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const canary = "OUTSIDE-CANARY-52f0"
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "r.txt"), []byte("read me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../outside/secret.txt", filepath.Join(ro, "out")); err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	if res := call(t, m, "preopens", `{}`); res.Text != "[]" {
		t.Errorf("preopens without grants = %s", res.Text)
	}
	f.updatePolicy(t, "fs-list", func(p *policy.Policy) error {
		return errors.Join(p.GrantStorage("fs://"+rw, policy.Read, policy.Write), p.GrantStorage("fs://"+ro, policy.Read))
	})
	for _, c := range []struct{ tool, args, want string }{
		{"preopens", `{}`, `[` + q(rw) + `,` + q(ro) + `]`},
		{"write-file", `{"dir":` + q(rw) + `,"path":"new.txt","contents":"hi"}`, `{"ok":null}`},
		{"read-file", `{"dir":` + q(rw) + `,"path":"new.txt"}`, `{"ok":"hi"}`},
		{"read-file", `{"dir":` + q(ro) + `,"path":"r.txt"}`, `{"ok":"read me"}`},
		{"write-file", `{"dir":` + q(ro) + `,"path":"r.txt","contents":"pwned"}`, "read-only"},
		{"read-file", `{"dir":` + q(ro) + `,"path":"out"}`, "not-permitted"},
		{"read-file", `{"dir":` + q(rw) + `,"path":"../outside/secret.txt"}`, "not-permitted"},
	} {
		if res := call(t, m, c.tool, c.args); res.Text != c.want {
			t.Errorf("%s %s: %+v, want %s", c.tool, c.args, res, c.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ro, "r.txt")); string(b) != "read me" {
		t.Errorf("the read-only grant's file holds %q", b)
	}
}

// A runaway component is stopped by each limit, and the next call works.
func TestComponentLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, corpusCache(t))
	m := f.m
	loadCorpus(t, f, "js-limits")
	for _, c := range []struct {
		tool   string
		limits policy.Limits
		want   error
	}{
		{"spin", policy.Limits{Timeout: "2s"}, runtime.ErrTimeout},
		// A generous time limit: memory must be what stops it, on a busy machine too.
		{"hog", policy.Limits{Memory: "64Mi", Timeout: "5m"}, runtime.ErrMemoryLimit},
		{"flood", policy.Limits{}, runtime.ErrOutputLimit},
	} {
		f.updatePolicy(t, "js-limits", func(p *policy.Policy) error {
			p.Permissions.Resources.Limits = c.limits
			return nil
		})
		_, err := m.Call(context.Background(), c.tool, json.RawMessage(`{}`))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.tool, err, c.want)
		}
		if res := call(t, m, "ping", `{}`); res.IsError || res.Text != "pong" {
			t.Errorf("ping after %s: %+v", c.tool, res)
		}
	}
}

// WASI 0.2 components load from a file, https:// and an OCI registry, and come back
// after a restart from the compilation cache.
func TestComponentSourcesAndRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	wasm, err := os.ReadFile(corpus(t, "js-iface"))
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		w.Write(wasm)
	}))
	defer tlsSrv.Close()
	reg := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	regHost := strings.TrimPrefix(reg.URL, "http://")
	pushWasm(t, regHost, "tools/time-oci", "v1", wasm)

	f := newFixture(t, func(c *component.Config) {
		corpusCache(t)(c)
		c.Fetch = loader.Options{HTTPClient: tlsSrv.Client(), OCIPlainHTTP: true}
	})
	greet := func(m *component.Manager) {
		t.Helper()
		res := call(t, m, "wassette_time-server-js_time_greet", `{"name":"Ada"}`)
		if res.IsError || res.Text != "Hello, Ada!" || string(res.Output) != `{"result":"Hello, Ada!"}` {
			t.Fatalf("greet: %+v", res)
		}
	}
	for i, uri := range []string{corpus(t, "js-iface"), tlsSrv.URL + "/time-https.wasm", "oci://" + regHost + "/tools/time-oci:v1"} {
		info, err := f.m.Load(ctx, uri, component.LoadOptions{})
		if err != nil {
			t.Fatalf("Load(%s): %v", uri, err)
		}
		if want := []string{"js-iface", "time-https", "time-oci"}[i]; info.ID != want || len(info.Tools) != 3 {
			t.Errorf("Load(%s) = %+v, want ID %s and 3 tools", uri, info, want)
		}
		greet(f.m)
		if i < 2 {
			if _, err := f.m.Unload(ctx, info.ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A restart: another Manager over the same folders finds it, compiles it from the
	// cache at its first call, and runs it.
	m2 := f.open(t, f.cfg)
	if names := toolNames(m2); len(names) != 3 {
		t.Fatalf("after a restart: tools %q", names)
	}
	greet(m2)
}
