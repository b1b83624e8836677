package component_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/component/loader"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// --- 1. Loading from a path, https:// and oci:// ---

// pushWasm publishes data as an OCI artifact with one application/wasm layer, as
// host/repo:tag on a plain-HTTP registry.
func pushWasm(t *testing.T, host, repo, tag string, data []byte) {
	t.Helper()
	ctx := context.Background()
	r, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	layer, err := oras.PushBytes(ctx, r, "application/wasm", data)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "application/vnd.wasm.config.v0+json",
		oras.PackManifestOptions{
			Layers:              []ocispec.Descriptor{layer},
			ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"},
		})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, manifest, tag); err != nil {
		t.Fatal(err)
	}
}

// weatherServer is a loopback weather API that answers {"city":...,"temp":21} to
// requests carrying key, and counts the requests it receives.
func weatherServer(t *testing.T, key string) (srv *httptest.Server, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		q := r.URL.Query()
		if r.URL.Path != "/weather" || q.Get("appid") != key || r.Header.Get("X-Api-Key") != key {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid key %s"}`, q.Get("appid"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"city":%q,"temp":21}`, q.Get("q"))
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func TestLoadSources(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	echo, weather, misbehave := wasmBytes(t, "echo"), wasmBytes(t, "weather"), wasmBytes(t, "misbehave")

	var httpsHits atomic.Int64
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpsHits.Add(1)
		if r.URL.Path != "/dl/echo.wasm" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/wasm")
		w.Write(echo)
	}))
	defer tlsSrv.Close()
	reg := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	regHost := strings.TrimPrefix(reg.URL, "http://")
	pushWasm(t, regHost, "tools/misbehave", "v1", misbehave)

	f := newFixture(t, func(c *component.Config) {
		c.Fetch = loader.Options{HTTPClient: tlsSrv.Client(), OCIPlainHTTP: true}
	})
	m := f.m

	// A plain path; the ID is the file name without .wasm. A person loads it.
	info, err := m.Load(ctx, wasmPath("weather"), component.LoadOptions{Approve: true})
	if err != nil {
		t.Fatalf("Load(path): %v", err)
	}
	if info.ID != "weather" || info.Source != "file://"+wasmPath("weather") || info.Digest != sha256Digest(weather) ||
		info.Size != int64(len(weather)) || info.LoadedAt.IsZero() || len(info.Tools) != 1 || info.Tools[0].Name != "get_weather" {
		t.Errorf("Load(path) = %+v", info)
	}

	// https:// from a loopback TLS server, pinned to the module's digest.
	httpsURL := tlsSrv.URL + "/dl/echo.wasm"
	info, err = m.Load(ctx, httpsURL, component.LoadOptions{Digest: sha256Digest(echo)})
	if err != nil {
		t.Fatalf("Load(https): %v", err)
	}
	if info.ID != "echo" || info.Source != httpsURL || info.Digest != sha256Digest(echo) || len(info.Tools) != 2 {
		t.Errorf("Load(https) = %+v", info)
	}

	// oci:// from an in-process registry on loopback; the ID is the repository's last element.
	ociRef := "oci://" + regHost + "/tools/misbehave:v1"
	info, err = m.Load(ctx, ociRef, component.LoadOptions{})
	if err != nil {
		t.Fatalf("Load(oci): %v", err)
	}
	if info.ID != "misbehave" || info.Source != ociRef || info.Digest != sha256Digest(misbehave) {
		t.Errorf("Load(oci) = %+v", info)
	}

	var ids []string
	for _, in := range m.List() {
		ids = append(ids, in.ID)
	}
	if want := []string{"echo", "misbehave", "weather"}; !slices.Equal(ids, want) {
		t.Errorf("List() IDs = %q, want %q", ids, want)
	}
	if got, ok := m.Get("echo"); !ok || got.Source != httpsURL {
		t.Errorf("Get(echo) = %+v, %v", got, ok)
	}
	wantTools := []string{
		"misbehave/alloc", "misbehave/count", "echo/echo", "echo/env", "misbehave/escape", "misbehave/fail",
		"misbehave/fetch", "misbehave/flood", "misbehave/flood_stderr", "weather/get_weather", "misbehave/list",
		"misbehave/loop", "misbehave/read", "misbehave/sleep", "misbehave/spin", "misbehave/write",
	}
	if got := toolNames(m); !slices.Equal(got, wantTools) {
		t.Errorf("Tools() = %q\nwant %q", got, wantTools)
	}
	for _, tool := range m.Tools() {
		if tool.Name == "get_weather" && !strings.Contains(string(tool.InputSchema), `"required":["city"]`) {
			t.Errorf("get_weather input schema = %s", tool.InputSchema)
		}
	}

	// Calls work for each source.
	var echoed map[string]any
	res := callOK(t, m, "echo", `{"msg":"hello","n":1}`, &echoed)
	if res.ComponentID != "echo" || !reflect.DeepEqual(echoed, map[string]any{"msg": "hello", "n": 1.0}) {
		t.Errorf("echo = %s (component %q)", res.Output, res.ComponentID)
	}
	var n int
	if res := callOK(t, m, "count", "", &n); n != 1 || res.ComponentID != "misbehave" {
		t.Errorf("count = %d (component %q), want 1", n, res.ComponentID)
	}
	srv, _ := weatherServer(t, "k-123")
	u, _ := url.Parse(srv.URL)
	f.setSecrets(t, "weather", map[string]string{"API_KEY": "k-123", "ENDPOINT_URL": srv.URL})
	f.updatePolicy(t, "weather", func(p *policy.Policy) error { return p.GrantNetwork(u.Host) })
	var w struct {
		City string `json:"city"`
		Temp int    `json:"temp"`
	}
	callOK(t, m, "get_weather", `{"city":"Paris"}`, &w)
	if w.City != "Paris" || w.Temp != 21 {
		t.Errorf("get_weather = %+v", w)
	}

	// Failures load nothing and leave the loaded components alone.
	before := m.List()
	_, err = m.Load(ctx, httpsURL, component.LoadOptions{ID: "pinned", Digest: sha256Digest([]byte("other bytes"))})
	if !errors.Is(err, loader.ErrDigestMismatch) {
		t.Errorf("Load with a wrong digest pin: error = %v, want ErrDigestMismatch", err)
	}
	_, err = m.Load(ctx, tlsSrv.URL+"/dl/missing.wasm", component.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Load of a missing URL: error = %v, want one mentioning 404", err)
	}
	_, err = m.Load(ctx, filepath.Join(t.TempDir(), "nope.wasm"), component.LoadOptions{})
	if err == nil {
		t.Error("Load of a missing file succeeded")
	}
	preview2 := filepath.Join(t.TempDir(), "p2.wasm")
	if err := os.WriteFile(preview2, []byte("\x00asm\x0d\x00\x01\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A WASI 0.2 component without exported functions has no tool to offer.
	if _, err := m.Load(ctx, preview2, component.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "exports no function") {
		t.Errorf("Load of a component without exports: error = %v, want one saying it exports no function", err)
	}
	notWasm := filepath.Join(t.TempDir(), "text.wasm")
	if err := os.WriteFile(notWasm, []byte("just some text, not WebAssembly"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Load(ctx, notWasm, component.LoadOptions{}); err == nil {
		t.Error("Load of a text file succeeded")
	}
	if after := m.List(); !reflect.DeepEqual(before, after) {
		t.Errorf("failed loads changed the components:\nbefore %+v\nafter  %+v", before, after)
	}
}

// --- 2. Environment precedence ---

func TestEnvPrecedence(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "echo", "")

	// Nothing: no secrets, no policy, so not one host variable either; argv is the
	// protocol's, not the host's.
	argv, env := callEnv(t, m, "env")
	if len(argv) != 2 || argv[1] != "env" {
		t.Errorf("argv = %q, want [<program> env]", argv)
	}
	wantEnv(t, "no policy, no secrets", env, map[string]string{})

	// Secrets reach the component (values under 8 bytes are not redacted).
	f.setSecrets(t, "echo", map[string]string{"SHORT": "s-v1", "SHARED": "sec-sh", "HOST_ALLOWED": "sec-ha"})
	_, env = callEnv(t, m, "env")
	wantEnv(t, "secrets", env, map[string]string{"SHORT": "s-v1", "SHARED": "sec-sh", "HOST_ALLOWED": "sec-ha"})

	// A policy value beats the secret; a secret beats the host; the host variables the
	// policy names reach the component, no other.
	f.updatePolicy(t, "echo", func(p *policy.Policy) error {
		return errors.Join(
			p.GrantEnvironment("SHARED", ptr("pol-sh")),
			p.GrantEnvironment("HOST_ALLOWED", nil),
			p.GrantEnvironment("HOME", nil),
			p.GrantEnvironment("NOT_ON_HOST", nil),
		)
	})
	_, env = callEnv(t, m, "env")
	wantEnv(t, "policy", env, map[string]string{"SHORT": "s-v1", "SHARED": "pol-sh", "HOST_ALLOWED": "sec-ha", "HOME": "/home/t"})

	// Sandbox reports the same environment and where each variable came from.
	_, senv, err := m.Sandbox("echo")
	if err != nil {
		t.Fatal(err)
	}
	wantSources := map[string]envmerge.Source{"SHORT": envmerge.FromSecret, "SHARED": envmerge.FromPolicy, "HOST_ALLOWED": envmerge.FromSecret, "HOME": envmerge.FromHost}
	for _, v := range senv {
		if wantSources[v.Key] != v.Source {
			t.Errorf("Sandbox: %s comes from %q, want %q", v.Key, v.Source, wantSources[v.Key])
		}
	}
	if len(senv) != len(wantSources) {
		t.Errorf("Sandbox env has %d variables, want %d", len(senv), len(wantSources))
	}

	// The CLI (another store on the same folder) deletes a secret: the host variable
	// the policy allows shows through at the next call.
	cli, err := secretstore.Open(f.secDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Delete("echo", "HOST_ALLOWED"); err != nil {
		t.Fatal(err)
	}
	_, env = callEnv(t, m, "env")
	if env["HOST_ALLOWED"] != "host-ok" {
		t.Errorf("after the secret was deleted: HOST_ALLOWED = %q, want the host's value", env["HOST_ALLOWED"])
	}
	// The CLI changes a secret (same size, within the file system's timestamp
	// granularity): the next call sees it, without a restart.
	setSecrets(t, cli, "echo", map[string]string{"SHORT": "s-v2"})
	_, env = callEnv(t, m, "env")
	if env["SHORT"] != "s-v2" {
		t.Errorf("after secret set from another store: SHORT = %q, want s-v2", env["SHORT"])
	}

	// A hand edit of the secrets file is seen by the next call too.
	secPath, err := f.secrets.Path("echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secPath, []byte("SHORT: hand\nTIMEOUT: 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, env = callEnv(t, m, "env")
	wantEnv(t, "hand-edited secrets", env, map[string]string{"SHORT": "hand", "TIMEOUT": "30", "SHARED": "pol-sh", "HOST_ALLOWED": "host-ok", "HOME": "/home/t"})

	// And a hand edit of the policy file.
	polPath, err := f.policies.Path("echo")
	if err != nil {
		t.Fatal(err)
	}
	handPolicy := "version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: PATH\n      - key: SHORT\n        value: pol-s\n"
	if err := os.WriteFile(polPath, []byte(handPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	_, env = callEnv(t, m, "env")
	wantEnv(t, "hand-edited policy", env, map[string]string{"SHORT": "pol-s", "TIMEOUT": "30", "PATH": "/bin"})

	// A broken hand edit fails the call with an error naming the file, not the
	// value; repairing the file repairs the calls.
	if err := os.WriteFile(secPath, []byte("SHORT: hand\nNESTED:\n  inner: nested-value-xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = m.Call(context.Background(), "env", nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(secPath)) || strings.Contains(err.Error(), "nested-value-xyz") {
		t.Errorf("call with a broken secrets file: error = %v, want one naming %s without the value", err, filepath.Base(secPath))
	}
	if err := os.WriteFile(secPath, []byte("SHORT: fixed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(polPath, []byte("version: \"1.0\"\npermissions:\n  bogus: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = m.Call(context.Background(), "env", nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Base(polPath)) {
		t.Errorf("call with a broken policy file: error = %v, want one naming %s", err, filepath.Base(polPath))
	}
	if err := os.Remove(polPath); err != nil {
		t.Fatal(err)
	}
	_, env = callEnv(t, m, "env")
	wantEnv(t, "policy removed", env, map[string]string{"SHORT": "fixed"})
}

// --- 3. Redaction ---

func TestRedaction(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "echo", "")
	f.load(t, "weather", "")

	canaries := map[string]string{
		"LONG":   "canary-9f8e7d6c5b4a",
		"EXACT8": "8bytes!!",
		"QUOTED": `q"<tag>&\v`, // JSON-escaped in the output: q\"\u003ctag\u003e\u0026\\v
	}
	secrets := map[string]string{"SEVEN": "7bytes!"}
	for k, v := range canaries {
		secrets[k] = v
	}
	const polCanary = "policy-canary-123"
	f.setSecrets(t, "echo", secrets)
	f.updatePolicy(t, "echo", func(p *policy.Policy) error {
		return errors.Join(p.GrantEnvironment("POLVAL", ptr(polCanary)), p.GrantEnvironment("HOST_ALLOWED", nil),
			p.GrantEnvironment("HOST_LONG", nil))
	})
	allCanaries := append(slices.Collect(func(yield func(string) bool) {
		for _, v := range canaries {
			if !yield(v) {
				return
			}
		}
	}), polCanary, "long-host-value-42")
	assertNoCanary := func(what, s string) {
		t.Helper()
		for _, c := range allCanaries {
			q, _ := json.Marshal(c)
			if strings.Contains(s, c) || strings.Contains(s, string(q[1:len(q)-1])) {
				t.Errorf("%s holds the plaintext of a secret (%q): %s", what, c, s)
			}
		}
	}

	res := call(t, m, "env", "")
	assertNoCanary("env Text", res.Text)
	assertNoCanary("env Output", string(res.Output))
	var out envOutput
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatalf("redacted output is not JSON: %v: %s", err, res.Output)
	}
	wantEnv(t, "redacted env", envMap(t, out.Env), map[string]string{
		"LONG": "[REDACTED]", "EXACT8": "[REDACTED]", "QUOTED": "[REDACTED]", "POLVAL": "[REDACTED]",
		"SEVEN":        "7bytes!",    // under 8 bytes: too common to redact
		"HOST_ALLOWED": "host-ok",    // so is a short host value
		"HOST_LONG":    "[REDACTED]", // a host value the component was given is hidden too
	})

	// A secret that comes back in the arguments is redacted too.
	res = callOK(t, m, "echo", `{"a":"canary-9f8e7d6c5b4a","b":"x canary-9f8e7d6c5b4a y"}`, nil)
	if string(res.Output) != `{"a":"[REDACTED]","b":"x [REDACTED] y"}` {
		t.Errorf("echo of a secret = %s", res.Output)
	}

	// A tool error message is redacted: the weather API echoes the key it got.
	const weatherKey = "weather-canary-key-1"
	allCanaries = append(allCanaries, weatherKey)
	srv, _ := weatherServer(t, "the-right-key")
	u, _ := url.Parse(srv.URL)
	f.setSecrets(t, "weather", map[string]string{"API_KEY": weatherKey, "ENDPOINT_URL": srv.URL})
	f.updatePolicy(t, "weather", func(p *policy.Policy) error { return p.GrantNetwork(u.Host) })
	msg := callFails(t, m, "get_weather", `{"city":"Paris"}`)
	assertNoCanary("tool error", msg)
	if !strings.Contains(msg, "HTTP 401") || !strings.Contains(msg, "invalid key [REDACTED]") {
		t.Errorf("tool error = %q, want the 401 with the key redacted", msg)
	}

	// A module that crashes after writing its secret to stderr: the call error
	// quotes stderr, redacted, and still tells what happened.
	const crashCanary = "crash-canary-token-77"
	allCanaries = append(allCanaries, crashCanary)
	f.load(t, "envtwin", "")
	f.setSecrets(t, "envtwin", map[string]string{"TOKEN": crashCanary})
	res, err := m.Call(context.Background(), "twin_crash", nil)
	if err == nil {
		t.Fatalf("twin_crash: Call = %+v, want an error", res)
	}
	assertNoCanary("the error of a crashed call", err.Error())
	if !strings.Contains(err.Error(), "crashed") || !strings.Contains(err.Error(), "about to crash with token [REDACTED]") {
		t.Errorf("twin_crash: error = %v, want a crash with the redacted stderr", err)
	}

	// Nothing was logged with a secret either (the logger is at debug level).
	assertNoCanary("the Manager's logs", f.logs.String())
}

// --- 4. Denials and limits ---

func TestNetworkGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "weather", "")
	srv, hits := weatherServer(t, "k-42")
	u, _ := url.Parse(srv.URL)
	f.setSecrets(t, "weather", map[string]string{"API_KEY": "k-42", "ENDPOINT_URL": srv.URL})

	refused := func(what string) {
		t.Helper()
		msg := callFails(t, m, "get_weather", `{"city":"Paris"}`)
		if !strings.Contains(msg, "network access to "+u.Host+" is not granted") ||
			!strings.Contains(msg, "wassette permission grant network weather "+u.Host) {
			t.Errorf("%s: tool error = %q, want a refusal naming %s and the grant command", what, msg, u.Host)
		}
	}
	refused("no policy")
	f.updatePolicy(t, "weather", func(p *policy.Policy) error { return p.GrantNetwork("127.0.0.1:1") })
	refused("another port granted")
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests while the host was not granted", n)
	}

	f.updatePolicy(t, "weather", func(p *policy.Policy) error { return p.GrantNetwork(u.Host) })
	var w struct {
		City string `json:"city"`
		Temp int    `json:"temp"`
	}
	callOK(t, m, "get_weather", `{"city":"Oslo"}`, &w)
	if w.City != "Oslo" || w.Temp != 21 || hits.Load() != 1 {
		t.Errorf("granted: get_weather = %+v after %d requests", w, hits.Load())
	}

	f.updatePolicy(t, "weather", func(p *policy.Policy) error {
		if !p.RevokeNetwork(u.Host) {
			return errors.New("not granted")
		}
		return nil
	})
	refused("revoked")
	if n := hits.Load(); n != 1 {
		t.Errorf("the server got %d requests, want 1", n)
	}
}

func TestStorageGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "misbehave", "")
	base := t.TempDir()
	data, other := filepath.Join(base, "data"), filepath.Join(base, "other")
	for _, d := range []string{data, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const content = "hello from the host"
	for _, d := range []string{data, other} {
		if err := os.WriteFile(filepath.Join(d, "in.txt"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	arg := func(path, data string) string {
		b, _ := json.Marshal(map[string]string{"path": path, "data": data})
		return string(b)
	}
	in, out := filepath.Join(data, "in.txt"), filepath.Join(data, "out.txt")

	// No grant: no file system at all.
	if msg := callFails(t, m, "read", arg(in, "")); strings.Contains(msg, content) {
		t.Errorf("read without a grant: %q", msg)
	}
	callFails(t, m, "write", arg(out, "x"))

	// Read-only grant: reads work (at the host path), writes fail with EROFS and do
	// not reach the host, other folders stay invisible.
	f.updatePolicy(t, "misbehave", func(p *policy.Policy) error { return p.GrantStorage("fs://"+data, policy.Read) })
	var s string
	callOK(t, m, "read", arg(in, ""), &s)
	if s != content {
		t.Errorf("read with a read grant = %q", s)
	}
	msg := callFails(t, m, "write", arg(out, "x"))
	if !strings.Contains(strings.ToLower(msg), "read-only file system") {
		t.Errorf("write to a read-only grant: tool error = %q, want a read-only file system error", msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the write to a read-only grant reached the host: %v", err)
	}
	if msg := callFails(t, m, "read", arg(filepath.Join(other, "in.txt"), "")); strings.Contains(msg, content) {
		t.Errorf("read outside the grant: %q", msg)
	}
	callFails(t, m, "read", arg(filepath.Join(data, "..", "other", "in.txt"), ""))

	// Write grant.
	f.updatePolicy(t, "misbehave", func(p *policy.Policy) error { return p.GrantStorage("fs://"+data, policy.Write) })
	callOK(t, m, "write", arg(out, "written by the guest"), &s)
	if b, err := os.ReadFile(out); err != nil || string(b) != "written by the guest" {
		t.Errorf("host file after a granted write = %q, %v", b, err)
	}
}

func TestRunawayCallsAreStopped(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *component.Config) { c.Limits.OutputBytes = 64 << 10 })
	m := f.m
	f.load(t, "misbehave", "")
	f.updatePolicy(t, "misbehave", func(p *policy.Policy) error {
		p.Permissions.Resources.Limits = policy.Limits{Timeout: "2s", Memory: "64Mi"}
		return nil
	})
	opts, _, err := m.Sandbox("misbehave")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Limits.Timeout != 2*time.Second || opts.Limits.MemoryBytes != 64<<20 {
		t.Errorf("Sandbox limits = %+v, want the policy's 2s and 64 MiB", opts.Limits)
	}

	for _, tt := range []struct {
		tool    string
		timeout string // the policy's
		want    error
		msg     string
	}{
		{"loop", "2s", runtime.ErrTimeout, "2s"},
		{"sleep", "2s", runtime.ErrTimeout, "2s"},
		// The memory and output limits must stop these long before the timeout,
		// even in a slow (-race, loaded) test run.
		{"alloc", "5m", runtime.ErrMemoryLimit, "64 MiB"},
		{"flood", "5m", runtime.ErrOutputLimit, "64 KiB"},
	} {
		f.updatePolicy(t, "misbehave", func(p *policy.Policy) error {
			p.Permissions.Resources.Limits.Timeout = tt.timeout
			return nil
		})
		res, err := m.Call(context.Background(), tt.tool, nil)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) ||
			!strings.Contains(err.Error(), `"`+tt.tool+`"`) || !strings.Contains(err.Error(), "misbehave") {
			t.Errorf("%s: Call = %+v, %v; want an error wrapping %v that names the tool, the component and %q", tt.tool, res, err, tt.want, tt.msg)
		} else {
			t.Logf("%s: %v", tt.tool, err)
		}
		// The next call of a normal tool works, in a fresh instance.
		var n int
		callOK(t, m, "count", "", &n)
		if n != 1 {
			t.Errorf("after %s: count = %d, want 1", tt.tool, n)
		}
	}

	// A tool error is a Result, not an error.
	if msg := callFails(t, m, "fail", ""); msg != "this tool always fails" {
		t.Errorf("fail: %q", msg)
	}
}

// --- 5. Isolation ---

func TestIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "echo", "alpha")
	f.load(t, "envtwin", "beta")
	const alphaToken, betaToken, betaOnly = "alpha-token-0123456789", "beta-token-9876543210", "beta-only-secret-value"
	f.setSecrets(t, "alpha", map[string]string{"MARK": "a1", "TOKEN": alphaToken})
	f.setSecrets(t, "beta", map[string]string{"MARK": "b2", "TOKEN": betaToken, "BETA_ONLY": betaOnly})
	want := map[string]map[string]string{
		"alpha": {"MARK": "a1", "TOKEN": "[REDACTED]"},
		"beta":  {"MARK": "b2", "TOKEN": "[REDACTED]", "BETA_ONLY": "[REDACTED]"},
	}
	foreign := map[string][]string{"alpha": {betaToken, betaOnly}, "beta": {alphaToken}}

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, tool := "alpha", "env"
			if i%2 == 1 {
				id, tool = "beta", "twin_env"
			}
			res, err := m.Call(context.Background(), tool, nil)
			if err != nil {
				errs <- fmt.Errorf("call %d (%s): %v", i, tool, err)
				return
			}
			for _, s := range foreign[id] {
				if strings.Contains(res.Text, s) {
					errs <- fmt.Errorf("call %d of %s saw another component's secret: %s", i, id, res.Text)
				}
			}
			var out envOutput
			if res.IsError || res.ComponentID != id || json.Unmarshal(res.Output, &out) != nil {
				errs <- fmt.Errorf("call %d (%s): result %+v", i, tool, res)
				return
			}
			got := map[string]string{}
			for _, kv := range out.Env {
				k, v, _ := strings.Cut(kv, "=")
				got[k] = v
			}
			if !reflect.DeepEqual(got, want[id]) {
				errs <- fmt.Errorf("call %d of %s saw env %q, want %q", i, id, got, want[id])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// --- 6. Tool name clashes and Unload ---

func TestToolClash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, func(c *component.Config) { c.Reserved = []string{"load-component", "get_weather"} })
	m := f.m
	f.load(t, "echo", "")

	// The same tools under another ID.
	_, err := m.Load(ctx, wasmPath("echo"), component.LoadOptions{ID: "echo-copy"})
	if !errors.Is(err, component.ErrToolClash) || !strings.Contains(err.Error(), `"echo"`) || !strings.Contains(err.Error(), `"echo-copy"`) {
		t.Errorf("Load of a clashing component: error = %v, want ErrToolClash naming both components", err)
	}
	// The same, with the new component's ID sorting before the loaded one's.
	_, err = m.Load(ctx, wasmPath("echo"), component.LoadOptions{ID: "a-echo"})
	if !errors.Is(err, component.ErrToolClash) || !strings.Contains(err.Error(), `"echo"`) || !strings.Contains(err.Error(), `"a-echo"`) {
		t.Errorf("Load of a clashing component: error = %v, want ErrToolClash naming both components", err)
	}
	for _, id := range []string{"echo-copy", "a-echo"} {
		if _, ok := m.Get(id); ok {
			t.Errorf("the clashing component %s was loaded", id)
		}
	}
	// A wassette tool name.
	_, err = m.Load(ctx, wasmPath("weather"), component.LoadOptions{})
	if !errors.Is(err, component.ErrToolClash) || !strings.Contains(err.Error(), `"get_weather"`) || !strings.Contains(err.Error(), `"weather"`) {
		t.Errorf("Load of a component with a reserved tool name: error = %v, want ErrToolClash naming the tool and component", err)
	}
	if want := []string{"echo/echo", "echo/env"}; !slices.Equal(toolNames(m), want) {
		t.Errorf("Tools() = %q, want %q", toolNames(m), want)
	}
	// A Manager opened on the same folder sees only echo: nothing of the refused
	// loads reached the disk.
	m2 := f.open(t, f.cfg)
	if l := m2.List(); len(l) != 1 || l[0].ID != "echo" {
		t.Errorf("after refused loads the folder holds %+v", l)
	}

	// Loading echo again under its own ID replaces it: no clash with itself.
	f.load(t, "echo", "")
	callOK(t, m, "echo", `{}`, nil)
	// Another component with other tool names loads beside it.
	f.load(t, "envtwin", "")
	if want := []string{"echo/echo", "echo/env", "envtwin/twin_crash", "envtwin/twin_echo", "envtwin/twin_env"}; !slices.Equal(toolNames(m), want) {
		t.Errorf("Tools() = %q, want %q", toolNames(m), want)
	}
	// Replacing a component by one whose tools clash with another's is refused, and
	// the component keeps its old module and tools.
	_, err = m.Load(ctx, wasmPath("echo"), component.LoadOptions{ID: "envtwin"})
	if !errors.Is(err, component.ErrToolClash) {
		t.Errorf("replacing envtwin by echo: error = %v, want ErrToolClash", err)
	}
	callOK(t, m, "twin_echo", `{}`, nil)
}

func TestUnload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	m := f.m
	f.load(t, "echo", "")
	f.load(t, "envtwin", "")
	f.setSecrets(t, "echo", map[string]string{"A": "1", "B": "2"})
	f.setSecrets(t, "envtwin", map[string]string{"C": "3"})
	for _, id := range []string{"echo", "envtwin"} {
		f.updatePolicy(t, id, func(p *policy.Policy) error { return p.GrantNetwork("api.example.com") })
	}

	kept, err := m.Unload(ctx, "echo", false)
	if err != nil || kept != 2 {
		t.Fatalf("Unload(echo, keep) = %d, %v; want 2 secrets kept", kept, err)
	}
	if _, ok := m.Get("echo"); ok {
		t.Error("echo is still loaded")
	}
	if want := []string{"envtwin/twin_crash", "envtwin/twin_echo", "envtwin/twin_env"}; !slices.Equal(toolNames(m), want) {
		t.Errorf("Tools() = %q, want %q", toolNames(m), want)
	}
	if _, err := m.Call(ctx, "echo", nil); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Call of an unloaded tool: error = %v, want ErrNotFound", err)
	}
	if _, ok, err := f.policies.Get("echo"); ok || err != nil {
		t.Errorf("the policy of echo survived Unload (%v, %v)", ok, err)
	}
	if sec, err := f.secrets.Get("echo"); err != nil || sec.Len() != 2 {
		t.Errorf("echo's secrets after Unload without deleting: %d, %v; want 2", sec.Len(), err)
	}
	if l := f.open(t, f.cfg).List(); len(l) != 1 || l[0].ID != "envtwin" {
		t.Errorf("a new Manager sees %+v, want only envtwin", l)
	}

	// Loading it again: its kept secrets are its again; its old policy is gone.
	f.load(t, "echo", "")
	_, env := callEnv(t, m, "env")
	wantEnv(t, "reloaded echo", env, map[string]string{"A": "1", "B": "2"})
	if opts, _, err := m.Sandbox("echo"); err != nil || len(opts.AllowedHosts) != 0 {
		t.Errorf("reloaded echo: hosts %q, %v; want none", opts.AllowedHosts, err)
	}

	kept, err = m.Unload(ctx, "envtwin", true)
	if err != nil || kept != 0 {
		t.Fatalf("Unload(envtwin, delete) = %d, %v; want 0", kept, err)
	}
	if sec, err := f.secrets.Get("envtwin"); err != nil || sec.Len() != 0 {
		t.Errorf("envtwin's secrets after Unload with deleting: %d, %v; want none", sec.Len(), err)
	}
	if _, ok, _ := f.policies.Get("envtwin"); ok {
		t.Error("envtwin's policy survived Unload")
	}

	for _, id := range []string{"envtwin", "never-loaded"} {
		if _, err := m.Unload(ctx, id, false); !errors.Is(err, component.ErrNotFound) || !strings.Contains(err.Error(), id) {
			t.Errorf("Unload(%s): error = %v, want ErrNotFound naming it", id, err)
		}
	}
	if _, err := m.Call(ctx, "no_such_tool", nil); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Call of an unknown tool: error = %v, want ErrNotFound", err)
	}
}

// --- 7. Restart and Sync ---

// TestRestart is not parallel, so that the first calls it times run alone.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil) // with the compilation cache that TestMain filled
	loaded := f.load(t, "echo", "")
	f.setSecrets(t, "echo", map[string]string{"MARK": "m1"})
	f.updatePolicy(t, "echo", func(p *policy.Policy) error {
		return errors.Join(p.GrantEnvironment("FROM_POLICY", ptr("p1")), p.GrantNetwork("api.example.com"))
	})
	if err := f.m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Call(ctx, "echo", nil); err == nil {
		t.Error("Call after Close succeeded")
	}

	// A new Manager on the same folders and cache.
	m := f.open(t, f.cfg)
	got, ok := m.Get("echo")
	if !ok || got.Digest != loaded.Digest || got.Source != loaded.Source || !got.LoadedAt.Equal(loaded.LoadedAt) ||
		!reflect.DeepEqual(got.Tools, loaded.Tools) {
		t.Errorf("after restart Get(echo) = %+v, %v\nwant %+v", got, ok, loaded)
	}
	if want := []string{"echo/echo", "echo/env"}; !slices.Equal(toolNames(m), want) {
		t.Errorf("after restart Tools() = %q, want %q", toolNames(m), want)
	}
	if opts, _, err := m.Sandbox("echo"); err != nil || !slices.Equal(opts.AllowedHosts, []string{"api.example.com"}) {
		t.Errorf("after restart the policy grants %q (%v), want api.example.com", opts.AllowedHosts, err)
	}
	start := time.Now()
	_, env := callEnv(t, m, "env")
	warm := time.Since(start)
	wantEnv(t, "after restart", env, map[string]string{"MARK": "m1", "FROM_POLICY": "p1"})

	// The same with an empty compilation cache: the first call compiles.
	cold := f.cfg
	cold.CacheDir = filepath.Join(t.TempDir(), "empty-cache")
	m2 := f.open(t, cold)
	start = time.Now()
	_, env = callEnv(t, m2, "env")
	coldTime := time.Since(start)
	wantEnv(t, "after restart without cache", env, map[string]string{"MARK": "m1", "FROM_POLICY": "p1"})
	t.Logf("first call after restart: %v with the on-disk cache, %v with an empty cache (%.1fx)",
		warm, coldTime, float64(coldTime)/float64(warm))
}

func TestSync(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	m1 := f.m
	f.load(t, "echo", "")

	// A second Manager (standing in for the CLI process) with its own stores on the
	// same folders.
	cfg2 := f.cfg
	var err error
	if cfg2.Secrets, err = secretstore.Open(f.secDir); err != nil {
		t.Fatal(err)
	}
	if cfg2.Policies, err = policy.Open(f.polDir); err != nil {
		t.Fatal(err)
	}
	m2 := f.open(t, cfg2)
	if _, ok := m2.Get("echo"); !ok {
		t.Error("a new Manager does not see echo")
	}
	if _, err := m2.Load(ctx, wasmPath("weather"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m1.Get("weather"); ok {
		t.Error("weather appeared before Sync")
	}
	if changed, err := m1.Sync(); err != nil || !changed {
		t.Fatalf("Sync after a load elsewhere = %v, %v; want changed", changed, err)
	}
	if want := []string{"echo/echo", "echo/env", "weather/get_weather"}; !slices.Equal(toolNames(m1), want) {
		t.Errorf("after Sync Tools() = %q, want %q", toolNames(m1), want)
	}
	if changed, err := m1.Sync(); err != nil || changed {
		t.Errorf("second Sync = %v, %v; want unchanged", changed, err)
	}
	// The synced component runs here (compiled on first use).
	if msg := callFails(t, m1, "get_weather", `{"city":"Paris"}`); !strings.Contains(msg, "API_KEY not configured") {
		t.Errorf("synced weather: %q", msg)
	}

	// Replaced elsewhere under the same ID by another module: new tools after Sync.
	if _, err := m2.Load(ctx, wasmPath("envtwin"), component.LoadOptions{ID: "weather"}); err != nil {
		t.Fatal(err)
	}
	if changed, err := m1.Sync(); err != nil || !changed {
		t.Fatalf("Sync after a replacement elsewhere = %v, %v; want changed", changed, err)
	}
	if want := []string{"echo/echo", "echo/env", "weather/twin_crash", "weather/twin_echo", "weather/twin_env"}; !slices.Equal(toolNames(m1), want) {
		t.Errorf("after Sync Tools() = %q, want %q", toolNames(m1), want)
	}
	callOK(t, m1, "twin_echo", `{}`, nil)
	if _, err := m1.Call(ctx, "get_weather", nil); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Call of a replaced tool: error = %v, want ErrNotFound", err)
	}

	// Unloaded elsewhere: gone after Sync.
	if _, err := m2.Unload(ctx, "weather", false); err != nil {
		t.Fatal(err)
	}
	if changed, err := m1.Sync(); err != nil || !changed {
		t.Fatalf("Sync after an unload elsewhere = %v, %v; want changed", changed, err)
	}
	if _, ok := m1.Get("weather"); ok {
		t.Error("weather is still loaded after Unload elsewhere and Sync")
	}
	if _, err := m1.Call(ctx, "twin_echo", nil); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Call of a tool unloaded elsewhere: error = %v, want ErrNotFound", err)
	}
	if want := []string{"echo/echo", "echo/env"}; !slices.Equal(toolNames(m1), want) {
		t.Errorf("Tools() = %q, want %q", toolNames(m1), want)
	}
	// A Manager may unload a component that it has not synced yet.
	if _, err := m2.Load(ctx, wasmPath("weather"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Unload(ctx, "weather", false); err != nil {
		t.Errorf("Unload of a component loaded elsewhere, not yet synced: %v", err)
	}
	if changed, err := m2.Sync(); err != nil || !changed {
		t.Errorf("Sync of the loading Manager after the unload = %v, %v; want changed", changed, err)
	}
	if _, ok := m2.Get("weather"); ok {
		t.Error("weather is still loaded in the Manager that loaded it")
	}
}

// TestConcurrentCallsAndUnload runs calls of a component compiled on first use
// (as after a restart) while it is unloaded: each call either runs or fails with an
// error; nothing races or panics, and the component ends up gone.
func TestConcurrentCallsAndUnload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	f.load(t, "echo", "")
	// In a new Manager, the first calls compile echo (from the disk cache).
	cfg := f.cfg
	cfg.Logger = nil // a shared log buffer would order the goroutines and hide races
	m := f.open(t, cfg)

	const n = 4
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Call(ctx, "echo", json.RawMessage(`{}`))
			results <- err
		}()
	}
	// Give the calls time to start compiling; the outcome must be the same if they
	// have not.
	time.Sleep(20 * time.Millisecond)
	if _, err := m.Unload(ctx, "echo", false); err != nil {
		t.Errorf("Unload: %v", err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Logf("a call during Unload failed: %v", err)
		}
	}
	if _, ok := m.Get("echo"); ok {
		t.Error("echo is still loaded")
	}
	if _, err := m.Call(ctx, "echo", nil); !errors.Is(err, component.ErrNotFound) {
		t.Errorf("Call after Unload: error = %v, want ErrNotFound", err)
	}
}

// TestSyncDuringLoadAndUnload runs Sync in a loop while the same Manager loads and
// unloads a component: a Sync must never bring back a component that was unloaded,
// nor drop one that was loaded.
func TestSyncDuringLoadAndUnload(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	m := f.m
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := m.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
				return
			}
		}
	}()
	stop := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stop() // also when the test fails early
	for i := range 5 {
		f.load(t, "echo", "")
		if _, ok := m.Get("echo"); !ok {
			t.Errorf("round %d: echo is not loaded right after Load", i)
		}
		callOK(t, m, "echo", `{}`, nil)
		if _, err := m.Unload(ctx, "echo", false); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Get("echo"); ok {
			t.Errorf("round %d: echo is loaded right after Unload", i)
		}
	}
	stop()
	if l := m.List(); len(l) != 0 {
		t.Errorf("after the last Unload List() = %+v", l)
	}
}

func TestOpenNeedsStores(t *testing.T) {
	t.Parallel()
	_, err := component.Open(context.Background(), component.Config{Dir: filepath.Join(t.TempDir(), "c")})
	if err == nil {
		t.Error("Open without stores succeeded")
	}
}

// TestSyncAtRest: once the components folder has been still for a while, Sync answers
// from its mtime without reading the folder, and a change by another process still
// shows on the next Sync.
func TestSyncAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	f.load(t, "echo", "")
	cfg2 := f.cfg
	var err error
	if cfg2.Secrets, err = secretstore.Open(f.secDir); err != nil {
		t.Fatal(err)
	}
	if cfg2.Policies, err = policy.Open(f.polDir); err != nil {
		t.Fatal(err)
	}
	m2 := f.open(t, cfg2)

	time.Sleep(2100 * time.Millisecond) // let the folder settle
	for range 2 {                       // the first records the folder at rest, the second skips
		if changed, err := f.m.Sync(); err != nil || changed {
			t.Fatalf("Sync of a folder at rest = %v, %v", changed, err)
		}
	}
	if _, err := m2.Load(ctx, wasmPath("weather"), component.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.m.Sync(); err != nil || !changed {
		t.Fatalf("Sync after a load elsewhere = %v, %v; want changed", changed, err)
	}
	if _, ok := f.m.Get("weather"); !ok {
		t.Error("weather not picked up")
	}
	if _, err := m2.Unload(ctx, "weather", false); err != nil {
		t.Fatal(err)
	}
	if changed, err := f.m.Sync(); err != nil || !changed {
		t.Fatalf("Sync after an unload elsewhere = %v, %v; want changed", changed, err)
	}
}
