package test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// must runs the binary and fails the test unless it exits with want.
func must(t *testing.T, e *wassetteEnv, want int, stdin string, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := e.Run(t, stdin, args...)
	if code != want {
		t.Fatalf("wassette %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, code, want, stdout, stderr)
	}
	return stdout, stderr
}

// TestReferenceWorkflow runs the reference document's secret workflow as written, under
// umask 000, in a fresh XDG_DATA_HOME (no WASSETTE_DATA_DIR, so the XDG default is used).
func TestReferenceWorkflow(t *testing.T) {
	e := newEnv(t)
	e.Vars = without(e.Vars, "WASSETTE_DATA_DIR=")
	xdg := filepath.Join(e.Home, ".local", "share")
	dir := filepath.Join(xdg, "wassette", "secrets")
	file := filepath.Join(dir, "weather-component.yaml")
	// Run every command through sh with umask 000: modes must not depend on it.
	u := e.With()
	u.Bin = "/bin/sh"
	run := func(want int, args ...string) (string, string) {
		t.Helper()
		return must(t, u, want, "", append([]string{"-c", `umask 000; exec "$0" "$@"`, e.Bin}, args...)...)
	}

	run(0, "secret", "set", "weather-component", "API_KEY", "sk-1234567890abcdefxyz")
	run(0, "secret", "set", "weather-component", "ENDPOINT_URL", "https://api.weather.com/v1")
	out, _ := run(0, "secret", "set", "weather-component", "TIMEOUT", "30")
	if out != "Secret 'TIMEOUT' set for component 'weather-component'\n" {
		t.Errorf("set printed %q", out)
	}
	out, _ = run(0, "secret", "list", "weather-component")
	want := "API_KEY: sk-***xyz\nENDPOINT_URL: htt***/v1\nTIMEOUT: ***\n"
	if out != want {
		t.Errorf("list printed\n%s\nwant\n%s", out, want)
	}
	for path, mode := range map[string]fs.FileMode{dir: 0o700, file: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o under umask 000, want %04o", path, fi.Mode().Perm(), mode)
		}
	}

	run(0, "secret", "set", "weather-component", "API_KEY", "new-key-value-rotated-0001")
	out, _ = run(0, "secret", "list", "weather-component")
	if !strings.HasPrefix(out, "API_KEY: new***001\n") {
		t.Errorf("after rotation list printed %q", out)
	}
	out, _ = run(0, "secret", "delete", "weather-component", "ENDPOINT_URL")
	if out != "Secret 'ENDPOINT_URL' deleted from component 'weather-component'\n" {
		t.Errorf("delete printed %q", out)
	}
	_, errOut := run(1, "secret", "delete", "weather-component", "OLD_API_KEY")
	if !strings.Contains(errOut, `"OLD_API_KEY"`) {
		t.Errorf("delete of a missing key said %q", errOut)
	}
	out, _ = run(0, "secret", "list", "weather-component")
	if out != "API_KEY: new***001\nTIMEOUT: ***\n" {
		t.Errorf("other keys changed: %q", out)
	}
	run(0, "secret", "delete", "weather-component", "API_KEY")
	run(0, "secret", "delete", "weather-component", "TIMEOUT")
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after the last delete: %v", err)
	}
	if out, _ := run(0, "secret", "list", "weather-component"); out != "" {
		t.Errorf("list of a component without secrets printed %q", out)
	}
}

func without(vars []string, prefix string) []string {
	var out []string
	for _, v := range vars {
		if !strings.HasPrefix(v, prefix) {
			out = append(out, v)
		}
	}
	return out
}

func TestExitCodesAndUsage(t *testing.T) {
	e := newEnv(t)
	out, _ := must(t, e, 0, "", "--version")
	if !strings.HasPrefix(out, "wassette ") {
		t.Errorf("--version printed %q", out)
	}
	for _, args := range [][]string{
		{"secret", "set", "c"},
		{"secret", "set", "c", "K", "v", "extra"},
		{"secret", "set", "c", "K=v", "L"},
		{"secret", "set", "", "K", "v"},
		{"secret", "set", "c", "BAD KEY", "v"},
		{"secret", "set", "c", "K", "v\xff"},
		{"secret", "delete", "c"},
		{"secret", "bogus"},
		{"bogus"},
		{"secret", "list", "--nope"},
		{"secret", "list", "c", "-o", "yaml"},
		{"--log-level", "loud", "secret", "list"},
		{"permission", "grant", "teleport", "c", "x"},
		{"permission", "grant", "network", "c", "not a host"},
		{"permission", "grant", "storage", "c", "/tmp", "--value", "x"},
		{"policy", "get"},
	} {
		_, stderr, code := e.Run(t, "", args...)
		if code != 2 {
			t.Errorf("wassette %q: exit %d, want 2 (usage)\n%s", args, code, stderr)
		}
		if !strings.HasPrefix(stderr, "wassette: ") || !strings.Contains(stderr, "--help") {
			t.Errorf("wassette %q: stderr %q should say what is wrong and point at --help", args, stderr)
		}
	}
	// A value omitted without a terminal to prompt on is a usage error, not a hang.
	_, stderr, code := e.Run(t, "", "secret", "set", "c", "K")
	if code != 2 || !strings.Contains(stderr, "'-' to read it from stdin") {
		t.Errorf("omitted value without a terminal: exit %d, %q", code, stderr)
	}
}

func TestSetForms(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "from-stdin\n", "secret", "set", "c", "STDIN", "-")
	pem := "-----BEGIN KEY-----\nMIIB\n-----END KEY-----\n"
	must(t, e, 0, pem+"\n", "secret", "set", "c", "PEM", "-")
	out, _ := must(t, e, 0, "", "secret", "set", "c", "A=1", "B=x=y", "EMPTY=", "DASH=-")
	if out != "Secret 'A' set for component 'c'\nSecret 'B' set for component 'c'\nSecret 'DASH' set for component 'c'\nSecret 'EMPTY' set for component 'c'\n" {
		t.Errorf("KEY=VALUE set printed %q", out)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "c", "--show-values", "--yes", "-o", "json")
	var got struct {
		ComponentID string `json:"component_id"`
		Masked      bool   `json:"masked"`
		Secrets     []struct{ Key, Value string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	vals := map[string]string{}
	for _, s := range got.Secrets {
		vals[s.Key] = s.Value
	}
	want := map[string]string{"STDIN": "from-stdin", "PEM": pem, "A": "1", "B": "x=y", "EMPTY": "", "DASH": "-"}
	for k, v := range want {
		if vals[k] != v {
			t.Errorf("%s = %q, want %q", k, vals[k], v)
		}
	}
	if got.ComponentID != "c" || got.Masked || len(vals) != len(want) {
		t.Errorf("json: %+v", got)
	}
}

func TestPromptOnTerminal(t *testing.T) {
	e := newEnv(t)
	const secret = "typed-at-the-prompt-canary-31415"
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	var stdout, stderr recorder
	cmd := e.Command(t.Context(), "secret", "set", "c", "TYPED")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // drain what the terminal shows, so the child never blocks on it
		buf := make([]byte, 1024)
		for {
			if _, err := ptmx.Read(buf); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "input hidden") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ptmx.Write([]byte(secret + "\r")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("prompted set failed: %v\n%s", err, stderr.String())
	}
	assertNoCanary(t, "stdout", stdout.Bytes(), secret)
	assertNoCanary(t, "stderr", stderr.Bytes(), secret)
	out, _ := must(t, e, 0, "", "secret", "list", "c", "--show-values", "--yes")
	if out != "TYPED: "+secret+"\n" {
		t.Errorf("prompted value stored as %q", out)
	}
}

func TestShowValuesNeedsConfirmation(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "secret", "set", "c", "K", "plaintext-value")
	for _, answer := range []string{"", "n\n", "maybe\n"} {
		out, stderr, code := e.Run(t, answer, "secret", "list", "c", "--show-values")
		if code != 1 || strings.Contains(out, "plaintext-value") || !strings.Contains(stderr, "[y/N]") {
			t.Errorf("answer %q: exit %d, stdout %q, stderr %q", answer, code, out, stderr)
		}
	}
	out, stderr := must(t, e, 0, "y\n", "secret", "list", "c", "--show-values")
	if out != "K: plaintext-value\n" || strings.Contains(stderr, "plaintext-value") {
		t.Errorf("confirmed: stdout %q, stderr %q", out, stderr)
	}
}

func TestImport(t *testing.T) {
	e := newEnv(t)
	env := filepath.Join(e.Home, "secrets.env")
	os.WriteFile(env, []byte("# weather\nAPI_KEY=sk-123\nexport ENDPOINT_URL=\"https://api.weather.com/v1\"\nPEM=\"a\nb\"\n"), 0o600)
	out, _ := must(t, e, 0, "", "secret", "import", "weather", env)
	if out != "Secret 'API_KEY' set for component 'weather'\nSecret 'ENDPOINT_URL' set for component 'weather'\nSecret 'PEM' set for component 'weather'\n" {
		t.Errorf("import printed %q", out)
	}
	// A bad line anywhere imports nothing.
	os.WriteFile(env, []byte("NEW=1\nBROKEN LINE\n"), 0o600)
	_, stderr, code := e.Run(t, "", "secret", "import", "weather", env)
	if code != 2 || !strings.Contains(stderr, "line 2") {
		t.Errorf("bad import: exit %d, %q", code, stderr)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "weather")
	if strings.Contains(out, "NEW") || strings.Count(out, "\n") != 3 {
		t.Errorf("a failed import changed the secrets:\n%s", out)
	}
	must(t, e, 0, "FROM_STDIN=yes\n", "secret", "import", "weather", "-")
	out, _ = must(t, e, 0, "", "secret", "list")
	if out != "COMPONENT  SECRETS\nweather    4\n" {
		t.Errorf("component list:\n%s", out)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "-o", "json")
	if !strings.Contains(out, `"component_id": "weather"`) || !strings.Contains(out, `"count": 4`) {
		t.Errorf("component list json:\n%s", out)
	}
}

func TestPolicyAndPermissions(t *testing.T) {
	e := newEnv(t).With("API_KEY=host-key", "HOME_REGION=eu-host", "UNRELATED=x")
	must(t, e, 0, "", "secret", "set", "weather", "API_KEY", "secret-key-from-the-store-1")
	policyEnv := func() map[string]string {
		t.Helper()
		out, _ := must(t, e, 0, "", "policy", "get", "weather", "-o", "json")
		var v struct {
			Environment []struct{ Key, Source, Value string }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		m := map[string]string{}
		for _, ev := range v.Environment {
			m[ev.Key] = ev.Source + " " + ev.Value
		}
		return m
	}
	if got := policyEnv(); len(got) != 1 || got["API_KEY"] != "secret sec***e-1" {
		t.Errorf("before grants: %v", got)
	}
	must(t, e, 0, "", "permission", "grant", "environment-variable", "weather", "HOME_REGION")
	if got := policyEnv(); got["HOME_REGION"] != "host ***" || got["UNRELATED"] != "" {
		t.Errorf("host variable after its grant: %v", got)
	}
	// The reference's example: a policy value beats the secret and the host.
	must(t, e, 0, "policy-override-key-000001\n", "permission", "grant", "environment-variable", "weather", "API_KEY", "--value-stdin")
	if got := policyEnv(); got["API_KEY"] != "policy pol***001" {
		t.Errorf("policy value: %v", got)
	}
	out, _ := must(t, e, 0, "", "permission", "grant", "network", "weather", "api.weather.com")
	if out != "Permission granted: network 'api.weather.com' for component 'weather'\n" {
		t.Errorf("grant printed %q", out)
	}
	data := filepath.Join(e.Home, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	must(t, e, 0, "", "permission", "grant", "storage", "weather", "fs://"+filepath.ToSlash(data), "--access", "read,write")
	out, _ = must(t, e, 0, "", "policy", "get", "weather")
	for _, want := range []string{"api.weather.com", "fs://" + filepath.ToSlash(data), "access: [read, write]", "value: pol***001", "source: policy"} {
		if !strings.Contains(out, want) {
			t.Errorf("policy get lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "policy-override-key-000001") || strings.Contains(out, "secret-key-from-the-store-1") {
		t.Errorf("policy get shows a plaintext value:\n%s", out)
	}
	must(t, e, 0, "", "permission", "revoke", "network", "weather", "api.weather.com")
	_, stderr := must(t, e, 1, "", "permission", "revoke", "network", "weather", "api.weather.com")
	if !strings.Contains(stderr, "has no network permission for 'api.weather.com'") {
		t.Errorf("second revoke: %q", stderr)
	}
	must(t, e, 0, "", "permission", "reset", "weather")
	if got := policyEnv(); len(got) != 1 || got["API_KEY"] != "secret sec***e-1" {
		t.Errorf("after reset: %v", got)
	}
}

func TestInsecureFileIsRefusedWithTheFix(t *testing.T) {
	e := newEnv(t)
	must(t, e, 0, "", "secret", "set", "c", "K", "v")
	path := filepath.Join(e.SecretsDir(), "c.yaml")
	os.Chmod(path, 0o644)
	_, stderr, code := e.Run(t, "", "secret", "list", "c")
	if code != 1 || !strings.Contains(stderr, "chmod 600 "+path) {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, []byte("K: [nested]\n"), 0o600)
	_, stderr, code = e.Run(t, "", "secret", "list", "c")
	if code != 1 || !strings.Contains(stderr, path+": line 1") {
		t.Errorf("broken file: exit %d, stderr %q", code, stderr)
	}
}

// TestCanaryNeverPrinted pushes one secret through every CLI path, with debug logging,
// and checks that it, its base64 and its hex forms appear in no output except that of
// an explicit --show-values.
func TestCanaryNeverPrinted(t *testing.T) {
	const canary = "canary-d41d8cd98f00b204e980-secret"
	e := newEnv(t)
	env := filepath.Join(e.Home, "c.env")
	os.WriteFile(env, []byte("FROM_FILE=\""+canary+"\"\n"), 0o600)
	steps := []struct {
		stdin string
		args  []string
	}{
		{"", []string{"secret", "set", "c", "ARG", canary}},
		{"", []string{"secret", "set", "c", "KV=" + canary, "OTHER=" + canary}},
		{canary + "\n", []string{"secret", "set", "c", "STDIN", "-"}},
		{"", []string{"secret", "import", "c", env}},
		{"FROM_STDIN=" + canary + "\n", []string{"secret", "import", "c", "-"}},
		{canary + "\n", []string{"permission", "grant", "environment-variable", "c", "POLICY", "--value-stdin"}},
		{"", []string{"permission", "grant", "environment-variable", "c", "HOSTVAR"}},
		{"", []string{"secret", "list", "c"}},
		{"", []string{"secret", "list", "c", "-o", "json"}},
		{"", []string{"secret", "list"}},
		{"", []string{"secret", "list", "-o", "json"}},
		{"", []string{"policy", "get", "c"}},
		{"", []string{"policy", "get", "c", "-o", "json"}},
		{"n\n", []string{"secret", "list", "c", "--show-values"}},
		{"", []string{"secret", "set", "c", "BAD KEY", canary}},
		{"", []string{"secret", "set", "c", "NUL", canary + "\x01"}},
		{"", []string{"secret", "delete", "c", "ARG"}},
		{"", []string{"secret", "delete", "c", "ARG"}},
		{"", []string{"permission", "revoke", "environment-variable", "c", "POLICY"}},
	}
	ev := e.With("HOSTVAR=" + canary)
	for _, s := range steps {
		args := append([]string{"--log-level", "debug"}, s.args...)
		out, errOut, _ := ev.Run(t, s.stdin, args...)
		assertNoCanary(t, "stdout of "+strings.Join(s.args, " "), []byte(out), canary)
		assertNoCanary(t, "stderr of "+strings.Join(s.args, " "), []byte(errOut), canary)
	}
	out, _ := must(t, ev, 0, "", "secret", "list", "c", "--show-values", "--yes")
	if !strings.Contains(out, "STDIN: "+canary+"\n") {
		t.Errorf("--show-values --yes does not show the value:\n%s", out)
	}
	// The value is nowhere on disk but the secrets and policy files.
	filepath.WalkDir(e.Home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == env {
			return err
		}
		data, _ := os.ReadFile(path)
		if strings.HasSuffix(path, filepath.Join("secrets", "c.yaml")) || strings.HasSuffix(path, "c.policy.yaml") {
			return nil
		}
		assertNoCanary(t, path, data, canary)
		return nil
	})
}
