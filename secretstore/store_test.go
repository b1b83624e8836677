package secretstore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wassette/wassette/internal/strictyaml/yamltest"
	"github.com/wassette/wassette/secretstore"
)

func open(t testing.TB) *secretstore.Store {
	t.Helper()
	s, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func vals(kv ...string) map[string]secretstore.Value {
	m := map[string]secretstore.Value{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = secretstore.NewValue(kv[i+1])
	}
	return m
}

func plain(t testing.TB, s *secretstore.Store, id string) map[string]string {
	t.Helper()
	sec, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for k, v := range sec.All() {
		m[k] = v.Reveal()
	}
	return m
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func writeFile(t testing.TB, s *secretstore.Store, id, content string) string {
	t.Helper()
	path, err := s.Path(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(s.Dir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSetGetDelete(t *testing.T) {
	s := open(t)
	if got := plain(t, s, "weather"); len(got) != 0 {
		t.Fatalf("new store has secrets: %v", got)
	}
	if err := s.Set("weather", vals("API_KEY", "sk-1", "ENDPOINT_URL", "https://api.weather.com/v1", "TIMEOUT", "30")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("weather", vals("API_KEY", "sk-2")); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"API_KEY": "sk-2", "ENDPOINT_URL": "https://api.weather.com/v1", "TIMEOUT": "30"}
	if got := plain(t, s, "weather"); !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	sec, _ := s.Get("weather")
	if keys := strings.Join(sec.Keys(), ","); keys != "API_KEY,ENDPOINT_URL,TIMEOUT" {
		t.Errorf("Keys() = %s, want sorted", keys)
	}
	if v, ok, err := s.Lookup("weather", "TIMEOUT"); err != nil || !ok || v.Reveal() != "30" {
		t.Errorf("Lookup = %v %v %v", v.Reveal(), ok, err)
	}

	err := s.Delete("weather", "API_KEY", "MISSING")
	if !errors.Is(err, secretstore.ErrNotFound) || !strings.Contains(err.Error(), `"MISSING"`) {
		t.Fatalf("Delete of a missing key = %v, want ErrNotFound naming it", err)
	}
	if got := plain(t, s, "weather"); !equal(got, want) {
		t.Fatalf("a failed Delete changed the secrets: %v", got)
	}
	if err := s.Delete("weather", "API_KEY"); err != nil {
		t.Fatal(err)
	}
	delete(want, "API_KEY")
	if got := plain(t, s, "weather"); !equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if err := s.Delete("weather", "ENDPOINT_URL", "TIMEOUT"); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("weather")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still there after the last key was deleted: %v", err)
	}
	if err := s.Delete("weather", "X"); !errors.Is(err, secretstore.ErrNotFound) {
		t.Errorf("Delete on a component without secrets = %v", err)
	}
	assertNoTemps(t, s.Dir())
}

func TestSetRejectsBadInputWithoutWriting(t *testing.T) {
	s := open(t)
	for _, bad := range []map[string]secretstore.Value{
		vals("BAD KEY", "v"),
		vals("OK", canary+"\x00"),
		vals("OK", strings.Repeat("x", secretstore.MaxValueLen+1)),
		vals("OK", "fine", "A=B", "v"),
	} {
		err := s.Set("c", bad)
		if err == nil {
			t.Fatal("Set accepted bad input")
		}
		if strings.Contains(err.Error(), canary) {
			t.Errorf("error echoes the value: %v", err)
		}
	}
	if err := s.Set("", vals("K", "v")); !errors.Is(err, secretstore.ErrInvalidID) {
		t.Errorf("Set with empty ID = %v", err)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("rejected writes created the folder: %v", err)
	}
}

func TestModesIgnoreUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	s := open(t)
	if err := s.Set("c", vals("K", "v")); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("c")
	for p, want := range map[string]fs.FileMode{s.Dir(): 0o700, path: 0o600, filepath.Join(s.Dir(), ".lock"): 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", p, got, want)
		}
	}
}

func TestFileFormat(t *testing.T) {
	s := open(t)
	path := writeFile(t, s, "c", `# my notes about these keys
# second line

TIMEOUT: 30
FLAG: on
EMPTY:
TILDE: ~
QUOTED: "a: b # not a comment"
PEM: |
  -----BEGIN KEY-----
  abc
  -----END KEY-----
`)
	want := map[string]string{
		"TIMEOUT": "30", "FLAG": "on", "EMPTY": "", "TILDE": "~", "QUOTED": "a: b # not a comment",
		"PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----\n",
	}
	if got := plain(t, s, "c"); !equal(got, want) {
		t.Fatalf("hand-written file read as %q, want %q", got, want)
	}
	tricky := "quote\" back\\slash \t tab\r\n\u2028 \u0085 \ufeff 🙂 'single' #hash: colon"
	if err := s.Set("c", vals("NEW", tricky, "on", "key named on")); err != nil {
		t.Fatal(err)
	}
	want["NEW"], want["on"] = tricky, "key named on"
	if got := plain(t, s, "c"); !equal(got, want) {
		t.Fatalf("after rewrite got %q, want %q", got, want)
	}
	data, _ := os.ReadFile(path)
	text := string(data)
	if !strings.HasPrefix(text, "# my notes about these keys\n# second line\n") {
		t.Errorf("top comment lost:\n%s", text)
	}
	if !strings.Contains(text, `TIMEOUT: "30"`) || !strings.Contains(text, `"on": "key named on"`) {
		t.Errorf("values or YAML 1.1 keywords not quoted:\n%s", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var keys []string
	for _, l := range lines {
		if l != "" && l[0] != '#' {
			keys = append(keys, l[:strings.Index(l, ":")])
		}
	}
	if strings.Join(keys, ",") != `EMPTY,FLAG,NEW,PEM,QUOTED,TILDE,TIMEOUT,"on"` {
		t.Errorf("keys not one per line in sorted order: %v", keys)
	}
}

func TestBadFilesNameFileAndLineNotValues(t *testing.T) {
	s := open(t)
	for name, tc := range map[string]struct{ content, want string }{
		"nested":    {"A: x\nB:\n  inner: " + canary + "\n", "line 3, column 3: the value of \"B\" is a nested map"},
		"list":      {"A: [" + canary + "]\n", "line 1, column 4: the value of \"A\" is a list"},
		"duplicate": {"A: " + canary + "\nB: 2\nA: 3\n", "line 3, column 1: key \"A\" appears twice (first on line 1)"},
		"utf8":      {"A: ok\nB: " + canary + "\xff\n", "line 2, column 31: not valid UTF-8"},
		"top list":  {"- " + canary + "\n", "line 1, column 1: expected KEY: value lines, found a list"},
		"bad key":   {"\"A " + canary + "\": x\n", "line 1, column 1: invalid secret key: it contains whitespace"},
		"nul":       {"A: \"" + canary + "\\0\"\n", "line 1, column 4: the value of \"A\": invalid secret value: it contains a NUL byte"},
		"control":   {"A: " + canary + "\x01\n", "line 1, column 31: the control character U+0001"},
		"anchor":    {"A: &" + canary + " x\nB: *" + canary + "\n", "line 1, column 4: a YAML anchor (&name)"},
		"alias":     {"A: x\nB: *" + canary + "\n", "line 2, column 4: a YAML alias (*name)"},
		"tag":       {"A: x\nB: !" + canary + "\n", "line 2, column 4: a YAML tag (!name)"},
		"bare tag":  {"A: ! " + canary + "\n", "line 1, column 4: a YAML tag (!name)"},
		"merge":     {"A: x\n<<: {B: " + canary + "}\n", "line 2, column 1: a YAML merge key (<<)"},
		"two docs":  {"A: x\n---\nB: " + canary + "\n", "line 2: a second YAML document"},
		"syntax":    {"A: \"" + canary + "\n", "line 2: the file ends inside a quoted value"},
		"tab":       {"A:\n\t- " + canary + "\n", "line 2: a character that cannot start a value here: a tab"},
	} {
		path := writeFile(t, s, "c", tc.content)
		_, err := s.Get("c")
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: error %q should name %s and say %q", name, msg, path, tc.want)
		}
		if strings.Contains(msg, canary) {
			t.Errorf("%s: error echoes a value: %s", name, msg)
		}
		// A writer must not overwrite a file it cannot read: that would lose data.
		if err := s.Set("c", vals("Z", "z")); err == nil {
			t.Errorf("%s: Set overwrote an unreadable file", name)
		}
	}
}

func TestInsecureFilesRefused(t *testing.T) {
	s := open(t)
	path := writeFile(t, s, "c", "A: b\n")

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get("c")
	if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("group-readable file: %v, want an error with the chmod fix", err)
	}
	if err := s.Set("c", vals("K", "v")); err == nil {
		t.Error("Set wrote over a group-readable file")
	}
	os.Chmod(path, 0o600)

	other := filepath.Join(t.TempDir(), "other.yaml")
	os.WriteFile(other, []byte("A: b\n"), 0o600)
	os.Remove(path)
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("c"); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symlink: %v, want refusal", err)
	}
	os.Remove(path)

	if os.Getuid() == 0 { // only root can give a file away
		writeFile(t, s, "c", "A: b\n")
		if err := os.Chown(path, 4242, 4242); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get("c"); err == nil || !strings.Contains(err.Error(), "owned by user 4242") {
			t.Errorf("foreign owner: %v, want refusal", err)
		}
		os.Remove(path)
	}

	open := filepath.Join(t.TempDir(), "open")
	os.Mkdir(open, 0o755)
	os.Chmod(open, 0o755)
	if _, err := secretstore.Open(open); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("world-readable folder: %v, want refusal with the fix", err)
	}
}

// TestCacheSeesHandEdits checks edits that keep the size, and even the mtime.
func TestCacheSeesHandEdits(t *testing.T) {
	s := open(t)
	if err := s.Set("c", vals("K", "aaaa")); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("c")
	for i, v := range []string{"bbbb", "cccc", "dddd"} {
		if got := plain(t, s, "c")["K"]; i == 0 && got != "aaaa" {
			t.Fatalf("got %q", got)
		}
		fi, _ := os.Stat(path)
		data, _ := os.ReadFile(path)
		prev := plain(t, s, "c")["K"]
		edited := strings.Replace(string(data), prev, v, 1)
		// Rewrite in place (same inode), same size, then put the mtime back.
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
		if got := plain(t, s, "c")["K"]; got != v {
			t.Fatalf("edit %d not seen: got %q, want %q", i, got, v)
		}
	}
	os.Remove(path)
	if got := plain(t, s, "c"); len(got) != 0 {
		t.Errorf("removed file still cached: %v", got)
	}
}

func TestComponents(t *testing.T) {
	s := open(t)
	if got, err := s.Components(); err != nil || len(got) != 0 {
		t.Fatalf("Components of a missing folder = %v, %v", got, err)
	}
	for _, id := range []string{"weather", "Weather", "a/b", "a_b", "CON", ".hidden"} {
		if err := s.Set(id, vals("K", "v", "K2", "v")); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, s, "broken", "A: [x]\n")
	os.WriteFile(filepath.Join(s.Dir(), "Hand-Made.yaml"), []byte("A: b\n"), 0o600)
	os.WriteFile(filepath.Join(s.Dir(), ".weather.yaml.tmp-123"), []byte("A: b\n"), 0o600)

	got, err := s.Components()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
		if c.ID == "broken" {
			if c.Err == nil {
				t.Error("broken file listed without its error")
			}
		} else if c.Count != 2 || c.Err != nil {
			t.Errorf("%s: count %d err %v", c.ID, c.Count, c.Err)
		}
	}
	if strings.Join(ids, "|") != ".hidden|CON|Weather|a/b|a_b|broken|weather" {
		t.Errorf("Components = %q", ids)
	}
}

func TestDistinctIDsDistinctFiles(t *testing.T) {
	s := open(t)
	ids := []string{"a/b", "a_b", "a%2Fb", "A", "a", "..", "../x", "/abs", "con", "CON", "con.txt", "a b", "é", "e\u0301"}
	for i, id := range ids {
		if err := s.Set(id, vals("ID", id, "N", string(rune('A'+i)))); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
	}
	seen := map[string]string{}
	for _, id := range ids {
		if got := plain(t, s, id)["ID"]; got != id {
			t.Errorf("component %q reads the secrets of %q", id, got)
		}
		p, _ := s.Path(id)
		if filepath.Dir(p) != s.Dir() {
			t.Errorf("component %q is stored outside the folder: %s", id, p)
		}
		if other, dup := seen[strings.ToLower(p)]; dup {
			t.Errorf("%q and %q share a file on a case-insensitive file system", id, other)
		}
		seen[strings.ToLower(p)] = id
	}
}

func TestStaleTempFilesSwept(t *testing.T) {
	s := open(t)
	if err := s.Set("c", vals("K", "v")); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.Dir(), ".c.yaml.tmp-999")
	os.WriteFile(stale, []byte("half"), 0o600)
	s2, _ := secretstore.Open(s.Dir()) // a new process's store sweeps on its first write
	if err := s2.Set("c", vals("K", "w")); err != nil {
		t.Fatal(err)
	}
	assertNoTemps(t, s.Dir())
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestLookupWithoutFolder(t *testing.T) {
	s := open(t)
	start := time.Now()
	if _, ok, err := s.Lookup("nobody", "K"); ok || err != nil {
		t.Errorf("Lookup = %v, %v", ok, err)
	}
	_ = start
}

// No error of the reader quotes a value of the file: thousands of hostile files (anchors,
// aliases, tags, merge keys, broken quoting and escapes, bad keys, nesting, control
// characters, random damage), each checked for every value it holds.
func TestReadErrorsQuoteNoValue(t *testing.T) {
	s := open(t)
	refused := 0
	for i, c := range yamltest.Secrets(3000, 7) {
		writeFile(t, s, "c", string(c.Data))
		_, err := s.Get("c")
		if err == nil {
			continue
		}
		refused++
		if v, ok := yamltest.Leak(err.Error(), c, "nested"); ok {
			t.Fatalf("case %d: the error quotes %q:\n%s\ninput:\n%s", i, v, err, c.Data)
		}
	}
	if refused < 1000 {
		t.Errorf("only %d of 3000 hostile files were refused; the generator has gone soft", refused)
	}
}
