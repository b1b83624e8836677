package fsys

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

const canary = "OUTSIDE-CANARY-7f3a"

// tree is a granted folder "in" next to a folder "out" that must stay out of reach:
//
//	<base>/out/secret.txt        the canary
//	<base>/in/file.txt           "inside"
//	<base>/in/sub/nested.txt     "nested"
//	<base>/in/rel-out            -> ../out            (relative link leaving the root)
//	<base>/in/rel-out-file       -> ../out/secret.txt
//	<base>/in/abs-out            -> <base>/out        (absolute link)
//	<base>/in/abs-in             -> <base>/in/file.txt (absolute, though it points inside)
//	<base>/in/rel-in             -> sub/nested.txt    (stays inside: followed)
//	<base>/in/sub/up             -> ../file.txt       (stays inside: followed)
//	<base>/in/sub/deep-out       -> ../../out/secret.txt
//	<base>/in/loop               -> loop
type tree struct {
	base, in, out string
}

func newTree(t testing.TB) tree {
	t.Helper()
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tr := tree{base: base, in: filepath.Join(base, "in"), out: filepath.Join(base, "out")}
	for _, d := range []string{tr.out, filepath.Join(tr.in, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(tr.out, "secret.txt"):       canary,
		filepath.Join(tr.in, "file.txt"):          "inside",
		filepath.Join(tr.in, "sub", "nested.txt"): "nested",
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"rel-out":      "../out",
		"rel-out-file": "../out/secret.txt",
		"abs-out":      tr.out,
		"abs-in":       filepath.Join(tr.in, "file.txt"),
		"rel-in":       "sub/nested.txt",
		"sub/up":       "../file.txt",
		"sub/deep-out": "../../out/secret.txt",
		"loop":         "loop",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(tr.in, filepath.FromSlash(name))); err != nil {
			t.Skipf("cannot create symbolic links here: %v", err)
		}
	}
	return tr
}

// hashTree hashes every name, mode, link target and file content under dir.
func hashTree(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %v %d %d\n", p, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(h, "-> %s\n", l)
		case fi.Mode().IsRegular():
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

func mount(t testing.TB, dir string, mode Mode) *FS {
	t.Helper()
	f, err := Open(dir, mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t testing.TB, f experimentalsys.File) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 64)
	for {
		n, e := f.Read(buf)
		sb.Write(buf[:n])
		if e != 0 {
			t.Fatalf("read: %v", e)
		}
		if n == 0 {
			return sb.String()
		}
	}
}

func TestOpenRefusesBadMounts(t *testing.T) {
	tr := newTree(t)
	file := filepath.Join(tr.in, "file.txt")
	linkToIn := filepath.Join(tr.base, "link-to-in")
	if err := os.Symlink(tr.in, linkToIn); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir     string
		want    string
		symlink bool
	}{
		{"relative/dir", "must be absolute", false},
		{tr.in + "/../out", "must be clean", false},
		{tr.in + "/", "must be clean", false},
		{filepath.Join(tr.in, "missing"), "no such file", false},
		{file, "is not a directory", false},
		{linkToIn, "is a symbolic link", true},
		{filepath.Join(linkToIn, "sub"), linkToIn + " is a symbolic link", true},
		{filepath.Join(tr.in, "rel-out"), "is a symbolic link", true},
	}
	for _, tt := range tests {
		f, err := Open(tt.dir, ReadWrite)
		if err == nil {
			f.Close()
			t.Errorf("Open(%s) succeeded", tt.dir)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "mount ") {
			t.Errorf("Open(%s) = %v, want an error mentioning %q", tt.dir, err, tt.want)
		}
		if errors.Is(err, ErrSymlink) != tt.symlink {
			t.Errorf("Open(%s): errors.Is(ErrSymlink) = %v, want %v", tt.dir, !tt.symlink, tt.symlink)
		}
	}
}

// TestRepointedMount checks that a mount opened afresh after its folder was replaced
// by a symbolic link fails closed, while a mount opened before keeps the directory
// it opened.
func TestRepointedMount(t *testing.T) {
	tr := newTree(t)
	grant := filepath.Join(tr.base, "grant")
	if err := os.Mkdir(grant, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(grant, "g.txt"), []byte("granted"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := mount(t, grant, ReadOnly)
	moved := filepath.Join(tr.base, "moved")
	if err := os.Rename(grant, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(tr.out, grant); err != nil {
		t.Fatal(err)
	}
	if f, err := Open(grant, ReadOnly); err == nil || !errors.Is(err, ErrSymlink) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("Open of a re-pointed grant: %v, want ErrSymlink", err)
	}
	// The earlier mount still names the directory it opened, now at its new place.
	if _, e := before.Stat("secret.txt"); e != experimentalsys.ENOENT {
		t.Errorf("old mount sees secret.txt: %v", e)
	}
	f, e := before.OpenFile("g.txt", experimentalsys.O_RDONLY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer f.Close()
	if got := readAll(t, f); got != "granted" {
		t.Errorf("g.txt = %q", got)
	}
}

// TestEscapesRefused tries every way out of the root, on a read-only and a writable
// mount, and checks that each is refused and the outside is unchanged.
func TestEscapesRefused(t *testing.T) {
	for _, mode := range []Mode{ReadOnly, ReadWrite} {
		t.Run(fmt.Sprint("mode=", mode), func(t *testing.T) {
			tr := newTree(t)
			before := hashTree(t, tr.out)
			f := mount(t, tr.in, mode)
			hostile := []string{
				"/", "/etc/passwd", tr.out + "/secret.txt", "..", "../out/secret.txt", "sub/../../out/secret.txt",
				"./../out", "rel-out", "rel-out/secret.txt", "rel-out-file", "abs-out", "abs-out/secret.txt",
				"abs-in", "sub/deep-out", "sub/../rel-out/secret.txt", "loop", "a\x00b",
			}
			for _, p := range hostile {
				if p == "/" {
					continue // the root itself
				}
				if file, e := f.OpenFile(p, experimentalsys.O_RDONLY, 0); e == 0 {
					got := readAll(t, file)
					file.Close()
					t.Errorf("OpenFile(%q) succeeded and read %q", p, got)
				}
				if st, e := f.Stat(p); e == 0 {
					t.Errorf("Stat(%q) succeeded: %+v", p, st)
				}
				for _, op := range []struct {
					name string
					fn   func() experimentalsys.Errno
				}{
					{"create", func() experimentalsys.Errno {
						file, e := f.OpenFile(p, experimentalsys.O_RDWR|experimentalsys.O_CREAT|experimentalsys.O_TRUNC, 0o644)
						if e == 0 {
							file.Close()
						}
						return e
					}},
					{"mkdir", func() experimentalsys.Errno { return f.Mkdir(p, 0o755) }},
					{"mkdir-under", func() experimentalsys.Errno { return f.Mkdir(p+"/new-dir", 0o755) }},
					{"utimens", func() experimentalsys.Errno { return f.Utimens(p, 0, 0) }},
					{"chmod", func() experimentalsys.Errno { return f.Chmod(p, 0o777) }},
					{"rename-from", func() experimentalsys.Errno { return f.Rename(p, "renamed") }},
					{"link-from", func() experimentalsys.Errno { return f.Link(p, "hard") }},
					{"symlink", func() experimentalsys.Errno { return f.Symlink("../out", "new-link") }},
				} {
					e := op.fn()
					// Links inside the root that point out may be renamed, linked or
					// removed as entries; what they point to may not be touched.
					if e == 0 && !(strings.HasPrefix(op.name, "rename") || strings.HasPrefix(op.name, "link")) {
						t.Errorf("%s(%q) succeeded", op.name, p)
					}
					if mode == ReadOnly && e != experimentalsys.EROFS {
						t.Errorf("%s(%q) on a read-only mount = %v, want EROFS", op.name, p, e)
					}
					if e == 0 && op.name == "rename-from" {
						f.Rename("renamed", p) // put it back
					}
					if e == 0 && op.name == "link-from" {
						f.Unlink("hard")
					}
				}
			}
			if after := hashTree(t, tr.out); after != before {
				t.Error("the folder outside the mount changed")
			}
		})
	}
}

func TestLinksInsideAreFollowed(t *testing.T) {
	tr := newTree(t)
	f := mount(t, tr.in, ReadOnly)
	for p, want := range map[string]string{"rel-in": "nested", "sub/up": "inside", "sub/../file.txt": "inside", "./sub//nested.txt": "nested"} {
		file, e := f.OpenFile(p, experimentalsys.O_RDONLY, 0)
		if e != 0 {
			t.Errorf("OpenFile(%q) = %v", p, e)
			continue
		}
		if got := readAll(t, file); got != want {
			t.Errorf("OpenFile(%q) read %q, want %q", p, got, want)
		}
		file.Close()
	}
	if _, e := f.OpenFile("rel-in", experimentalsys.O_RDONLY|experimentalsys.O_NOFOLLOW, 0); e != experimentalsys.ELOOP {
		t.Errorf("O_NOFOLLOW on a link = %v, want ELOOP", e)
	}
	if st, e := f.Lstat("rel-out"); e != 0 || st.Mode&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(rel-out) = %v, %v: a link leading out is still listed as a link", st.Mode, e)
	}
	if l, e := f.Readlink("rel-out"); e != 0 || l != "../out" {
		t.Errorf("Readlink(rel-out) = %q, %v", l, e)
	}
	for _, p := range []string{"rel-out", "abs-out", "sub/deep-out"} {
		if _, e := f.Stat(p); e != experimentalsys.EPERM {
			t.Errorf("Stat(%q) = %v, want EPERM", p, e)
		}
	}
	if _, e := f.Stat("../out"); e != experimentalsys.EPERM {
		t.Errorf("Stat(../out) = %v, want EPERM", e)
	}
}

func TestReadOnlyRefusesEveryChange(t *testing.T) {
	tr := newTree(t)
	before := hashTree(t, tr.base)
	f := mount(t, tr.in, ReadOnly)
	opens := []experimentalsys.Oflag{
		experimentalsys.O_WRONLY, experimentalsys.O_RDWR, experimentalsys.O_CREAT,
		experimentalsys.O_TRUNC, experimentalsys.O_APPEND, experimentalsys.O_RDONLY | experimentalsys.O_CREAT | experimentalsys.O_EXCL,
	}
	for _, fl := range opens {
		for _, p := range []string{"file.txt", "new.txt"} {
			if _, e := f.OpenFile(p, fl, 0o644); e != experimentalsys.EROFS {
				t.Errorf("OpenFile(%q, %v) = %v, want EROFS", p, fl, e)
			}
		}
	}
	ops := map[string]experimentalsys.Errno{
		"mkdir":   f.Mkdir("d", 0o755),
		"rename":  f.Rename("file.txt", "moved.txt"),
		"unlink":  f.Unlink("file.txt"),
		"rmdir":   f.Rmdir("sub"),
		"symlink": f.Symlink("file.txt", "l"),
		"link":    f.Link("file.txt", "h"),
		"utimens": f.Utimens("file.txt", 0, 0),
		"chmod":   f.Chmod("file.txt", 0o777),
	}
	for name, e := range ops {
		if e != experimentalsys.EROFS {
			t.Errorf("%s = %v, want EROFS", name, e)
		}
	}
	file, e := f.OpenFile("file.txt", experimentalsys.O_RDONLY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer file.Close()
	if e := file.Truncate(0); e != experimentalsys.EROFS {
		t.Errorf("Truncate through a read-only fd = %v, want EROFS", e)
	}
	if e := file.Utimens(0, 0); e != experimentalsys.EROFS {
		t.Errorf("Utimens through a read-only fd = %v, want EROFS", e)
	}
	if n, e := file.Write([]byte("x")); e == 0 || n != 0 {
		t.Errorf("Write through a read-only fd = %d, %v", n, e)
	}
	if n, e := file.Pwrite([]byte("x"), 0); e == 0 || n != 0 {
		t.Errorf("Pwrite through a read-only fd = %d, %v", n, e)
	}
	if _, e := f.OpenFile("sub", experimentalsys.O_DIRECTORY|experimentalsys.O_RDWR, 0); e != experimentalsys.EISDIR {
		t.Errorf("opening a directory for writing = %v, want EISDIR", e)
	}
	if after := hashTree(t, tr.base); after != before {
		t.Error("a read-only mount was changed")
	}
}

func TestWritable(t *testing.T) {
	tr := newTree(t)
	f := mount(t, tr.in, ReadWrite)
	create := experimentalsys.O_RDWR | experimentalsys.O_CREAT | experimentalsys.O_EXCL
	file, e := f.OpenFile("new.txt", create, 0o7777)
	if e != 0 {
		t.Fatal(e)
	}
	if n, e := file.Write([]byte("hello")); e != 0 || n != 5 {
		t.Fatalf("Write = %d, %v", n, e)
	}
	if n, e := file.Pwrite([]byte("J"), 0); e != 0 || n != 1 {
		t.Fatalf("Pwrite = %d, %v", n, e)
	}
	buf := make([]byte, 5)
	if n, e := file.Pread(buf, 0); e != 0 || string(buf[:n]) != "Jello" {
		t.Fatalf("Pread = %q, %v", buf[:n], e)
	}
	if e := file.SetAppend(true); e != 0 || !file.IsAppend() {
		t.Fatal(e)
	}
	if _, e := file.Seek(0, io.SeekStart); e != 0 {
		t.Fatal(e)
	}
	file.Write([]byte("!"))
	if e := file.Truncate(3); e != 0 {
		t.Fatal(e)
	}
	if e := file.Utimens(1e9, experimentalsys.UTIME_OMIT); e != 0 && !(runtime.GOOS != "linux" && e == experimentalsys.ENOSYS) {
		t.Errorf("Utimens = %v", e)
	}
	if e := file.Sync(); e != 0 {
		t.Error(e)
	}
	file.Close()
	if e := file.Close(); e != 0 {
		t.Errorf("second Close = %v", e)
	}
	if b, _ := os.ReadFile(filepath.Join(tr.in, "new.txt")); string(b) != "Jel" {
		t.Errorf("new.txt = %q", b)
	}
	fi, _ := os.Stat(filepath.Join(tr.in, "new.txt"))
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		t.Errorf("mode %v: special bits were set", fi.Mode())
	}
	if _, e := f.OpenFile("new.txt", create, 0o644); e != experimentalsys.EEXIST {
		t.Errorf("O_EXCL on an existing file = %v", e)
	}
	if e := f.Chmod("new.txt", 0o4755); e != 0 {
		t.Error(e)
	} else if fi, _ := os.Stat(filepath.Join(tr.in, "new.txt")); fi.Mode()&fs.ModeSetuid != 0 {
		t.Error("Chmod set the set-user-ID bit")
	}

	// Directories, hard links, renames, removal.
	if e := f.Mkdir("d", 0o755); e != 0 {
		t.Fatal(e)
	}
	if e := f.Mkdir("d", 0o755); e != experimentalsys.EEXIST {
		t.Errorf("Mkdir of an existing dir = %v", e)
	}
	if e := f.Mkdir("missing/d", 0o755); e != experimentalsys.ENOENT {
		t.Errorf("Mkdir under a missing dir = %v", e)
	}
	if e := f.Link("new.txt", "d/hard.txt"); e != 0 {
		t.Fatal(e)
	}
	if e := f.Rename("d/hard.txt", "d/renamed.txt"); e != 0 {
		t.Fatal(e)
	}
	if e := f.Rmdir("new.txt"); e != experimentalsys.ENOTDIR {
		t.Errorf("Rmdir of a file = %v", e)
	}
	if e := f.Unlink("d"); e != experimentalsys.EISDIR {
		t.Errorf("Unlink of a dir = %v", e)
	}
	if e := f.Rmdir("d"); e != experimentalsys.ENOTEMPTY {
		t.Errorf("Rmdir of a non-empty dir = %v", e)
	}
	if e := f.Unlink("d/renamed.txt"); e != 0 {
		t.Fatal(e)
	}
	if e := f.Rmdir("d"); e != 0 {
		t.Fatal(e)
	}
	if e := f.Utimens("new.txt", experimentalsys.UTIME_OMIT, 2e9); e != 0 {
		t.Error(e)
	}
	if e := f.Symlink("file.txt", "l"); e != experimentalsys.EPERM {
		t.Errorf("Symlink = %v, want EPERM", e)
	}
	// A link leading out may be removed as an entry: the outside is untouched.
	if e := f.Unlink("rel-out"); e != 0 {
		t.Errorf("Unlink of a link = %v", e)
	}
	if _, err := os.Stat(filepath.Join(tr.out, "secret.txt")); err != nil {
		t.Errorf("removing a link removed its target: %v", err)
	}
}

func TestReaddir(t *testing.T) {
	tr := newTree(t)
	f := mount(t, tr.in, ReadOnly)
	d, e := f.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
	if e != 0 {
		t.Fatal(e)
	}
	defer d.Close()
	list := func() []string {
		var names []string
		for {
			ents, e := d.Readdir(3)
			if e != 0 {
				t.Fatal(e)
			}
			if len(ents) == 0 {
				break
			}
			for _, ent := range ents {
				if ent.Ino == 0 && runtime.GOOS != "windows" {
					t.Errorf("%s has no inode", ent.Name)
				}
				names = append(names, ent.Name+":"+ent.Type.String())
			}
		}
		sort.Strings(names)
		return names
	}
	first := list()
	want := "abs-in:L--------- abs-out:L--------- file.txt:---------- loop:L--------- rel-in:L--------- rel-out-file:L--------- rel-out:L--------- sub:d---------"
	if strings.Join(first, " ") != want {
		t.Errorf("Readdir = %v\nwant %s", first, want)
	}
	if _, e := d.Seek(0, io.SeekStart); e != 0 {
		t.Fatal(e)
	}
	if again := list(); strings.Join(again, " ") != want {
		t.Errorf("Readdir after rewinding = %v", again)
	}
	if isDir, e := d.IsDir(); !isDir || e != 0 {
		t.Errorf("IsDir = %v, %v", isDir, e)
	}
	if _, e := f.OpenFile("file.txt", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0); e != experimentalsys.ENOTDIR {
		t.Errorf("O_DIRECTORY on a file = %v", e)
	}
	file, _ := f.OpenFile("file.txt", experimentalsys.O_RDONLY, 0)
	defer file.Close()
	if _, e := file.Readdir(1); e != experimentalsys.EBADF {
		t.Errorf("Readdir on a file = %v, want EBADF", e)
	}
}

// FuzzPaths gives hostile paths to every operation of a writable mount and checks
// that nothing outside it is read or changed.
func FuzzPaths(f *testing.F) {
	for _, s := range []string{
		"..", "../out/secret.txt", "/etc/passwd", "rel-out/secret.txt", "abs-out/secret.txt",
		"sub/deep-out", "sub/../../out", "rel-out-file", "loop/x", "file.txt/..", "sub/up/../../out",
		"./.././out", "\x00", "C:\\out", "..\\out\\secret.txt", "sub//..//..//out", "rel-in/../../out",
	} {
		f.Add(s, "renamed")
	}
	f.Fuzz(func(t *testing.T, p, q string) {
		tr := newTree(t)
		before := hashTree(t, tr.out)
		fs := mount(t, tr.in, ReadWrite)
		check := func(file experimentalsys.File) {
			if file == nil {
				return
			}
			defer file.Close()
			buf := make([]byte, 256)
			n, _ := file.Pread(buf, 0)
			if strings.Contains(string(buf[:n]), canary) {
				t.Fatalf("read the outside canary through %q", p)
			}
			ents, _ := file.Readdir(-1)
			for _, e := range ents {
				if e.Name == "secret.txt" {
					t.Fatalf("listed the outside folder through %q", p)
				}
			}
		}
		file, _ := fs.OpenFile(p, experimentalsys.O_RDONLY, 0)
		check(file)
		file, _ = fs.OpenFile(p, experimentalsys.O_RDWR|experimentalsys.O_CREAT, 0o644)
		if file != nil {
			file.Write([]byte("x"))
		}
		check(file)
		file, _ = fs.OpenFile(p, experimentalsys.O_WRONLY|experimentalsys.O_TRUNC, 0)
		check(file)
		fs.Stat(p)
		fs.Lstat(p)
		fs.Readlink(p)
		fs.Mkdir(p, 0o755)
		fs.Chmod(p, 0o777)
		fs.Utimens(p, 0, 0)
		fs.Link(p, q)
		fs.Rename(p, q)
		fs.Rename(q, p)
		fs.Symlink(p, q)
		fs.Unlink(q)
		fs.Rmdir(p)
		fs.Unlink(p)
		if after := hashTree(t, tr.out); after != before {
			t.Fatalf("the outside changed after operations on %q, %q", p, q)
		}
	})
}
