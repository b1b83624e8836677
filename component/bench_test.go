package component_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/policy"
)

// benchSecrets are the secrets of the benchmarked component; the bare wazero
// baseline gets the same variables.
var benchSecrets = map[string]string{"API_KEY": "k", "ENDPOINT_URL": "http://127.0.0.1:1"}

var benchArgs = json.RawMessage(`{"city":"Paris"}`)

// atRest waits until the files a benchmark wrote are older than the stores'
// 2-second window within which a cached file is re-read at every use, so that
// cached paths are timed as they run in a long-lived server.
func atRest() { time.Sleep(2100 * time.Millisecond) }

// benchFixture is a Manager (without logging) with echo loaded, its secrets set
// and its files at rest.
func benchFixture(b *testing.B, secrets map[string]string, change func(*policy.Policy) error) *fixture {
	b.Helper()
	f := newFixture(b, func(c *component.Config) { c.Logger = nil })
	f.load(b, "echo", "")
	f.setSecrets(b, "echo", secrets)
	if change != nil {
		f.updatePolicy(b, "echo", change)
	}
	atRest()
	return f
}

// BenchmarkCallWarm is a tool call through Manager.Call of a loaded, compiled
// component: the policy and secrets read from the cached stores, envmerge, the
// sandbox, a fresh instance, the call and the redaction of its output.
func BenchmarkCallWarm(b *testing.B) {
	f := benchFixture(b, benchSecrets, nil)
	ctx := context.Background()
	if _, err := f.m.Call(ctx, "echo", benchArgs); err != nil { // warm up
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := f.m.Call(ctx, "echo", benchArgs)
		if err != nil || res.IsError {
			b.Fatal(err, res.Text)
		}
	}
}

// BenchmarkBareWazero is the baseline of BenchmarkCallWarm: the same module and
// call with bare wazero (default runtime configuration, WASI, the same
// environment, a new anonymous instance per call) in the same process.
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
	for k, v := range benchSecrets {
		base = base.WithEnv(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		var stdout, stderr bytes.Buffer
		cfg := base.WithName("").WithArgs("component", "echo").
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

// BenchmarkSandbox is what every call does before it runs: Manager.Sandbox of a
// component with a policy and 5 secrets, its files at rest in the stores' caches.
func BenchmarkSandbox(b *testing.B) {
	data := filepath.Join(b.TempDir(), "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		b.Fatal(err)
	}
	secrets := map[string]string{
		"API_KEY":      "sk-0123456789abcdef0123456789abcdef",
		"ENDPOINT_URL": "https://api.example.com/v1",
		"USER":         "bench",
		"REGION":       "eu-west-1",
		"PEM":          "-----BEGIN KEY-----\n" + strings.Repeat("QUJD", 64) + "\n-----END KEY-----\n",
	}
	f := benchFixture(b, secrets, func(p *policy.Policy) error {
		p.Permissions.Resources.Limits = policy.Limits{Timeout: "10s", Memory: "128Mi"}
		return errors.Join(
			p.GrantEnvironment("MODE", ptr("production")),
			p.GrantEnvironment("HOME", nil),
			p.GrantNetwork("api.example.com"),
			p.GrantStorage("fs://"+data, policy.Read, policy.Write),
		)
	})
	opts, env, err := f.m.Sandbox("echo")
	if err != nil || len(env) != 7 || len(opts.Mounts) != 1 || len(opts.AllowedHosts) != 1 {
		b.Fatalf("Sandbox = %+v, %d variables, %v", opts, len(env), err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.m.Sandbox("echo"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSecretLookup is the baseline of BenchmarkSandbox: one cached
// secretstore.Store.Lookup.
func BenchmarkSecretLookup(b *testing.B) {
	f := benchFixture(b, benchSecrets, nil)
	if v, ok, err := f.secrets.Lookup("echo", "API_KEY"); err != nil || !ok || v.Reveal() != "k" {
		b.Fatalf("Lookup = %v, %v", ok, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.secrets.Lookup("echo", "API_KEY"); err != nil {
			b.Fatal(err)
		}
	}
}
