//go:build !linux

package fsys

import (
	"os"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// futimens is not available here without resolving a path again, which would not be
// confined: setting times through an open file fails with ENOSYS. Setting them by
// path (FS.Utimens) works.
func futimens(*os.File, int64, int64) experimentalsys.Errno {
	return experimentalsys.ENOSYS
}
