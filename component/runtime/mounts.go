package runtime

import (
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wassette/wassette/internal/fsys"
)

// openMounts opens each mount as a confined file system (see internal/fsys) and
// returns the instance's file system configuration, with the file systems to close
// once the instance is closed. No mounts is a nil configuration: no file system.
func openMounts(mounts []Mount) (wazero.FSConfig, fsys.Mounts, error) {
	if len(mounts) == 0 {
		return nil, nil, nil
	}
	opened, err := fsys.OpenMounts(mounts)
	if err != nil {
		return nil, nil, err
	}
	cfg := wazero.NewFSConfig()
	for _, m := range opened {
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(m.FS, m.GuestPath)
	}
	return cfg, opened, nil
}
