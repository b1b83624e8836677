package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const outsideCanary = "OUTSIDE-THE-GRANTS-3c9d"

// escapeTree lays out two grants and a folder outside them:
//
//	<base>/outside/secret.txt      the canary
//	<base>/rw/                     the writable grant
//	<base>/rw/sub/inner.txt
//	<base>/rw/pre-in               -> sub/inner.txt   (placed by someone; stays inside)
//	<base>/ro/file.txt, ro/sub/    the read-only grant
//	<base>/{rw,ro}/pre-out         -> ../outside/secret.txt
//	<base>/{rw,ro}/pre-out-dir     -> ../outside
//	<base>/{rw,ro}/pre-abs         -> <base>/outside
type escapeTree struct{ base, rw, ro, outside string }

func newEscapeTree(t *testing.T) escapeTree {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := escapeTree{base: base, rw: filepath.Join(base, "rw"), ro: filepath.Join(base, "ro"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{e.outside, filepath.Join(e.rw, "sub"), filepath.Join(e.ro, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, s := range map[string]string{
		filepath.Join(e.outside, "secret.txt"):  outsideCanary,
		filepath.Join(e.rw, "sub", "inner.txt"): "inner",
		filepath.Join(e.ro, "file.txt"):         "read-only file",
	} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{filepath.Join(e.rw, "pre-in"): "sub/inner.txt"}
	for _, g := range []string{e.rw, e.ro} {
		links[filepath.Join(g, "pre-out")] = "../outside/secret.txt"
		links[filepath.Join(g, "pre-out-dir")] = "../outside"
		links[filepath.Join(g, "pre-abs")] = e.outside
	}
	for p, target := range links {
		if err := os.Symlink(target, p); err != nil {
			t.Skipf("cannot create symbolic links here: %v", err)
		}
	}
	return e
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

type escapeAttempt struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Err  string `json:"err"`
	Data string `json:"data"`
}

// TestEscapes runs the escape tool of the misbehave component, which tries every way out of its grants it
// knows, and checks that each was refused and that nothing outside the writable grant
// was read or changed.
func TestEscapes(t *testing.T) {
	t.Parallel()
	e := newEscapeTree(t)
	outsideBefore, roBefore := treeHash(t, e.outside), treeHash(t, e.ro)
	opts := CallOptions{ComponentID: "escape", Mounts: []Mount{
		{HostPath: e.rw, GuestPath: e.rw, Writable: true}, // as a policy's grant mounts it
		{HostPath: e.ro, GuestPath: e.ro},
	}}
	args, _ := json.Marshal(map[string]string{"rw": e.rw, "ro": e.ro, "outside": e.outside})
	var attempts []escapeAttempt
	callOK(t, module(t, "misbehave"), "escape", string(args), opts, &attempts)

	allowed := map[string]string{
		"control: write in rw":                      "",
		"control: read back in rw":                  "pwned",
		"control: read in ro":                       "read-only file",
		"control: link inside rw that stays inside": "inner",
		// The link was refused, so these write plain files inside rw.
		"write where the absolute file link was refused":                 "",
		"write where the hard link from the read-only grant was refused": "",
		// Linking a pre-placed link makes a second link, leading nowhere either.
		"hard link of a pre-placed link": "",
		// WASI preview1 has no chmod: Go's os.Chmod only checks that the file
		// exists (the hashes below show nothing changed).
		"ro: chmod": "",
	}
	if len(attempts) < 60 {
		t.Fatalf("only %d attempts reported", len(attempts))
	}
	for _, a := range attempts {
		want, ok := allowed[a.Name]
		switch {
		case ok && (!a.OK || a.Data != want):
			t.Errorf("%s: ok=%v err=%q data=%q, want it to succeed with %q", a.Name, a.OK, a.Err, a.Data, want)
		case !ok && a.OK:
			t.Errorf("%s: succeeded (data %q), want it refused", a.Name, a.Data)
		case !ok:
			t.Logf("%s: refused: %s", a.Name, a.Err)
		}
		if strings.Contains(a.Data, outsideCanary) || strings.Contains(a.Data, "secret.txt") {
			t.Errorf("%s: read outside the grants: %q", a.Name, a.Data)
		}
		if strings.HasPrefix(a.Name, "ro: ") && !strings.Contains(a.Name, " read ") && !strings.Contains(a.Name, " list ") &&
			a.Name != "ro: rename out to rw" && a.Name != "ro: chmod" && !strings.Contains(strings.ToLower(a.Err), "read-only file system") {
			t.Errorf("%s: error %q, want a read-only file system error", a.Name, a.Err)
		}
	}
	if treeHash(t, e.outside) != outsideBefore {
		t.Error("the folder outside the grants changed")
	}
	if treeHash(t, e.ro) != roBefore {
		t.Error("the read-only grant changed")
	}
	// Nothing the component made in its writable grant is a link.
	filepath.WalkDir(e.rw, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 && !strings.Contains(p, "pre-") && !strings.HasSuffix(p, "hard-pre") {
			t.Errorf("the component made a symbolic link: %s", p)
		}
		return nil
	})
}

// TestGrantThatIsASymlink checks that a mount whose host path is, or becomes, a
// symbolic link is refused: re-pointing a link cannot re-target a grant.
func TestGrantThatIsASymlink(t *testing.T) {
	t.Parallel()
	m := module(t, "misbehave")
	e := newEscapeTree(t)
	grant := filepath.Join(e.base, "grant")
	if err := os.Mkdir(grant, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(grant, "f.txt"), []byte("granted"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := CallOptions{Mounts: []Mount{{HostPath: grant, GuestPath: grant}}}
	var s string
	callOK(t, m, "read", fmt.Sprintf(`{"path":%q}`, grant+"/f.txt"), opts, &s)
	if s != "granted" {
		t.Fatalf("read = %q", s)
	}
	before := treeHash(t, e.outside)
	// Re-point the grant at the outside folder.
	if err := os.Rename(grant, grant+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(e.outside, grant); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"read", "write", "list"} {
		p := grant + "/secret.txt"
		if tool == "list" {
			p = grant
		}
		_, err := m.Call(context.Background(), tool, json.RawMessage(fmt.Sprintf(`{"path":%q,"data":"x"}`, p)), opts)
		if err == nil || !strings.Contains(err.Error(), grant+" is a symbolic link") || strings.Contains(err.Error(), outsideCanary) {
			t.Errorf("%s through a re-pointed grant: %v, want a refusal naming the link", tool, err)
		}
	}
	// A grant named through a link in a parent folder is refused too.
	if err := os.Symlink(e.base, filepath.Join(e.rw, "up")); err != nil {
		t.Fatal(err)
	}
	via := filepath.Join(e.rw, "up", "outside")
	_, err := m.Call(context.Background(), "list", json.RawMessage(fmt.Sprintf(`{"path":%q}`, via)),
		CallOptions{Mounts: []Mount{{HostPath: via, GuestPath: "/data"}}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(e.rw, "up")+" is a symbolic link") {
		t.Errorf("a grant through a linked parent: %v", err)
	}
	if treeHash(t, e.outside) != before {
		t.Error("the outside folder changed")
	}
}
