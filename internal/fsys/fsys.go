// Package fsys is wassette's confined file layer: it gives a WebAssembly instance one
// host directory, and nothing outside it, as a wazero experimental/sys.FS.
//
// Every path an instance gives is resolved by os.Root, relative to a descriptor of the
// mounted directory (openat-style on Unix), so nothing outside it is reachable:
//
//   - a path that is absolute, or whose ".." climbs above the directory, is refused
//     with EPERM;
//   - a symbolic link is followed only while it stays inside the directory: a link
//     that is absolute, or that climbs out, is refused with EPERM, whoever made it and
//     whenever it was made (a check-then-open race cannot lead out either, because
//     each step opens relative to the descriptor of the step before);
//   - an instance cannot create symbolic links at all (EPERM): a link it left behind
//     would outlive the call and could lead other programs, which do not resolve paths
//     the way this package does, anywhere on the host;
//   - hard links may be created inside a writable directory (os.Root resolves both
//     names inside it, and a link to a symbolic link links the link itself), so a new
//     name never reaches an inode the directory did not already hold. A hard link that
//     someone else placed in a granted directory is the same file as its other names:
//     granting a directory grants every file in it, whatever other names those have.
//
// A read-only FS refuses every change with EROFS ("read-only file system"): opening
// for writing, creating, truncating or appending, mkdir, rename, unlink, rmdir,
// symlink, link, chmod, utimens, and truncating or changing times through an open
// file.
//
// The mounted directory itself must be named by its real path: Open refuses a path of
// which any component is a symbolic link, so that re-pointing a link can never
// re-target a grant. Each mount is opened afresh for each instance; a directory that
// became a symbolic link since it was granted is refused at the next Open.
//
// Both wassette's WASI preview1 host and its component-model host (wasi:filesystem)
// use this package: open one FS per granted directory with Open, hand it to the host
// as an experimental/sys.FS, and Close it once the instance is closed.
package fsys

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"
)

// Mode is what an instance may do in a mounted directory.
type Mode uint8

const (
	// ReadOnly lets the instance read and list; every change fails with EROFS.
	ReadOnly Mode = iota
	// ReadWrite also lets it create, change, rename and delete files and folders.
	ReadWrite
)

// ErrSymlink is wrapped by the error of Open when a component of the mounted path is
// a symbolic link. Use errors.Is to test for it.
var ErrSymlink = errors.New("a mounted folder must be named by its real path, without symbolic links")

// FS is one mounted host directory. It implements experimental/sys.FS; the files it
// opens implement experimental/sys.File. It is safe for concurrent use.
type FS struct {
	experimentalsys.UnimplementedFS
	root     *os.Root
	dir      string
	writable bool
}

var _ experimentalsys.FS = (*FS)(nil)

// Open mounts the host directory dir. dir must be an absolute, clean path of an
// existing directory none of whose components is a symbolic link (see ErrSymlink).
// Errors are *os.PathError values with Op "mount". Close the FS when the instance
// that uses it is closed.
func Open(dir string, mode Mode) (*FS, error) {
	root, err := openReal(dir)
	if err != nil {
		return nil, &os.PathError{Op: "mount", Path: dir, Err: err}
	}
	return &FS{root: root, dir: dir, writable: mode == ReadWrite}, nil
}

// Close releases the directory. Files opened through the FS stay usable until they
// are closed.
func (f *FS) Close() error { return f.root.Close() }

// String returns the host path of the directory.
func (f *FS) String() string { return f.dir }

// Writable reports whether the FS was opened ReadWrite.
func (f *FS) Writable() bool { return f.writable }

// openReal opens dir component by component from the file system root, refusing any
// component that is a symbolic link. Each step is checked twice: the entry is not a
// link (Lstat), and the directory opened is that entry (same device and inode), so a
// link swapped in between the two is caught too.
func openReal(dir string) (*os.Root, error) {
	if !filepath.IsAbs(dir) {
		return nil, errors.New("the host path must be absolute")
	}
	if filepath.Clean(dir) != dir {
		return nil, errors.New("the host path must be clean (no \".\" or \"..\" elements, no repeated or trailing separators)")
	}
	vol := filepath.VolumeName(dir)
	top := vol + string(filepath.Separator)
	r, err := os.OpenRoot(top)
	if err != nil {
		return nil, err
	}
	sofar := top
	for _, name := range strings.Split(dir[len(top):], string(filepath.Separator)) {
		if name == "" {
			continue
		}
		sofar = filepath.Join(sofar, name)
		child, err := openChild(r, name, sofar)
		r.Close()
		if err != nil {
			return nil, err
		}
		r = child
	}
	return r, nil
}

func openChild(parent *os.Root, name, sofar string) (*os.Root, error) {
	fi, err := parent.Lstat(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, symlinkError(sofar)
	case !fi.IsDir():
		return nil, notDirError(sofar)
	}
	child, err := parent.OpenRoot(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	ci, err := child.Stat(".")
	if err != nil {
		child.Close()
		return nil, unwrapPath(err)
	}
	if !os.SameFile(fi, ci) {
		child.Close()
		return nil, symlinkError(sofar)
	}
	return child, nil
}

type pathErr struct {
	msg string
	err error
}

func (e *pathErr) Error() string { return e.msg }
func (e *pathErr) Unwrap() error { return e.err }

func symlinkError(p string) error {
	return &pathErr{msg: p + " is a symbolic link: " + ErrSymlink.Error() + " (grant the folder it points to, by its real path, instead)", err: ErrSymlink}
}

func notDirError(p string) error {
	return &pathErr{msg: p + " is not a directory; only directories can be mounted", err: syscall.ENOTDIR}
}

// unwrapPath drops the *os.PathError around err: Open wraps it in its own.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// errno maps an error of os.Root to an Errno. Errors that are not system errors are
// os.Root refusing a path that leads out of the directory ("path escapes from
// parent"): EPERM, as wazero answers an absolute or escaping path itself.
func errno(err error) experimentalsys.Errno {
	if err == nil {
		return 0
	}
	inner := err
	switch e := err.(type) {
	case *os.PathError:
		inner = e.Err
	case *os.LinkError:
		inner = e.Err
	case *os.SyscallError:
		inner = e.Err
	}
	if _, ok := inner.(syscall.Errno); ok {
		return experimentalsys.UnwrapOSError(err)
	}
	for _, known := range []error{fs.ErrInvalid, fs.ErrPermission, fs.ErrExist, fs.ErrNotExist, fs.ErrClosed} {
		if inner == known {
			return experimentalsys.UnwrapOSError(err)
		}
	}
	return experimentalsys.EPERM
}

// name turns a path given by an instance into a name for os.Root. Paths are relative
// to the directory; "", "." and "/" name the directory itself. Other absolute paths
// and paths that climb above the directory are refused: wazero never passes them, and
// another host that does gets EPERM rather than a second interpretation.
func name(p string) (string, experimentalsys.Errno) {
	switch p {
	case "", ".", "/":
		return ".", 0
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", experimentalsys.EINVAL
	}
	if path.IsAbs(p) || filepath.IsAbs(p) || filepath.VolumeName(p) != "" {
		return "", experimentalsys.EPERM
	}
	if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
		return "", experimentalsys.EPERM
	}
	return p, 0
}

const writeFlags = experimentalsys.O_RDWR | experimentalsys.O_WRONLY |
	experimentalsys.O_CREAT | experimentalsys.O_TRUNC | experimentalsys.O_APPEND

// OpenFile implements experimental/sys.FS.
func (f *FS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	dirOnly := flag&experimentalsys.O_DIRECTORY != 0
	if flag&writeFlags != 0 {
		if dirOnly {
			return nil, experimentalsys.EISDIR
		}
		if !f.writable {
			return nil, experimentalsys.EROFS
		}
	}
	n, e := name(p)
	if e != 0 {
		return nil, e
	}
	if flag&experimentalsys.O_NOFOLLOW != 0 {
		// os.Root follows a link in the last element (inside the directory only);
		// O_NOFOLLOW asks for ELOOP instead.
		if fi, err := f.root.Lstat(n); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, experimentalsys.ELOOP
		}
	}
	osf, err := f.root.OpenFile(n, osFlag(flag), perm&fs.ModePerm)
	if err != nil {
		return nil, errno(err)
	}
	file := &file{f: osf, writable: f.writable, append: flag&experimentalsys.O_APPEND != 0}
	if dirOnly {
		if isDir, e := file.IsDir(); e != 0 || !isDir {
			osf.Close()
			if e == 0 {
				e = experimentalsys.ENOTDIR
			}
			return nil, e
		}
	}
	return file, 0
}

// osFlag converts flag for os.Root.OpenFile. O_APPEND is kept out of the kernel and
// done by the file itself, so that SetAppend can turn it off again; O_DIRECTORY and
// O_NOFOLLOW are checked by OpenFile.
func osFlag(flag experimentalsys.Oflag) int {
	var o int
	switch flag & (experimentalsys.O_RDONLY | experimentalsys.O_RDWR | experimentalsys.O_WRONLY) {
	case experimentalsys.O_RDWR:
		o = os.O_RDWR
	case experimentalsys.O_WRONLY:
		o = os.O_WRONLY
	default:
		o = os.O_RDONLY
	}
	if flag&experimentalsys.O_CREAT != 0 {
		o |= os.O_CREATE
	}
	if flag&experimentalsys.O_EXCL != 0 {
		o |= os.O_EXCL
	}
	if flag&experimentalsys.O_TRUNC != 0 {
		o |= os.O_TRUNC
	}
	if flag&(experimentalsys.O_SYNC|experimentalsys.O_DSYNC|experimentalsys.O_RSYNC) != 0 {
		o |= os.O_SYNC
	}
	return o
}

// Lstat implements experimental/sys.FS.
func (f *FS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) {
	n, e := name(p)
	if e != 0 {
		return sys.Stat_t{}, e
	}
	fi, err := f.root.Lstat(n)
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Stat implements experimental/sys.FS.
func (f *FS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	n, e := name(p)
	if e != 0 {
		return sys.Stat_t{}, e
	}
	fi, err := f.root.Stat(n)
	if err != nil {
		return sys.Stat_t{}, errno(err)
	}
	return sys.NewStat_t(fi), 0
}

// Readlink implements experimental/sys.FS. It returns the text of a link inside the
// directory, wherever it points; following it is what is confined.
func (f *FS) Readlink(p string) (string, experimentalsys.Errno) {
	n, e := name(p)
	if e != 0 {
		return "", e
	}
	dst, err := f.root.Readlink(n)
	if err != nil {
		return "", errno(err)
	}
	return filepath.ToSlash(dst), 0
}

// mutable returns the name for p if the FS may be changed.
func (f *FS) mutable(p string) (string, experimentalsys.Errno) {
	if !f.writable {
		return "", experimentalsys.EROFS
	}
	return name(p)
}

// Mkdir implements experimental/sys.FS.
func (f *FS) Mkdir(p string, perm fs.FileMode) experimentalsys.Errno {
	n, e := f.mutable(p)
	if e != 0 {
		return e
	}
	e = errno(f.root.Mkdir(n, perm&fs.ModePerm))
	if e == experimentalsys.ENOTDIR {
		e = experimentalsys.ENOENT
	}
	return e
}

// Chmod implements experimental/sys.FS. Only the permission bits are set: an instance
// cannot make a file set-user-ID, set-group-ID or sticky.
func (f *FS) Chmod(p string, perm fs.FileMode) experimentalsys.Errno {
	n, e := f.mutable(p)
	if e != 0 {
		return e
	}
	return errno(f.root.Chmod(n, perm&fs.ModePerm))
}

// Rename implements experimental/sys.FS.
func (f *FS) Rename(from, to string) experimentalsys.Errno {
	nf, e := f.mutable(from)
	if e != 0 {
		return e
	}
	nt, e := name(to)
	if e != 0 {
		return e
	}
	return errno(f.root.Rename(nf, nt))
}

// Rmdir implements experimental/sys.FS.
func (f *FS) Rmdir(p string) experimentalsys.Errno {
	n, e := f.mutable(p)
	if e != 0 {
		return e
	}
	fi, err := f.root.Lstat(n)
	if err != nil {
		return errno(err)
	}
	if !fi.IsDir() {
		return experimentalsys.ENOTDIR
	}
	return errno(f.root.Remove(n))
}

// Unlink implements experimental/sys.FS.
func (f *FS) Unlink(p string) experimentalsys.Errno {
	n, e := f.mutable(p)
	if e != 0 {
		return e
	}
	fi, err := f.root.Lstat(n)
	if err != nil {
		return errno(err)
	}
	if fi.IsDir() {
		return experimentalsys.EISDIR
	}
	return errno(f.root.Remove(n))
}

// Link implements experimental/sys.FS: both names are inside the directory.
func (f *FS) Link(oldPath, newPath string) experimentalsys.Errno {
	no, e := f.mutable(oldPath)
	if e != 0 {
		return e
	}
	nn, e := name(newPath)
	if e != 0 {
		return e
	}
	return errno(f.root.Link(no, nn))
}

// Symlink implements experimental/sys.FS: instances cannot create symbolic links
// (EPERM; EROFS on a read-only FS). See the package documentation for why.
func (f *FS) Symlink(_, _ string) experimentalsys.Errno {
	if !f.writable {
		return experimentalsys.EROFS
	}
	return experimentalsys.EPERM
}

// Utimens implements experimental/sys.FS. A link in the last element is followed
// (inside the directory only).
func (f *FS) Utimens(p string, atim, mtim int64) experimentalsys.Errno {
	n, e := f.mutable(p)
	if e != 0 {
		return e
	}
	return errno(f.root.Chtimes(n, timeOf(atim), timeOf(mtim)))
}

// timeOf converts a time in epoch nanoseconds for os.Chtimes, where the zero
// time.Time leaves a time unchanged (UTIME_OMIT).
func timeOf(ns int64) time.Time {
	if ns == experimentalsys.UTIME_OMIT {
		return time.Time{}
	}
	return time.Unix(0, ns)
}
