package safefile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wassette/wassette/internal/safefile"
)

func TestWriteAtomicFailureLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	unlock, err := safefile.Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// The target is a non-empty folder, so the final rename fails.
	os.MkdirAll(filepath.Join(dir, "target", "x"), 0o700)
	if err := safefile.WriteAtomic(dir, "target", []byte("data")); err == nil {
		t.Fatal("rename over a folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left after an error: %s", e.Name())
		}
	}
}

func TestReadFileChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := safefile.EnsureDir(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("0123456789"), 0o600)
	if _, err := safefile.ReadFile(path, 5); !errors.Is(err, safefile.ErrTooLarge) {
		t.Errorf("over the limit: %v", err)
	}
	if data, err := safefile.ReadFile(path, 10); err != nil || string(data) != "0123456789" {
		t.Errorf("ReadFile = %q, %v", data, err)
	}
	os.Chmod(path, 0o640)
	if _, err := safefile.ReadFile(path, 10); !errors.Is(err, safefile.ErrInsecure) {
		t.Errorf("group-readable: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := safefile.ReadFile(filepath.Join(dir, "sub"), 10); !errors.Is(err, safefile.ErrInsecure) {
		t.Errorf("a folder read as a file: %v", err)
	}
	if _, err := safefile.ReadFile(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestCacheDropsRemovedAndBrokenFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	safefile.EnsureDir(dir)
	path := filepath.Join(dir, "f")
	parses := 0
	c := safefile.NewCache(100, func(_ string, data []byte) (string, error) {
		parses++
		if string(data) == "bad" {
			return "", errors.New("bad content")
		}
		return string(data), nil
	})
	if _, ok, err := c.Load(path); ok || err != nil {
		t.Fatalf("missing file: %v %v", ok, err)
	}
	os.WriteFile(path, []byte("one"), 0o600)
	if v, ok, err := c.Load(path); v != "one" || !ok || err != nil {
		t.Fatalf("Load = %q %v %v", v, ok, err)
	}
	os.WriteFile(path, []byte("bad"), 0o600)
	if _, _, err := c.Load(path); err == nil {
		t.Fatal("broken file loaded")
	}
	if c.Len() != 0 {
		t.Error("a broken file stays cached")
	}
	os.WriteFile(path, []byte("two"), 0o600)
	if v, _, _ := c.Load(path); v != "two" {
		t.Errorf("Load = %q", v)
	}
	os.Remove(path)
	if _, ok, _ := c.Load(path); ok || c.Len() != 0 {
		t.Error("a removed file stays cached")
	}
}
