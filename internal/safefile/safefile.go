// Package safefile reads and writes wassette's private data files.
//
// Files live in a folder that only the user may enter (0700), and are themselves 0600,
// whatever the umask. Writers hold an advisory lock on the folder's ".lock" file, write a
// temporary file beside the target, fsync it, rename it over the target and fsync the
// folder, so a reader without a lock sees the old file or the new one, never a torn one.
// Readers refuse a file that is a symbolic link, is not a regular file, is owned by
// another user, or is open to group or others, with an error that says how to fix it.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/gofrs/flock"
)

// LockName is the name of the lock file in every folder this package writes to. It is
// never listed as data and never deleted.
const LockName = ".lock"

// tempMark is part of the name of every temporary file, which also starts with '.', so
// that listings skip it and a later writer can recognise one left by a crashed process.
const tempMark = ".tmp-"

// ErrInsecure is wrapped by every error that refuses a file or folder for its type,
// owner or mode.
var ErrInsecure = errors.New("insecure")

// ErrTooLarge is wrapped by the error for a file larger than the reader's limit.
var ErrTooLarge = errors.New("file too large")

// EnsureDir creates dir with mode 0700 if it does not exist, and checks it if it does.
func EnsureDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create folder: %w", err)
		}
		// MkdirAll honours the umask; the mode must not depend on it.
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("set mode of folder: %w", err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	return checkDir(dir, fi)
}

// CheckDir checks an existing folder: it must be a real folder owned by the user and
// closed to group and others. A missing folder is reported with fs.ErrNotExist.
func CheckDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return checkDir(dir, fi)
}

func checkDir(dir string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a folder", ErrInsecure, dir)
	}
	if err := checkOwner(dir, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return fmt.Errorf("%w: folder %s is open to group or others (mode %04o); fix it with: chmod 700 %s",
			ErrInsecure, dir, perm, shellQuote(dir))
	}
	return nil
}

// checkFile refuses anything but a regular file owned by the user with no group or other
// permission bits.
func checkFile(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: %s is a symbolic link; replace it with a regular file (cp --remove-destination \"$(readlink -f %s)\" %s)",
			ErrInsecure, path, shellQuote(path), shellQuote(path))
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: %s is not a regular file; remove it", ErrInsecure, path)
	}
	if err := checkOwner(path, fi); err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return fmt.Errorf("%w: %s is open to group or others (mode %04o); fix it with: chmod 600 %s",
			ErrInsecure, path, perm, shellQuote(path))
	}
	return nil
}

// ReadFile reads a file that must pass the same checks as the cache applies. It reports
// fs.ErrNotExist for a missing file. Files over limit bytes are refused.
func ReadFile(path string, limit int64) ([]byte, error) {
	data, _, err := readChecked(path, limit)
	return data, err
}

// ReadPrivate reads a file that must be the user's, regular, and closed to group and
// others, like ReadFile; but it follows symbolic links (a key file may be a mounted
// secret), checking the file it reaches.
func ReadPrivate(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkFile(path, fi); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, path, limit)
	}
	return data, nil
}

// readChecked opens path without following a final symbolic link, checks what it opened
// (not what was there a moment before), and reads it whole.
func readChecked(path string, limit int64) ([]byte, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|oNoFollow, 0)
	if err != nil {
		if isSymlinkLoop(err) {
			if fi, lerr := os.Lstat(path); lerr == nil {
				return nil, nil, checkFile(path, fi)
			}
		}
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if err := checkFile(path, fi); err != nil {
		return nil, nil, err
	}
	if fi.Size() > limit {
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrTooLarge, path, fi.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("%w: %s is over %d bytes", ErrTooLarge, path, limit)
	}
	return data, fi, nil
}

// lockMu serialises writers within this process; the file lock serialises processes.
// flock locks belong to open file descriptions, so two goroutines that each open the
// lock file would exclude each other too, but holding a mutex first keeps them from
// spinning on the kernel lock.
var lockMu sync.Mutex

// Lock takes the exclusive write lock of dir, creating dir (0700) and its lock file if
// needed. The returned function releases it.
func Lock(dir string) (unlock func(), err error) {
	if err := EnsureDir(dir); err != nil {
		return nil, err
	}
	lockMu.Lock()
	fl := flock.New(filepath.Join(dir, LockName), flock.SetPermissions(0o600))
	if err := fl.Lock(); err != nil {
		lockMu.Unlock()
		return nil, fmt.Errorf("lock %s: %w", fl.Path(), err)
	}
	return func() {
		_ = fl.Unlock() // closing the descriptor releases the lock even if this fails
		lockMu.Unlock()
	}, nil
}

// WriteAtomic replaces dir/name with data. The caller holds Lock(dir). The new file is
// 0600 whatever the umask. On error no temporary file is left behind and the old file, if
// any, is unchanged.
func WriteAtomic(dir, name string, data []byte) (err error) {
	tmp, err := os.CreateTemp(dir, "."+name+tempMark+"*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("set mode of %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	target := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	return syncDir(dir)
}

// Remove deletes dir/name and makes the removal durable. The caller holds Lock(dir). A
// missing file is not an error.
func Remove(dir, name string) error {
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(dir)
}

// SweepTemps removes temporary files that a writer killed mid-write left in dir. The
// caller holds Lock(dir), so no temporary file in dir belongs to a live writer.
func SweepTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, tempMark) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // folders cannot be opened for sync there; renames are durable on NTFS
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync folder %s: %w", dir, err)
	}
	return nil
}

// shellQuote quotes a path for a command the user may paste.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '_' || r == '-' || r == '%' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
