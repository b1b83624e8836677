package cmrun

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/internal/fsys"
)

// The storage grants of a WASI 0.2 component are wasi:filesystem preopens on the
// confined file layer (internal/fsys), the one preview1 modules get. These tests
// drive the fs-list component of the corpus, which hands every path to
// wasi:filesystem as given, through the escapes of the sandbox issue's list.

const outsideCanary = "OUTSIDE-THE-GRANTS-7e41"

// grantTree lays out two grants and a folder outside them:
//
//	<base>/outside/secret.txt      the canary
//	<base>/rw/                     the writable grant
//	<base>/rw/sub/inner.txt
//	<base>/rw/pre-in               -> sub/inner.txt   (placed by someone; stays inside)
//	<base>/ro/file.txt, ro/sub/    the read-only grant
//	<base>/{rw,ro}/pre-out         -> ../outside/secret.txt
//	<base>/{rw,ro}/pre-out-dir     -> ../outside
//	<base>/{rw,ro}/pre-abs         -> <base>/outside/secret.txt
//	<base>/{rw,ro}/pre-abs-dir     -> <base>/outside
type grantTree struct{ base, rw, ro, outside string }

func newGrantTree(t *testing.T) grantTree {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := grantTree{base: base, rw: filepath.Join(base, "rw"), ro: filepath.Join(base, "ro"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{g.outside, filepath.Join(g.rw, "sub"), filepath.Join(g.ro, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, s := range map[string]string{
		filepath.Join(g.outside, "secret.txt"):  outsideCanary,
		filepath.Join(g.rw, "sub", "inner.txt"): "inner",
		filepath.Join(g.ro, "file.txt"):         "read-only file",
	} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{filepath.Join(g.rw, "pre-in"): "sub/inner.txt"}
	for _, d := range []string{g.rw, g.ro} {
		links[filepath.Join(d, "pre-out")] = "../outside/secret.txt"
		links[filepath.Join(d, "pre-out-dir")] = "../outside"
		links[filepath.Join(d, "pre-abs")] = filepath.Join(g.outside, "secret.txt")
		links[filepath.Join(d, "pre-abs-dir")] = g.outside
	}
	for p, target := range links {
		if err := os.Symlink(target, p); err != nil {
			t.Skipf("cannot create symbolic links here: %v", err)
		}
	}
	return g
}

// mounts returns the grants as a policy's storage grants mount them: each at its
// own path.
func (g grantTree) mounts() runtime.CallOptions {
	return runtime.CallOptions{ComponentID: "fs-list", Mounts: []runtime.Mount{
		{HostPath: g.rw, GuestPath: g.rw, Writable: true},
		{HostPath: g.ro, GuestPath: g.ro},
	}}
}

// treeHash hashes every name, mode, size, time, link target and content under dir.
func treeHash(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			fmt.Fprintf(h, "-> %s\n", l)
		} else if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// fsCall calls a tool of fs-list with args (a JSON object whose values are
// strings, numbers or booleans), failing the test if the call itself fails.
func fsCall(t *testing.T, m *Module, opts runtime.CallOptions, tool string, args ...any) Result {
	t.Helper()
	obj := map[string]any{}
	for i := 0; i+1 < len(args); i += 2 {
		obj[args[i].(string)] = args[i+1]
	}
	b, _ := json.Marshal(obj)
	r, err := m.Call(context.Background(), tool, b, opts)
	if err != nil {
		t.Fatalf("%s %s: %v", tool, b, err)
	}
	return r
}

// A granted folder is listed, read and changed through wasi:filesystem; a
// read-only one is listed and read, and every change is refused with read-only.
func TestStorageGrants(t *testing.T) {
	t.Parallel()
	m := module(t, "fs-list")
	g := newGrantTree(t)
	opts := g.mounts()
	roBefore := treeHash(t, g.ro)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }

	if r := fsCall(t, m, opts, "preopens"); r.Text != "["+q(g.rw)+","+q(g.ro)+"]" {
		t.Errorf("preopens = %s, want the grants at their own paths, in order", r.Text)
	}
	// A call without grants has no preopens at all.
	if r := fsCall(t, m, runtime.CallOptions{}, "preopens"); r.Text != "[]" {
		t.Errorf("preopens without grants = %s", r.Text)
	}
	ok := []struct {
		tool string
		args []any
		want string // the ok value, as JSON
	}{
		{"list-dir", []any{"dir", g.rw, "path", "."}, `["pre-abs","pre-abs-dir","pre-in","pre-out","pre-out-dir","sub"]`},
		{"list-dir", []any{"dir", g.ro, "path", ""}, `["file.txt","pre-abs","pre-abs-dir","pre-out","pre-out-dir","sub"]`},
		{"read-file", []any{"dir", g.ro, "path", "file.txt"}, `"read-only file"`},
		{"read-file", []any{"dir", g.rw, "path", "sub/inner.txt"}, `"inner"`},
		{"read-file", []any{"dir", g.rw, "path", "pre-in"}, `"inner"`}, // a link that stays inside
		{"read-file", []any{"dir", g.rw, "path", "sub/../sub/inner.txt"}, `"inner"`},
		{"file-size", []any{"dir", g.ro, "path", "file.txt", "follow", true}, "14"},
		{"write-file", []any{"dir", g.rw, "path", "new.txt", "contents", "written"}, "null"},
		{"read-file", []any{"dir", g.rw, "path", "new.txt"}, `"written"`},
		{"make-dir", []any{"dir", g.rw, "path", "made"}, "null"},
		{"rename", []any{"dir", g.rw, "old", "new.txt", "new", "made/moved.txt"}, "null"},
		{"hard-link", []any{"dir", g.rw, "old", "made/moved.txt", "new", "linked.txt"}, "null"},
		{"truncate", []any{"dir", g.rw, "path", "linked.txt", "size", 3, "for-write", true}, "null"},
		{"read-file", []any{"dir", g.rw, "path", "made/moved.txt"}, `"wri"`},
		{"remove-file", []any{"dir", g.rw, "path", "linked.txt"}, "null"},
		{"list-dir", []any{"dir", g.rw, "path", "made"}, `["moved.txt"]`},
	}
	for _, c := range ok {
		if r := fsCall(t, m, opts, c.tool, c.args...); r.IsError || r.Text != `{"ok":`+c.want+`}` {
			t.Errorf("%s %v: %+v, want %s", c.tool, c.args[2:], r, c.want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(g.rw, "made", "moved.txt")); err != nil || string(b) != "wri" {
		t.Errorf("the file written through the grant holds %q (%v)", b, err)
	}

	// Every change of the read-only grant is refused, however it is asked for.
	for _, c := range []struct {
		tool string
		args []any
	}{
		{"write-file", []any{"path", "file.txt", "contents", "pwned"}},
		{"write-file", []any{"path", "new.txt", "contents", "pwned"}},
		{"write-file", []any{"path", "sub/new.txt", "contents", "pwned"}},
		{"truncate", []any{"path", "file.txt", "size", 0, "for-write", true}},
		{"truncate", []any{"path", "file.txt", "size", 0, "for-write", false}}, // opened for reading
		{"remove-file", []any{"path", "file.txt"}},
		{"remove-file", []any{"path", "pre-out"}},
		{"rename", []any{"old", "file.txt", "new", "renamed.txt"}},
		{"rename", []any{"old", "file.txt", "new", "sub/file.txt"}},
		{"hard-link", []any{"old", "file.txt", "new", "again.txt"}},
		{"make-dir", []any{"path", "made"}},
		{"symlink", []any{"target", "file.txt", "path", "link"}},
	} {
		args := append([]any{"dir", g.ro}, c.args...)
		if r := fsCall(t, m, opts, c.tool, args...); !r.IsError || r.Text != "read-only" {
			t.Errorf("read-only grant: %s %v: %+v, want the error read-only", c.tool, c.args, r)
		}
	}
	if treeHash(t, g.ro) != roBefore {
		t.Error("the read-only grant changed")
	}
}

// Every way out of a grant through wasi:filesystem is refused, and no byte
// outside the grants is read or changed: paths with "..", absolute paths,
// symbolic links someone placed inside (relative and absolute, to a file and to
// a folder), and links or renames the component makes itself.
func TestStorageEscapes(t *testing.T) {
	t.Parallel()
	m := module(t, "fs-list")
	g := newGrantTree(t)
	opts := g.mounts()
	outsideBefore, roBefore := treeHash(t, g.outside), treeHash(t, g.ro)
	secret := filepath.Join(g.outside, "secret.txt")

	// Reads and listings, in both grants.
	reads := []struct {
		tool string
		args []any
	}{
		{"read-file", []any{"path", "../outside/secret.txt"}},
		{"read-file", []any{"path", "sub/../../outside/secret.txt"}},
		{"read-file", []any{"path", secret}},
		{"read-file", []any{"path", "pre-out"}},
		{"read-file", []any{"path", "pre-abs"}},
		{"read-file", []any{"path", "pre-out-dir/secret.txt"}},
		{"read-file", []any{"path", "pre-abs-dir/secret.txt"}},
		{"list-dir", []any{"path", ".."}},
		{"list-dir", []any{"path", "sub/../.."}},
		{"list-dir", []any{"path", "/"}},
		{"list-dir", []any{"path", g.outside}},
		{"list-dir", []any{"path", "pre-out-dir"}},
		{"list-dir", []any{"path", "pre-abs-dir"}},
		{"file-size", []any{"path", "pre-out", "follow", true}},
		{"file-size", []any{"path", "pre-abs", "follow", true}},
		{"file-size", []any{"path", "../outside/secret.txt", "follow", false}},
		{"file-size", []any{"path", "pre-out-dir/secret.txt", "follow", false}},
	}
	for _, dir := range []string{g.rw, g.ro} {
		for _, c := range reads {
			args := append([]any{"dir", dir}, c.args...)
			r := fsCall(t, m, opts, c.tool, args...)
			if !r.IsError || r.Text != "not-permitted" {
				t.Errorf("%s: %s %v: %+v, want the error not-permitted", filepath.Base(dir), c.tool, c.args, r)
			}
		}
	}

	// Changes that would reach outside the writable grant.
	changes := []struct {
		tool string
		args []any
	}{
		{"write-file", []any{"path", "../outside/secret.txt", "contents", "pwned"}},
		{"write-file", []any{"path", "../outside/new.txt", "contents", "pwned"}},
		{"write-file", []any{"path", secret, "contents", "pwned"}},
		{"write-file", []any{"path", "pre-out", "contents", "pwned"}},
		{"write-file", []any{"path", "pre-abs", "contents", "pwned"}},
		{"write-file", []any{"path", "pre-out-dir/new.txt", "contents", "pwned"}},
		{"write-file", []any{"path", "pre-abs-dir/new.txt", "contents", "pwned"}},
		{"truncate", []any{"path", "pre-out", "size", 0, "for-write", true}},
		{"truncate", []any{"path", "../outside/secret.txt", "size", 0, "for-write", true}},
		{"remove-file", []any{"path", "../outside/secret.txt"}},
		{"remove-file", []any{"path", "pre-out-dir/secret.txt"}},
		{"remove-file", []any{"path", secret}},
		{"make-dir", []any{"path", "../outside/made"}},
		{"make-dir", []any{"path", "pre-abs-dir/made"}},
		{"rename", []any{"old", "../outside/secret.txt", "new", "stolen.txt"}},
		{"rename", []any{"old", "pre-out-dir/secret.txt", "new", "stolen.txt"}},
		{"rename", []any{"old", "sub/inner.txt", "new", "../outside/planted.txt"}},
		{"rename", []any{"old", "sub", "new", "pre-abs-dir/sub"}},
		{"hard-link", []any{"old", "../outside/secret.txt", "new", "stolen.txt"}},
		{"hard-link", []any{"old", secret, "new", "stolen.txt"}},
		{"hard-link", []any{"old", "pre-out-dir/secret.txt", "new", "stolen.txt"}},
		{"hard-link", []any{"old", "sub/inner.txt", "new", "../outside/planted.txt"}},
		// The component cannot make symbolic links at all, inside or out.
		{"symlink", []any{"target", "../outside/secret.txt", "path", "made-out"}},
		{"symlink", []any{"target", secret, "path", "made-abs"}},
		{"symlink", []any{"target", g.outside, "path", "made-abs-dir"}},
		{"symlink", []any{"target", "sub/inner.txt", "path", "made-in"}},
		{"symlink", []any{"target", "x", "path", "../outside/made"}},
	}
	for _, c := range changes {
		args := append([]any{"dir", g.rw}, c.args...)
		r := fsCall(t, m, opts, c.tool, args...)
		if !r.IsError || r.Text != "not-permitted" {
			t.Errorf("rw: %s %v: %+v, want the error not-permitted", c.tool, c.args, r)
		}
	}
	// What the refused links would have been is not there.
	for _, name := range []string{"made-out", "made-abs", "made-abs-dir", "made-in", "stolen.txt"} {
		if _, err := os.Lstat(filepath.Join(g.rw, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists in the writable grant (%v)", name, err)
		}
	}
	// A hard link of a placed symbolic link is a second link, leading nowhere either.
	if r := fsCall(t, m, opts, "hard-link", "dir", g.rw, "old", "pre-out", "new", "hard-pre"); !r.IsError {
		if r := fsCall(t, m, opts, "read-file", "dir", g.rw, "path", "hard-pre"); !r.IsError || r.Text != "not-permitted" {
			t.Errorf("read through a hard link of a placed link: %+v", r)
		}
	}

	if treeHash(t, g.outside) != outsideBefore {
		t.Error("the folder outside the grants changed")
	}
	if treeHash(t, g.ro) != roBefore {
		t.Error("the read-only grant changed")
	}
	filepath.WalkDir(g.rw, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 && !strings.HasPrefix(d.Name(), "pre-") && d.Name() != "hard-pre" {
			t.Errorf("the component made a symbolic link: %s", p)
		}
		return nil
	})
}

// A grant whose host path is, or later becomes, a symbolic link is refused at
// the call: re-pointing a link cannot re-target a grant.
func TestStorageGrantThatIsASymlink(t *testing.T) {
	t.Parallel()
	m := module(t, "fs-list")
	g := newGrantTree(t)
	grant := filepath.Join(g.base, "grant")
	if err := os.Mkdir(grant, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(grant, "f.txt"), []byte("granted"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := runtime.CallOptions{Mounts: []runtime.Mount{{HostPath: grant, GuestPath: grant}}}
	if r := fsCall(t, m, opts, "read-file", "dir", grant, "path", "f.txt"); r.Text != `{"ok":"granted"}` {
		t.Fatalf("read-file = %+v", r)
	}
	before := treeHash(t, g.outside)
	// Re-point the grant at the folder outside.
	if err := os.Rename(grant, grant+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(g.outside, grant); err != nil {
		t.Fatal(err)
	}
	// A link named directly as a grant is refused the same way.
	direct := filepath.Join(g.base, "direct")
	if err := os.Symlink(g.outside, direct); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{grant, direct} {
		opts := runtime.CallOptions{Mounts: []runtime.Mount{{HostPath: p, GuestPath: p, Writable: true}}}
		for _, c := range [][]any{
			{"read-file", "dir", p, "path", "secret.txt"},
			{"list-dir", "dir", p, "path", "."},
			{"write-file", "dir", p, "path", "new.txt", "contents", "pwned"},
		} {
			b, _ := json.Marshal(map[string]any{"dir": p, "path": c[4]})
			if len(c) > 5 {
				b, _ = json.Marshal(map[string]any{"dir": p, "path": c[4], "contents": c[6]})
			}
			r, err := m.Call(context.Background(), c[0].(string), b, opts)
			if !errors.Is(err, fsys.ErrSymlink) || !strings.Contains(err.Error(), p) {
				t.Errorf("%s through the grant %s: %+v %v, want the error %q", c[0], filepath.Base(p), r, err, fsys.ErrSymlink)
			}
			if strings.Contains(r.Text, outsideCanary) || (err != nil && strings.Contains(err.Error(), outsideCanary)) {
				t.Errorf("%s through the grant %s read outside", c[0], filepath.Base(p))
			}
		}
	}
	if treeHash(t, g.outside) != before {
		t.Error("the folder outside the grant changed")
	}
}
