//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

const oNoFollow = syscall.O_NOFOLLOW

// isSymlinkLoop reports the error that open(O_NOFOLLOW) gives for a symbolic link.
func isSymlinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }

func checkOwner(path string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Getuid(); int(st.Uid) != uid {
		return fmt.Errorf("%w: %s is owned by user %d, not by you (user %d); fix it with: chown %d %s",
			ErrInsecure, path, st.Uid, uid, uid, shellQuote(path))
	}
	return nil
}

// sysFingerprint adds what a stat knows beyond size and mtime: the file's identity (a
// rename gives a new inode) and its change time, which no user can set, so an edit whose
// mtime was put back by hand still shows.
func sysFingerprint(fi fs.FileInfo) (dev, ino uint64, ctimeNs int64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0
	}
	sec, nsec := ctime(st)
	return uint64(st.Dev), uint64(st.Ino), sec*1e9 + nsec
}
