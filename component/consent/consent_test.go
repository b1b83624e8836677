package consent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApproveKeepRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get("weather"); err != nil || r.Approves("sha256:a") || r.ComponentID != "weather" {
		t.Fatalf("no record: %+v, %v", r, err)
	}
	if err := s.Approve("weather", Approval{Digest: "sha256:a", Source: "file:///a.wasm"}, false); err != nil {
		t.Fatal(err)
	}
	// A replacement in progress approves both; Keep narrows to the new one.
	if err := s.Approve("weather", Approval{Digest: "sha256:b"}, true); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get("weather")
	if !r.Approves("sha256:a") || !r.Approves("sha256:b") || r.Approves("") {
		t.Errorf("during a replacement: %+v", r)
	}
	if err := s.Keep("weather", "sha256:b"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get("weather"); r.Approves("sha256:a") || !r.Approves("sha256:b") || len(r.Approved) != 1 {
		t.Errorf("after Keep: %+v", r)
	}
	// Approving without keep replaces; approving the same digest twice lists it once.
	s.Approve("weather", Approval{Digest: "sha256:c"}, false)
	s.Approve("weather", Approval{Digest: "sha256:c"}, true)
	if r, _ := s.Get("weather"); len(r.Approved) != 1 || !r.Approves("sha256:c") || r.Approved[0].At.IsZero() {
		t.Errorf("after re-approval: %+v", r)
	}
	path := filepath.Join(dir, "weather"+Ext)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("record file: %v, %v", fi, err)
	}
	// Records of different IDs never mix.
	if r, _ := s.Get("Weather"); r.Approves("sha256:c") {
		t.Error("another ID shares the record")
	}
	if err := s.Remove("weather"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after Remove: %v", err)
	}
	if err := s.Remove("weather"); err != nil {
		t.Errorf("Remove of nothing: %v", err)
	}
}

func TestBrokenOrForeignRecordsApproveNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	s, _ := Open(dir)
	if err := s.Approve("a", Approval{Digest: "sha256:x"}, false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "a"+Ext)
	// A record copied from another ID approves nothing for this one.
	os.WriteFile(path, []byte(`{"component_id":"b","approved":[{"digest":"sha256:x"}]}`), 0o600)
	if r, err := s.Get("a"); err != nil || r.Approves("sha256:x") {
		t.Errorf("foreign record: %+v, %v", r, err)
	}
	// A broken one is an error for readers, and is replaced by the next approval.
	os.WriteFile(path, []byte(`{`), 0o600)
	if _, err := s.Get("a"); err == nil || !strings.Contains(err.Error(), "wassette component approve") {
		t.Errorf("broken record: %v", err)
	}
	if err := s.Approve("a", Approval{Digest: "sha256:y"}, true); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Get("a"); err != nil || !r.Approves("sha256:y") || r.Approves("sha256:x") {
		t.Errorf("after repair: %+v, %v", r, err)
	}
	// A record open to others is refused, like a secrets file.
	os.Chmod(path, 0o644)
	if _, err := s.Get("a"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("record open to others: %v", err)
	}
}
