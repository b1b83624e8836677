package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

var wasm = []byte("\x00asm\x01\x00\x00\x00")

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func open(t *testing.T, dir string) *Registry {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// tempDir returns a folder that does not exist yet, inside a test's temporary folder
// (which is open to others, so not fit to be a registry itself).
func tempDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "components")
}

func TestRoundTrip(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v, %v", fi, err)
	}
	loaded := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	tools := json.RawMessage(`[{"name":"get-time","description":"<now> & then"}]`)
	if err := r.Add("Time-Server", wasm, Metadata{Source: "oci://ghcr.io/x/time-server:1", LoadedAt: loaded, Tools: tools}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("fetch", append(wasm, 1), Metadata{Source: "file:///f.wasm", Digest: digestOf(append(wasm, 1))}); err != nil {
		t.Fatal(err)
	}

	// The policy package's files share the folder and stay untouched.
	policy := filepath.Join(dir, "%54ime-%53erver.policy.yaml")
	if err := os.WriteFile(policy, []byte("version: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	got, err := r.Get("Time-Server")
	if err != nil {
		t.Fatal(err)
	}
	if !validModule("%54ime-%53erver", got.Module) {
		t.Errorf("Get names the module %q", got.Module)
	}
	want := Metadata{
		ID: "Time-Server", Source: "oci://ghcr.io/x/time-server:1", Digest: digestOf(wasm),
		Size: int64(len(wasm)), LoadedAt: loaded.UTC(), Tools: tools, Module: got.Module,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v\nwant  %+v", got, want)
	}
	data, err := r.Wasm("Time-Server")
	if err != nil || string(data) != string(wasm) {
		t.Errorf("Wasm = %q, %v", data, err)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "%54ime-%53erver.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"loaded_at":"2026-01-02T02:04:05Z"`) {
		t.Errorf("metadata file lacks an RFC 3339 UTC time:\n%s", raw)
	}
	fetchMeta, err := r.Get("fetch")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"%54ime-%53erver.json", got.Module, "fetch.json", fetchMeta.Module} {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", n, fi, err)
		}
	}

	list, err := r.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != "Time-Server" || list[1].ID != "fetch" {
		t.Fatalf("List = %+v", list)
	}
	if list[1].LoadedAt.IsZero() || list[1].Size != 9 || list[1].Tools != nil {
		t.Errorf("fetch metadata = %+v", list[1])
	}

	// A restart sees the same components.
	r2 := open(t, dir)
	list2, err := r2.List()
	if err != nil || !reflect.DeepEqual(list, list2) {
		t.Errorf("after reopen: %+v, %v", list2, err)
	}

	if err := r2.Remove("Time-Server"); err != nil {
		t.Fatal(err)
	}
	_, err = r2.Get("Time-Server")
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}
	err = r2.Remove("Time-Server")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"Time-Server"`) {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := r2.Wasm("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Wasm of unknown ID: %v", err)
	}
	if got, want := names(t, dir), []string{"%54ime-%53erver.policy.yaml", ".lock", "fetch.json", fetchMeta.Module}; !reflect.DeepEqual(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
}

func TestAddReplaces(t *testing.T) {
	r := open(t, tempDir(t))
	if err := r.Add("x", wasm, Metadata{Source: "a", Tools: json.RawMessage(`[1]`)}); err != nil {
		t.Fatal(err)
	}
	v2 := append([]byte(nil), wasm...)
	v2[7] = 9
	if err := r.Add("x", v2, Metadata{Source: "b"}); err != nil {
		t.Fatal(err)
	}
	m, err := r.Get("x")
	if err != nil || m.Source != "b" || m.Digest != digestOf(v2) || m.Tools != nil {
		t.Errorf("after replace: %+v, %v", m, err)
	}
	if data, err := r.Wasm("x"); err != nil || string(data) != string(v2) {
		t.Errorf("Wasm after replace: %q, %v", data, err)
	}
	// The old module is gone: the folder holds one module for x, the one its metadata names.
	if got, want := names(t, r.Dir()), []string{".lock", "x.json", m.Module}; !reflect.DeepEqual(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
}

// TestLegacyLayout reads a component stored by an earlier version, as <stem>.wasm beside
// metadata that names no module, and replaces it in the current layout.
func TestLegacyLayout(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	meta := `{"id":"old","source":"file:///old.wasm","digest":"` + digestOf(wasm) + `","size":8,"loaded_at":"2026-01-01T00:00:00Z"}` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "old.json"), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "old.wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	r = open(t, dir) // Open keeps the module its metadata names
	if data, err := r.Wasm("old"); err != nil || string(data) != string(wasm) {
		t.Fatalf("legacy Wasm = %q, %v", data, err)
	}
	v2 := append(append([]byte(nil), wasm...), 2)
	if err := r.Add("old", v2, Metadata{}); err != nil {
		t.Fatal(err)
	}
	m, _ := r.Get("old")
	if got, want := names(t, dir), []string{".lock", "old.json", m.Module}; !reflect.DeepEqual(got, want) {
		t.Errorf("after replacing a legacy component the folder holds %v, want %v", got, want)
	}
}

func TestMetadataCannotNameOtherFiles(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	if err := r.Add("a", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	if err := r.Add("b", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	b, _ := r.Get("b")
	raw, _ := os.ReadFile(filepath.Join(dir, "a.json"))
	for _, name := range []string{b.Module, "../a.wasm", "a@0123456789ABCDEF.wasm", "a@x.wasm", "a.policy.yaml"} {
		edited := strings.Replace(string(raw), `"module":"a@`, `"module":"`+name+`","x":"`, 1)
		if err := os.WriteFile(filepath.Join(dir, "a.json"), []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Wasm("a"); err == nil || !strings.Contains(err.Error(), "names a module file") {
			t.Errorf("metadata naming %q: %v", name, err)
		}
	}
}

func TestAddRefuses(t *testing.T) {
	r := open(t, tempDir(t))
	for name, tc := range map[string]struct {
		id   string
		wasm []byte
		meta Metadata
		want string
	}{
		"bad ID":       {"a\x00b", wasm, Metadata{}, "invalid component ID"},
		"empty":        {"x", nil, Metadata{}, "empty"},
		"other ID":     {"x", wasm, Metadata{ID: "y"}, `names "y"`},
		"other digest": {"x", wasm, Metadata{Digest: digestOf([]byte("z"))}, "is not the module's"},
		"bad tools":    {"x", wasm, Metadata{Tools: json.RawMessage(`[`)}, "not valid JSON"},
	} {
		err := r.Add(tc.id, tc.wasm, tc.meta)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", name, err, tc.want)
		}
	}
	if list, err := r.List(); err != nil || len(list) != 0 {
		t.Errorf("List = %+v, %v", list, err)
	}
}

func TestTamper(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	if err := r.Add("t", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	meta, err := r.Get("t")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, meta.Module)

	same := append([]byte(nil), wasm...)
	same[4] = 2 // same size, other bytes
	if err := os.WriteFile(path, same, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = r.Wasm("t")
	if !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "load the component again") {
		t.Errorf("same size: %v", err)
	}

	if err := os.WriteFile(path, append(wasm, 0), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wasm("t"); !errors.Is(err, ErrTampered) {
		t.Errorf("longer: %v", err)
	}

	if err := os.WriteFile(path, wasm[:4], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wasm("t"); !errors.Is(err, ErrTampered) {
		t.Errorf("shorter: %v", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wasm("t"); err == nil || !strings.Contains(err.Error(), "module file") {
		t.Errorf("missing module: %v", err)
	}

	// Metadata edited to name another component is refused too.
	if err := r.Add("u", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "u.json"))
	raw = []byte(strings.Replace(string(raw), `"id":"u"`, `"id":"v"`, 1))
	if err := os.WriteFile(filepath.Join(dir, "u.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("u"); err == nil || !strings.Contains(err.Error(), `records the ID "v"`) {
		t.Errorf("renamed metadata: %v", err)
	}
}

func TestListSkipsForeignFilesAndReportsBadOnes(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	if err := r.Add("good", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"good.policy.yaml":       "x",
		".good.json.tmp-123":     "x",
		"UPPER.json":             "{}", // a name Stem never produces
		"notes.txt":              "x",
		"broken.json":            "{",
		"broken.wasm":            string(wasm),
		"other.policy.yaml.json": "", // an empty file: invalid
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list, err := r.List()
	if len(list) != 1 || list[0].ID != "good" {
		t.Errorf("List = %+v", list)
	}
	if err == nil || !strings.Contains(err.Error(), "broken.json") || !strings.Contains(err.Error(), "other.policy.yaml.json") {
		t.Errorf("List error = %v", err)
	}
	if strings.Contains(err.Error(), "UPPER") {
		t.Errorf("List error names a foreign file: %v", err)
	}
}

func TestOpenCleansUp(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	if err := r.Add("kept", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	kept, _ := r.Get("kept")
	// What a crash leaves: a temporary file, modules whose metadata was never written
	// (in either layout), and a new module of a component whose metadata still names
	// the old one. Files whose names this package does not write stay.
	for _, name := range []string{".orphan.wasm.tmp-42", "orphan.wasm", "orphan@0123456789abcdef.wasm",
		"kept@fedcba9876543210.wasm", "kept@NOTHEX.wasm", "kept.wasm"} {
		if err := os.WriteFile(filepath.Join(dir, name), wasm, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "orphan.policy.yaml"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	want := []string{".lock", "kept.json", "kept@NOTHEX.wasm", kept.Module, "orphan.policy.yaml"}
	sort.Strings(want)
	if got := names(t, dir); !reflect.DeepEqual(got, want) {
		t.Errorf("folder holds %v, want %v", got, want)
	}
	// A component whose metadata cannot be read keeps its modules, for repair.
	if err := os.WriteFile(filepath.Join(dir, "kept.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, kept.Module)); err != nil {
		t.Errorf("the module of unreadable metadata was removed: %v", err)
	}
	// Remove also clears a module left without metadata.
	if err := os.WriteFile(filepath.Join(dir, "half.wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("half"); err != nil {
		t.Errorf("Remove of a half-written component: %v", err)
	}
}

func TestOpenRefusesOpenFolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Open of a 0755 folder: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	dir := tempDir(t)
	r := open(t, dir)
	other := open(t, dir) // a second handle, as a second process would have
	if err := r.Add("c", wasm, Metadata{}); err != nil {
		t.Fatal(err)
	}
	v2 := append(append([]byte(nil), wasm...), 7)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 10 {
				data := wasm
				if (i+j)%2 == 1 {
					data = v2
				}
				if err := r.Add("c", data, Metadata{}); err != nil {
					errs <- err
				}
				if _, err := other.Wasm("c"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
