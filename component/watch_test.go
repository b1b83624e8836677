package component_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wassette/wassette/component"
)

// TestWatcher checks that changes in watched folders are signalled (nothing polls
// here) and that a folder that cannot be watched is skipped.
func TestWatcher(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	missing := filepath.Join(t.TempDir(), "missing")
	ctx, cancel := context.WithCancel(context.Background())
	w := component.Watch(ctx, nil, dir, missing, other)
	defer func() {
		cancel()
		<-w.Done()
	}()
	if got := w.Watching(); !slices.Equal(got, []string{dir, other}) {
		t.Fatalf("Watching = %v, want the two folders that exist", got)
	}
	expect := func(what string) {
		t.Helper()
		select {
		case <-w.C:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s was not signalled", what)
		}
	}
	// What a load does: a temporary file renamed into place.
	tmp := filepath.Join(dir, ".tmp-1")
	if err := os.WriteFile(tmp, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "c.wasm")); err != nil {
		t.Fatal(err)
	}
	expect("a rename")
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(other, "s.yaml"), []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expect("writes in the other folder")
	if err := os.Remove(filepath.Join(dir, "c.wasm")); err != nil {
		t.Fatal(err)
	}
	expect("a removal")
}
