package runtime

import (
	"io/fs"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// readOnlyFS is a read-only directory mount. wazero's own read-only mount
// answers an open for writing with ENOSYS, which guests report as "not
// implemented"; this one answers EROFS ("read-only file system"), and also
// refuses O_CREAT, O_TRUNC and O_APPEND without a write mode.
type readOnlyFS struct {
	*sysfs.ReadFS
}

func newReadOnlyFS(dir string) experimentalsys.FS {
	return readOnlyFS{&sysfs.ReadFS{FS: sysfs.DirFS(dir)}}
}

// OpenFile implements experimentalsys.FS.
func (r readOnlyFS) OpenFile(path string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	const write = experimentalsys.O_RDWR | experimentalsys.O_WRONLY |
		experimentalsys.O_CREAT | experimentalsys.O_TRUNC | experimentalsys.O_APPEND
	if flag&write != 0 {
		if flag&experimentalsys.O_DIRECTORY != 0 {
			return nil, experimentalsys.EISDIR
		}
		return nil, experimentalsys.EROFS
	}
	return r.ReadFS.OpenFile(path, flag, perm)
}

// withMount adds a directory mount to cfg (nil means a new FSConfig).
func withMount(cfg wazero.FSConfig, m Mount) wazero.FSConfig {
	if cfg == nil {
		cfg = wazero.NewFSConfig()
	}
	if m.Writable {
		return cfg.WithDirMount(m.HostPath, m.GuestPath)
	}
	return cfg.(sysfs.FSConfig).WithSysFSMount(newReadOnlyFS(m.HostPath), m.GuestPath)
}
