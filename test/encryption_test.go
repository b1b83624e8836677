//go:build unix

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wassette/wassette/internal/keyringtest"
	"github.com/wassette/wassette/secretstore"
)

const (
	encCanaryBefore = "sk-enc-before-5d1f9a3c7e2b8046"
	encCanaryAfter  = "sk-enc-after-a8c2e4f6b1d3907e"
	// noBus is a session bus that does not exist: a machine without a keyring.
	noBus = "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/wassette-test-bus"
)

// assertNoPlaintextUnder fails t if any file under dir holds one of the secrets in any
// encoding of canaryForms.
func assertNoPlaintextUnder(t *testing.T, dir string, secrets ...string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, s := range secrets {
			assertNoCanary(t, path, data, s)
		}
		return nil
	})
}

// encryptAndUse sets a secret, enables encryption with enable's arguments, sets another,
// and checks what a user sees: no plaintext in any file under the test's home (data,
// config and cache folders), `secret list` masks and `--show-values` reveals, and the
// weather component gets the plaintext key.
func encryptAndUse(t *testing.T, e *wassetteEnv, enable ...string) {
	t.Helper()
	api := newFakeWeatherAPI(t)
	must(t, e, 0, encCanaryBefore+"\n", "secret", "set", "weather", "API_KEY", "-")
	must(t, e, 0, "", "secret", "set", "weather", "ENDPOINT_URL", api.URL)
	out, _ := must(t, e, 0, "", append([]string{"secret", "encryption", "enable"}, enable...)...)
	if !strings.Contains(out, "Encryption enabled for "+e.SecretsDir()) {
		t.Errorf("enable printed %q", out)
	}
	must(t, e, 0, encCanaryAfter+"\n", "secret", "set", "weather", "TOKEN", "-")

	out, _ = must(t, e, 0, "", "secret", "list", "weather")
	if !strings.Contains(out, "API_KEY: sk-***046\n") || !strings.Contains(out, "TOKEN: sk-***07e\n") {
		t.Errorf("secret list:\n%s", out)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "weather", "--show-values", "--yes")
	if !strings.Contains(out, "API_KEY: "+encCanaryBefore+"\n") || !strings.Contains(out, "TOKEN: "+encCanaryAfter+"\n") {
		t.Errorf("secret list --show-values:\n%s", out)
	}
	must(t, e, 0, "", "component", "load", exampleWasm(t, "weather"))
	must(t, e, 0, "", "permission", "grant", "network", "weather", strings.TrimPrefix(api.URL, "http://"))
	must(t, e, 0, "", "tool", "invoke", "get_weather", "--args", `{"city":"Paris"}`)
	if got, _ := api.lastKey(); got != encCanaryBefore {
		t.Errorf("the component sent the key %q, want the plaintext secret", got)
	}
	out, _ = must(t, e, 0, "", "secret", "encryption", "status", "-o", "json")
	var st struct {
		Enabled bool `json:"enabled"`
		Key     struct {
			Readable bool `json:"readable"`
		} `json:"key"`
		Files          int `json:"files"`
		PlaintextFiles int `json:"plaintext_files"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || !st.Enabled || !st.Key.Readable || st.Files != 1 || st.PlaintextFiles != 0 {
		t.Errorf("status -o json: %v\n%s", err, out)
	}
	assertNoPlaintextUnder(t, e.Home, encCanaryBefore, encCanaryAfter)
}

// With a real Secret Service (a gnome-keyring of the test's own, unlocked): enable keeps
// the key in the keyring, and a server process reads through it too.
func TestEncryptionWithKeyring(t *testing.T) {
	e := newEnv(t).With("DBUS_SESSION_BUS_ADDRESS=" + keyringtest.Start(t))
	encryptAndUse(t, e)
	out, _ := must(t, e, 0, "", "secret", "encryption", "status")
	if !strings.Contains(out, `the OS keyring (service "wassette", account "age1`) || !strings.Contains(out, "Key status:  readable") {
		t.Errorf("status:\n%s", out)
	}
	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	if keys := listKeys(t, c, "weather"); len(keys) != 3 || keys[0] != "API_KEY=sk-***046" || keys[2] != "TOKEN=sk-***07e" {
		t.Errorf("list-secrets over MCP: %v", keys)
	}
	assertNoCanary(t, "serve stdout", p.stdout.Bytes(), encCanaryBefore)
	assertNoCanary(t, "serve stderr", p.stderr.Bytes(), encCanaryBefore)
	// Back up the key, then read with the backup alone: no keyring.
	backup := filepath.Join(t.TempDir(), "backup.key")
	must(t, e, 0, "", "secret", "encryption", "export-key", backup)
	out, _ = must(t, newEnvLike(e, noBus, secretstore.IdentityFileEnv+"="+backup), 0, "", "secret", "list", "weather", "--show-values", "--yes")
	if !strings.Contains(out, encCanaryBefore) {
		t.Errorf("read with the exported key:\n%s", out)
	}
}

// newEnvLike is e with its variables replaced or added.
func newEnvLike(e *wassetteEnv, vars ...string) *wassetteEnv {
	c := *e
	c.Vars = nil
	for _, v := range e.Vars {
		name, _, _ := strings.Cut(v, "=")
		keep := true
		for _, nv := range vars {
			if strings.HasPrefix(nv, name+"=") {
				keep = false
			}
		}
		if keep {
			c.Vars = append(c.Vars, v)
		}
	}
	c.Vars = append(c.Vars, vars...)
	return &c
}

// Without a keyring, enable says so and suggests --key-file; with it, everything works.
func TestEncryptionWithKeyFileWithoutKeyring(t *testing.T) {
	e := newEnv(t).With(noBus)
	must(t, e, 0, "", "secret", "set", "other", "K", "v")
	path := filepath.Join(e.SecretsDir(), "other.yaml")
	before, _ := os.ReadFile(path)
	_, stderr := must(t, e, 1, "", "secret", "encryption", "enable")
	if !strings.Contains(stderr, "OS keyring is not available") || !strings.Contains(stderr, "--key-file") {
		t.Errorf("enable without a keyring: %q", stderr)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed enable changed a file")
	}
	os.Remove(path)
	key := filepath.Join(e.Home, ".config", "wassette", "age.key")
	os.MkdirAll(filepath.Dir(key), 0o700)
	encryptAndUse(t, e, "--key-file", key)
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", fi, err)
	}
}

// A service sets WASSETTE_AGE_IDENTITY_FILE, with no keyring present.
func TestEncryptionWithEnvironmentVariable(t *testing.T) {
	key := filepath.Join(t.TempDir(), "service.key")
	encryptAndUse(t, newEnv(t).With(noBus, secretstore.IdentityFileEnv+"="+key))
	if _, err := os.Stat(key); err != nil {
		t.Errorf("the variable's key file was not made: %v", err)
	}
}

// A missing key, a wrong key and a damaged value: clear errors that name where the key
// was looked for (or which value), no value shown, and files byte-identical afterwards;
// then disable restores plaintext files that read back the same.
func TestEncryptionFailuresCLI(t *testing.T) {
	e := newEnv(t).With(noBus)
	key := filepath.Join(e.Home, "age.key")
	must(t, e, 0, encCanaryBefore+"\n", "secret", "set", "weather", "API_KEY", "-")
	must(t, e, 0, "", "secret", "set", "weather", "REGION", "eu")
	must(t, e, 0, "", "secret", "encryption", "enable", "--key-file", key)
	path := filepath.Join(e.SecretsDir(), "weather.yaml")
	good, _ := os.ReadFile(path)
	keyData, _ := os.ReadFile(key)

	fails := func(name string, want ...string) {
		t.Helper()
		before, _ := os.ReadFile(path)
		for _, args := range [][]string{
			{"secret", "list", "weather"},
			{"secret", "list", "weather", "--show-values", "--yes"},
			{"secret", "set", "weather", "NEW", "x"},
			{"secret", "delete", "weather", "REGION"},
			{"secret", "encryption", "disable"},
		} {
			stdout, stderr, code := e.Run(t, "", args...)
			if code != 1 {
				t.Errorf("%s: wassette %v: exit %d, want 1", name, args, code)
			}
			for _, w := range want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%s: wassette %v says %q, want %q", name, args, stderr, w)
				}
			}
			assertNoCanary(t, name+" output", []byte(stdout+stderr), encCanaryBefore)
			assertNoCanary(t, name+" output", []byte(stdout+stderr), strings.TrimSpace(strings.Split(string(keyData), "\n")[2]))
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s: the secrets file changed", name)
		}
	}
	os.Rename(key, key+".away")
	fails("missing key", "no key to decrypt", key, "$"+secretstore.IdentityFileEnv+": not set")
	os.Rename(key+".away", key)

	other := filepath.Join(e.Home, "other.key")
	must(t, newEnv(t).With(noBus), 0, "", "secret", "encryption", "enable", "--key-file", other)
	os.WriteFile(key, mustRead(t, other), 0o600)
	fails("wrong key", "wrong key", key)
	os.WriteFile(key, keyData, 0o600)

	lines := strings.Split(string(good), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "API_KEY: ") {
			lines[i] = l[:60] + strings.Repeat("x", 10) + l[70:]
		}
	}
	os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o600)
	fails("damaged value", path, `the value of "API_KEY" is damaged`)
	os.WriteFile(path, good, 0o600)

	out, _ := must(t, e, 0, "", "secret", "encryption", "disable")
	if !strings.Contains(out, "1 file(s) rewritten in plaintext") || !strings.Contains(out, "The key stays in the key file "+key) {
		t.Errorf("disable printed %q", out)
	}
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), `API_KEY: "`+encCanaryBefore+`"`) {
		t.Errorf("after disable the file is:\n%s", data)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "weather", "--show-values", "--yes")
	if out != "API_KEY: "+encCanaryBefore+"\nREGION: eu\n" {
		t.Errorf("after disable: %q", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// editEnv is an encrypted folder with one secret, and an editor made of a shell command.
func editEnv(t *testing.T) *wassetteEnv {
	t.Helper()
	e := newEnv(t).With(noBus)
	must(t, e, 0, encCanaryBefore+"\n", "secret", "set", "weather", "API_KEY", "-")
	must(t, e, 0, "", "secret", "set", "weather", "REGION", "old-region")
	must(t, e, 0, "", "secret", "encryption", "enable", "--key-file", filepath.Join(e.Home, "age.key"))
	return e
}

// noEditLeftovers fails t if any edit file is left in the secrets folder, or plaintext
// anywhere.
func noEditLeftovers(t *testing.T, e *wassetteEnv) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(e.SecretsDir(), ".edit"))
	for _, ent := range entries {
		t.Errorf("an edit session was left behind: %s", ent.Name())
	}
	assertNoPlaintextUnder(t, e.Home, encCanaryBefore)
}

func TestSecretEdit(t *testing.T) {
	e := editEnv(t)
	seen := filepath.Join(e.Home, "seen")
	// The editor (with arguments, run through the shell) sees the plaintext in a 0600
	// file inside the secrets folder, and changes a value.
	editor := `sh -c 'stat -c %a "$1" > ` + seen + `.mode; echo "$1" > ` + seen + `.path; grep -c ` + encCanaryBefore + ` "$1" > ` + seen + `.grep; sed -i s/old-region/new-region/ "$1"' --`
	out, _ := must(t, e.With("EDITOR="+editor, "VISUAL="), 0, "", "secret", "edit", "weather")
	if out != "Secrets of component 'weather' updated\n" {
		t.Errorf("edit printed %q", out)
	}
	if mode := strings.TrimSpace(string(mustRead(t, seen+".mode"))); mode != "600" {
		t.Errorf("the edited file had mode %s", mode)
	}
	if p := strings.TrimSpace(string(mustRead(t, seen+".path"))); !strings.HasPrefix(p, e.SecretsDir()+string(filepath.Separator)) {
		t.Errorf("the edited file was %s, outside the secrets folder", p)
	}
	if n := strings.TrimSpace(string(mustRead(t, seen+".grep"))); n != "1" {
		t.Errorf("the edited file did not hold the decrypted value (%s)", n)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "weather", "--show-values", "--yes")
	if out != "API_KEY: "+encCanaryBefore+"\nREGION: new-region\n" {
		t.Errorf("after edit: %q", out)
	}
	data := mustRead(t, filepath.Join(e.SecretsDir(), "weather.yaml"))
	if strings.Contains(string(data), "new-region") || strings.Count(string(data), `: "age:`) != 2 {
		t.Errorf("the edit was not encrypted:\n%s", data)
	}
	noEditLeftovers(t, e)

	// An editor that fails changes nothing and leaves nothing.
	_, stderr := must(t, e.With("EDITOR=sh -c 'sed -i s/new-region/x/ \"$1\"; exit 3' --"), 1, "", "secret", "edit", "weather")
	if !strings.Contains(stderr, "the editor") || !strings.Contains(stderr, "nothing was changed") {
		t.Errorf("failing editor: %q", stderr)
	}
	noEditLeftovers(t, e)
	// An edit that is not a valid secrets file changes nothing (no terminal: no retry).
	_, stderr = must(t, e.With(`EDITOR=sh -c 'echo "BAD: *alias" >> "$1"' --`), 1, "", "secret", "edit", "weather")
	if !strings.Contains(stderr, "not valid") || !strings.Contains(stderr, "YAML alias") {
		t.Errorf("invalid edit: %q", stderr)
	}
	noEditLeftovers(t, e)
	// A key that another writer changed meanwhile, and the edit changed too: a conflict.
	conflict := `sh -c '` + e.Bin + ` secret set weather REGION theirs >/dev/null && sed -i s/new-region/mine/ "$1"' --`
	_, stderr = must(t, e.With("EDITOR="+conflict), 1, "", "secret", "edit", "weather")
	if !strings.Contains(stderr, `"REGION" changed while you edited`) {
		t.Errorf("conflict: %q", stderr)
	}
	out, _ = must(t, e, 0, "", "secret", "list", "weather", "--show-values", "--yes")
	if !strings.Contains(out, "REGION: theirs\n") {
		t.Errorf("after the conflict: %q", out)
	}
	noEditLeftovers(t, e)
}

// startEdit starts `secret edit` with an editor that records its file and pid and waits;
// it returns the command and the editor's pid once the editor has the file.
func startEdit(t *testing.T, e *wassetteEnv) (*os.Process, int, string) {
	t.Helper()
	mark := filepath.Join(e.Home, "editor")
	editor := `sh -c 'echo "$1" > ` + mark + `.path.tmp; echo $$ > ` + mark + `.pid; mv ` + mark + `.path.tmp ` + mark + `.path; exec sleep 600' --`
	cmd := e.With("EDITOR="+editor).Command(context.Background(), "secret", "edit", "weather")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second) // a hang guard, not a timing assertion
	for {
		if path, err := os.ReadFile(mark + ".path"); err == nil {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(mustRead(t, mark+".pid"))))
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			os.Remove(mark + ".path")
			go cmd.Wait()
			return cmd.Process, pid, strings.TrimSpace(string(path))
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the editor never started")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A SIGKILL of wassette while the editor is open leaves the plaintext file; the next
// writer removes it. A SIGTERM is passed to the editor and the file is removed at once.
func TestSecretEditKilled(t *testing.T) {
	e := editEnv(t)
	proc, editorPid, path := startEdit(t, e)
	if !strings.Contains(string(mustRead(t, path)), encCanaryBefore) {
		t.Fatal("the edit file does not hold the decrypted secrets")
	}
	proc.Signal(syscall.SIGKILL)
	syscall.Kill(editorPid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond) // let the kill land; the check below does not depend on it
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("expected the killed edit's file to remain until the next writer: %v", err)
	}
	must(t, e, 0, "", "secret", "set", "weather", "OTHER", "1") // the next writer
	if _, err := os.Stat(path); err == nil {
		t.Error("the next writer left the killed edit's plaintext file")
	}
	noEditLeftovers(t, e)

	// A live edit is not swept by other writers; a SIGTERM ends it cleanly.
	proc, _, path = startEdit(t, e)
	must(t, e, 0, "", "secret", "set", "weather", "OTHER", "2")
	if _, err := os.Stat(path); err != nil {
		t.Errorf("a writer removed a live edit's file: %v", err)
	}
	proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(path); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGTERM did not end the edit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	noEditLeftovers(t, e)
}

// Hand-edited YAML that an alias, anchor or tag would make read as another value is
// refused, and no value reaches the CLI, the MCP results or the log.
func TestHandEditedYAMLIsRefusedWithoutEcho(t *testing.T) {
	const secret = "skHandTyped4e1c9a7b3d5f"
	e := newEnv(t)
	must(t, e, 0, "", "secret", "set", "weather", "A", "b")
	path := filepath.Join(e.SecretsDir(), "weather.yaml")
	p := startServe(t, e, "serve", "--stdio", "--log-level", "debug")
	c := p.stdioClient(t)
	for _, tc := range []struct{ content, want string }{
		{"API_KEY: *" + secret + "\n", "line 1, column 10: a YAML alias"},
		{"PASSWORD: !" + secret + "\n", "line 1, column 11: a YAML tag"},
		{"TOKEN: &" + secret + " rest\n", "line 1, column 8: a YAML anchor"},
	} {
		os.WriteFile(path, []byte(tc.content), 0o600)
		_, stderr := must(t, e, 1, "", "secret", "list", "weather")
		if !strings.Contains(stderr, path+": "+tc.want) {
			t.Errorf("secret list: %q, want %q", stderr, tc.want)
		}
		assertNoCanary(t, "secret list", []byte(stderr), secret)
		res := call(t, c, "list-secrets", map[string]any{"component_id": "weather"})
		if !res.IsError || !strings.Contains(resultText(res), tc.want) {
			t.Errorf("list-secrets: %s", resultText(res))
		}
		// A writer refuses to replace what it cannot read: the hand-typed text is kept.
		must(t, e, 1, "", "secret", "set", "weather", "NEW", "x")
		if got := string(mustRead(t, path)); got != tc.content {
			t.Errorf("the file changed to %q", got)
		}
	}
	policy := filepath.Join(e.DataDir, "components", "weather.policy.yaml")
	os.MkdirAll(filepath.Dir(policy), 0o700)
	os.WriteFile(policy, []byte("version: \"1.0\"\npermissions:\n  environment:\n    allow:\n      - key: K\n        value: *"+secret+"\n  netwrk: {}\n"), 0o600)
	_, stderr := must(t, e, 1, "", "policy", "get", "weather")
	if !strings.Contains(stderr, "line 6, column 16: a YAML alias") {
		t.Errorf("policy get: %q", stderr)
	}
	os.WriteFile(policy, []byte("version: \"1.0\"\npermissions:\n  netwrk: {}\n"), 0o600)
	_, stderr = must(t, e, 1, "", "policy", "get", "weather")
	if !strings.Contains(stderr, `line 3, column 3: unknown field "netwrk" in permissions; the fields allowed there are storage, network, environment, resources`) {
		t.Errorf("policy typo: %q", stderr)
	}
	p.stdin.Close()
	p.wait(t)
	assertNoCanary(t, "serve stdout", p.stdout.Bytes(), secret)
	assertNoCanary(t, "serve stderr", p.stderr.Bytes(), secret)
}
