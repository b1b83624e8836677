package wasi

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wassette/wassette/component/cm"
)

// wasi:filesystem/types error-code cases.
const (
	ecAccess       = 0
	ecWouldBlock   = 1
	ecBadDesc      = 3
	ecExist        = 7
	ecInterrupted  = 11
	ecInvalid      = 12
	ecIO           = 13
	ecIsDirectory  = 14
	ecLoop         = 15
	ecNameTooLong  = 18
	ecNoEntry      = 20
	ecNotDirectory = 24
	ecNotEmpty     = 25
	ecUnsupported  = 27
	ecOverflow     = 30
	ecNotPermitted = 31
	ecReadOnly     = 33
)

// descriptor-type cases.
const (
	dtUnknown     = 0
	dtCharDevice  = 2
	dtDirectory   = 3
	dtFifo        = 4
	dtSymlink     = 5
	dtRegularFile = 6
	dtSocket      = 7
)

// descriptor-flags bits.
const (
	dfRead            = 1 << 0
	dfWrite           = 1 << 1
	dfMutateDirectory = 1 << 5
)

// fsError is a failed file system operation, as a Go error (the host value
// of a wasi:io/error raised by a file stream).
type fsError struct{ code uint32 }

func (e *fsError) Error() string { return "file system error " + errorCodeNames[e.code] }

var errorCodeNames = map[uint32]string{ecAccess: "access", ecWouldBlock: "would-block", ecBadDesc: "bad-descriptor",
	ecExist: "exist", ecInterrupted: "interrupted", ecInvalid: "invalid", ecIO: "io", ecIsDirectory: "is-directory",
	ecLoop: "loop", ecNameTooLong: "name-too-long", ecNoEntry: "no-entry", ecNotDirectory: "not-directory",
	ecNotEmpty: "not-empty", ecUnsupported: "unsupported", ecOverflow: "overflow", ecNotPermitted: "not-permitted",
	ecReadOnly: "read-only"}

func errnoCode(e experimentalsys.Errno) uint32 {
	switch e {
	case experimentalsys.EACCES:
		return ecAccess
	case experimentalsys.EAGAIN:
		return ecWouldBlock
	case experimentalsys.EBADF:
		return ecBadDesc
	case experimentalsys.EEXIST:
		return ecExist
	case experimentalsys.EINTR:
		return ecInterrupted
	case experimentalsys.EINVAL:
		return ecInvalid
	case experimentalsys.EISDIR:
		return ecIsDirectory
	case experimentalsys.ELOOP:
		return ecLoop
	case experimentalsys.ENAMETOOLONG:
		return ecNameTooLong
	case experimentalsys.ENOENT:
		return ecNoEntry
	case experimentalsys.ENOSYS, experimentalsys.ENOTSUP:
		return ecUnsupported
	case experimentalsys.ENOTDIR:
		return ecNotDirectory
	case experimentalsys.ENOTEMPTY:
		return ecNotEmpty
	case experimentalsys.EPERM:
		return ecNotPermitted
	case experimentalsys.EROFS:
		return ecReadOnly
	case experimentalsys.ERANGE:
		return ecOverflow
	}
	return ecIO
}

func fail(code uint32) (any, error) { return cm.Err(code), nil }

func failErrno(e experimentalsys.Errno) (any, error) { return fail(errnoCode(e)) }

// descriptor is the host value of a wasi:filesystem descriptor: an open
// file or directory of a preopened FS.
type descriptor struct {
	fs    experimentalsys.FS
	path  string // in fs, "." for its root
	file  experimentalsys.File
	dir   bool
	flags uint32
}

func (d *descriptor) Close() error {
	if d.file != nil {
		d.file.Close()
		d.file = nil
	}
	return nil
}

// resolve joins a path a component gives to d's path. Absolute paths and
// paths that climb above the preopened directory are refused here, before
// the FS (which refuses them too) sees them.
func (d *descriptor) resolve(p string) (string, uint32, bool) {
	if !d.dir {
		return "", ecNotDirectory, false
	}
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return "", ecInvalid, false
	}
	if strings.HasPrefix(p, "/") {
		return "", ecNotPermitted, false
	}
	j := path.Join(d.path, p)
	if j == ".." || strings.HasPrefix(j, "../") {
		return "", ecNotPermitted, false
	}
	return j, 0, true
}

func typeOf(m fs.FileMode) uint32 {
	switch {
	case m.IsDir():
		return dtDirectory
	case m&fs.ModeSymlink != 0:
		return dtSymlink
	case m&fs.ModeNamedPipe != 0:
		return dtFifo
	case m&fs.ModeSocket != 0:
		return dtSocket
	case m&fs.ModeCharDevice != 0:
		return dtCharDevice
	case m.IsRegular():
		return dtRegularFile
	}
	return dtUnknown
}

func datetime(ns int64) any {
	if ns < 0 {
		return cm.None()
	}
	return cm.Some([]any{uint64(ns / 1e9), uint32(ns % 1e9)})
}

func statValue(st sys.Stat_t) any {
	return []any{typeOf(st.Mode), st.Nlink, uint64(max(st.Size, 0)), datetime(st.Atim), datetime(st.Mtim), datetime(st.Ctim)}
}

func registerFilesystem(h *cm.Host) {
	method := func(name string, f func(ctx context.Context, d *descriptor, args []any) (any, error)) (string, cm.HostFunc) {
		return "[method]descriptor." + name, pure(func(ctx context.Context, args []any) (any, error) {
			d, err := arg[*descriptor](args, 0)
			if err != nil {
				return nil, err
			}
			if d.file == nil {
				return fail(ecBadDesc)
			}
			return f(ctx, d, args[1:])
		})
	}
	ti := h.Interface("wasi:filesystem/types", v02).
		Resource("descriptor", closeValue).
		Resource("directory-entry-stream", nil).
		Func("filesystem-error-code", pure(func(_ context.Context, args []any) (any, error) {
			e, err := arg[*ioError](args, 0)
			if err != nil {
				return nil, err
			}
			var fe *fsError
			if errors.As(e.err, &fe) {
				return cm.Some(fe.code), nil
			}
			return cm.None(), nil
		})).
		Func("[method]directory-entry-stream.read-directory-entry", pure(func(_ context.Context, args []any) (any, error) {
			s, err := arg[*dirStream](args, 0)
			if err != nil {
				return nil, err
			}
			for len(s.entries) > 0 {
				e := s.entries[0]
				s.entries = s.entries[1:]
				if e.Name == "." || e.Name == ".." {
					continue
				}
				return cm.OK(cm.Some([]any{typeOf(e.Type), e.Name})), nil
			}
			return cm.OK(cm.None()), nil
		}))
	for _, m := range []struct {
		name string
		f    func(ctx context.Context, d *descriptor, args []any) (any, error)
	}{
		{"read-via-stream", func(_ context.Context, d *descriptor, args []any) (any, error) {
			off, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			if d.dir {
				return fail(ecIsDirectory)
			}
			return cm.OK(&fileInput{f: d.file, off: int64(off)}), nil
		}},
		{"write-via-stream", func(_ context.Context, d *descriptor, args []any) (any, error) {
			off, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			if d.dir {
				return fail(ecIsDirectory)
			}
			return cm.OK(&fileOutput{f: d.file, off: int64(off)}), nil
		}},
		{"append-via-stream", func(_ context.Context, d *descriptor, _ []any) (any, error) {
			if d.dir {
				return fail(ecIsDirectory)
			}
			return cm.OK(&fileOutput{f: d.file, append: true}), nil
		}},
		{"advise", func(context.Context, *descriptor, []any) (any, error) { return cm.OK(nil), nil }},
		{"sync-data", func(_ context.Context, d *descriptor, _ []any) (any, error) { return result(d.file.Datasync()) }},
		{"sync", func(_ context.Context, d *descriptor, _ []any) (any, error) { return result(d.file.Sync()) }},
		{"get-flags", func(_ context.Context, d *descriptor, _ []any) (any, error) { return cm.OK(d.flags), nil }},
		{"get-type", func(_ context.Context, d *descriptor, _ []any) (any, error) {
			st, e := d.file.Stat()
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(typeOf(st.Mode)), nil
		}},
		{"set-size", func(_ context.Context, d *descriptor, args []any) (any, error) {
			n, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			if n > 1<<62 {
				return fail(ecInvalid)
			}
			return result(d.file.Truncate(int64(n)))
		}},
		{"set-times", func(_ context.Context, d *descriptor, args []any) (any, error) {
			a, m, ok := newTimes(args)
			if !ok {
				return fail(ecInvalid)
			}
			return result(d.file.Utimens(a, m))
		}},
		{"read", func(_ context.Context, d *descriptor, args []any) (any, error) {
			n, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			off, err := arg[uint64](args, 1)
			if err != nil {
				return nil, err
			}
			if d.dir {
				return fail(ecIsDirectory)
			}
			buf := make([]byte, min(n, maxRead))
			got, e := d.file.Pread(buf, int64(off))
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK([]any{buf[:got], got == 0 && len(buf) > 0}), nil
		}},
		{"write", func(_ context.Context, d *descriptor, args []any) (any, error) {
			b, err := arg[[]byte](args, 0)
			if err != nil {
				return nil, err
			}
			off, err := arg[uint64](args, 1)
			if err != nil {
				return nil, err
			}
			if d.dir {
				return fail(ecIsDirectory)
			}
			n, e := d.file.Pwrite(b, int64(off))
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(uint64(n)), nil
		}},
		{"read-directory", func(_ context.Context, d *descriptor, _ []any) (any, error) {
			if !d.dir {
				return fail(ecNotDirectory)
			}
			f, e := d.fs.OpenFile(d.path, experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
			if e != 0 {
				return failErrno(e)
			}
			defer f.Close()
			entries, e := f.Readdir(-1)
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(&dirStream{entries: entries}), nil
		}},
		{"create-directory-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			return atPath(d, args, 0, func(p string) experimentalsys.Errno { return d.fs.Mkdir(p, 0o755) })
		}},
		{"remove-directory-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			return atPath(d, args, 0, d.fs.Rmdir)
		}},
		{"unlink-file-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			return atPath(d, args, 0, d.fs.Unlink)
		}},
		{"symlink-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			target, err := arg[string](args, 0)
			if err != nil {
				return nil, err
			}
			return atPath(d, args, 1, func(p string) experimentalsys.Errno { return d.fs.Symlink(target, p) })
		}},
		{"stat", func(_ context.Context, d *descriptor, _ []any) (any, error) {
			st, e := d.file.Stat()
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(statValue(st)), nil
		}},
		{"stat-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			pf, err := arg[uint32](args, 0)
			if err != nil {
				return nil, err
			}
			p, err := arg[string](args, 1)
			if err != nil {
				return nil, err
			}
			j, code, ok := d.resolve(p)
			if !ok {
				return fail(code)
			}
			st, e := stat(d.fs, j, pf&1 != 0)
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(statValue(st)), nil
		}},
		{"set-times-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			a, m, ok := newTimes(args[2:])
			if !ok {
				return fail(ecInvalid)
			}
			return atPath(d, args, 1, func(p string) experimentalsys.Errno { return d.fs.Utimens(p, a, m) })
		}},
		{"link-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			old, err := arg[string](args, 1)
			if err != nil {
				return nil, err
			}
			nd, err := arg[*descriptor](args, 2)
			if err != nil {
				return nil, err
			}
			np, err := arg[string](args, 3)
			if err != nil {
				return nil, err
			}
			return twoPaths(d, old, nd, np, d.fs.Link)
		}},
		{"open-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			return openAt(d, args)
		}},
		{"readlink-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			p, err := arg[string](args, 0)
			if err != nil {
				return nil, err
			}
			j, code, ok := d.resolve(p)
			if !ok {
				return fail(code)
			}
			s, e := d.fs.Readlink(j)
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK(s), nil
		}},
		{"rename-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			old, err := arg[string](args, 0)
			if err != nil {
				return nil, err
			}
			nd, err := arg[*descriptor](args, 1)
			if err != nil {
				return nil, err
			}
			np, err := arg[string](args, 2)
			if err != nil {
				return nil, err
			}
			return twoPaths(d, old, nd, np, d.fs.Rename)
		}},
		{"is-same-object", func(_ context.Context, d *descriptor, args []any) (any, error) {
			o, err := arg[*descriptor](args, 0)
			if err != nil {
				return nil, err
			}
			if o.file == nil {
				return false, nil
			}
			a, e1 := d.file.Stat()
			b, e2 := o.file.Stat()
			return e1 == 0 && e2 == 0 && a.Dev == b.Dev && a.Ino == b.Ino, nil
		}},
		{"metadata-hash", func(_ context.Context, d *descriptor, _ []any) (any, error) {
			st, e := d.file.Stat()
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK([]any{uint64(st.Ino), st.Dev}), nil
		}},
		{"metadata-hash-at", func(_ context.Context, d *descriptor, args []any) (any, error) {
			pf, err := arg[uint32](args, 0)
			if err != nil {
				return nil, err
			}
			p, err := arg[string](args, 1)
			if err != nil {
				return nil, err
			}
			j, code, ok := d.resolve(p)
			if !ok {
				return fail(code)
			}
			st, e := stat(d.fs, j, pf&1 != 0)
			if e != 0 {
				return failErrno(e)
			}
			return cm.OK([]any{uint64(st.Ino), st.Dev}), nil
		}},
	} {
		ti.Func(method(m.name, m.f))
	}

	h.Interface("wasi:filesystem/preopens", v02).
		Func("get-directories", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) {
			out := []any{}
			for _, p := range c.cfg.Preopens {
				f, e := p.FS.OpenFile(".", experimentalsys.O_RDONLY|experimentalsys.O_DIRECTORY, 0)
				if e != 0 {
					continue // a directory that went away is simply not there
				}
				flags := uint32(dfRead | dfWrite | dfMutateDirectory)
				if w, ok := p.FS.(interface{ Writable() bool }); ok && !w.Writable() {
					flags = dfRead // a read-only grant: every change fails with read-only
				}
				out = append(out, []any{&descriptor{fs: p.FS, path: ".", file: f, dir: true, flags: flags}, p.Path})
			}
			return out, nil
		}))
}

func stat(fsys experimentalsys.FS, p string, follow bool) (sys.Stat_t, experimentalsys.Errno) {
	if follow {
		return fsys.Stat(p)
	}
	return fsys.Lstat(p)
}

func result(e experimentalsys.Errno) (any, error) {
	if e != 0 {
		return failErrno(e)
	}
	return cm.OK(nil), nil
}

func atPath(d *descriptor, args []any, i int, op func(string) experimentalsys.Errno) (any, error) {
	p, err := arg[string](args, i)
	if err != nil {
		return nil, err
	}
	j, code, ok := d.resolve(p)
	if !ok {
		return fail(code)
	}
	return result(op(j))
}

func twoPaths(d *descriptor, old string, nd *descriptor, np string, op func(a, b string) experimentalsys.Errno) (any, error) {
	if nd.fs != d.fs {
		return fail(ecNotPermitted) // across preopens
	}
	a, code, ok := d.resolve(old)
	if !ok {
		return fail(code)
	}
	b, code, ok := nd.resolve(np)
	if !ok {
		return fail(code)
	}
	return result(op(a, b))
}

// newTimes converts two new-timestamp values to Utimens arguments.
func newTimes(args []any) (atim, mtim int64, ok bool) {
	conv := func(v any) (int64, bool) {
		t, ok := v.(cm.Variant)
		if !ok {
			return 0, false
		}
		switch t.Case {
		case 0: // no-change
			return experimentalsys.UTIME_OMIT, true
		case 1: // now
			return nowNanos(), true
		case 2:
			dt, ok := t.Value.([]any)
			if !ok || len(dt) != 2 {
				return 0, false
			}
			s, _ := dt[0].(uint64)
			ns, _ := dt[1].(uint32)
			if s > (1<<62)/1_000_000_000 {
				return 0, false
			}
			return int64(s)*1e9 + int64(ns), true
		}
		return 0, false
	}
	if len(args) < 2 {
		return 0, 0, false
	}
	a, ok1 := conv(args[0])
	m, ok2 := conv(args[1])
	return a, m, ok1 && ok2
}

func openAt(d *descriptor, args []any) (any, error) {
	pf, err := arg[uint32](args, 0)
	if err != nil {
		return nil, err
	}
	p, err := arg[string](args, 1)
	if err != nil {
		return nil, err
	}
	of, err := arg[uint32](args, 2)
	if err != nil {
		return nil, err
	}
	flags, err := arg[uint32](args, 3)
	if err != nil {
		return nil, err
	}
	j, code, ok := d.resolve(p)
	if !ok {
		return fail(code)
	}
	var o experimentalsys.Oflag
	switch {
	case flags&dfWrite != 0 && flags&dfRead != 0:
		o = experimentalsys.O_RDWR
	case flags&dfWrite != 0:
		o = experimentalsys.O_WRONLY
	default:
		o = experimentalsys.O_RDONLY
	}
	if of&1 != 0 {
		o |= experimentalsys.O_CREAT
	}
	if of&2 != 0 {
		o |= experimentalsys.O_DIRECTORY
	}
	if of&4 != 0 {
		o |= experimentalsys.O_EXCL
	}
	if of&8 != 0 {
		o |= experimentalsys.O_TRUNC
	}
	if pf&1 == 0 {
		o |= experimentalsys.O_NOFOLLOW
	}
	f, e := d.fs.OpenFile(j, o, 0o644)
	if e != 0 {
		return failErrno(e)
	}
	isDir, e := f.IsDir()
	if e != 0 {
		f.Close()
		return failErrno(e)
	}
	if isDir {
		flags |= dfRead
	}
	return cm.OK(&descriptor{fs: d.fs, path: j, file: f, dir: isDir, flags: flags}), nil
}

// dirStream is the host value of a directory-entry-stream.
type dirStream struct {
	entries []experimentalsys.Dirent
}

// fileInput reads a file from an offset.
type fileInput struct {
	f   experimentalsys.File
	off int64
}

func (r *fileInput) Read(n uint64) ([]byte, error) {
	buf := make([]byte, min(n, maxRead))
	got, e := r.f.Pread(buf, r.off)
	if e != 0 {
		return nil, &fsError{code: errnoCode(e)}
	}
	if got == 0 && len(buf) > 0 {
		return nil, io.EOF
	}
	r.off += int64(got)
	return buf[:got], nil
}

func (r *fileInput) Subscribe() Pollable { return Ready }

// fileOutput writes a file at an offset, or at its end.
type fileOutput struct {
	f      experimentalsys.File
	off    int64
	append bool
}

func (w *fileOutput) CheckWrite() (uint64, error) { return writeBudget, nil }

func (w *fileOutput) Write(b []byte) error {
	if w.append {
		st, e := w.f.Stat()
		if e != 0 {
			return &fsError{code: errnoCode(e)}
		}
		w.off = st.Size
	}
	for len(b) > 0 {
		n, e := w.f.Pwrite(b, w.off)
		if e != 0 {
			return &fsError{code: errnoCode(e)}
		}
		w.off += int64(n)
		b = b[n:]
	}
	return nil
}

func (w *fileOutput) Flush() error        { return nil }
func (w *fileOutput) Subscribe() Pollable { return Ready }
