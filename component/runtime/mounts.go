package runtime

import (
	"fmt"
	"path"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wassette/wassette/internal/fsys"
)

// openMounts opens each mount as a confined file system (see internal/fsys) and
// returns the instance's file system configuration, with the file systems to close
// once the instance is closed. No mounts is a nil configuration: no file system.
func openMounts(mounts []Mount) (wazero.FSConfig, []*fsys.FS, error) {
	if len(mounts) == 0 {
		return nil, nil, nil
	}
	cfg := wazero.NewFSConfig()
	var opened []*fsys.FS
	fail := func(err error) (wazero.FSConfig, []*fsys.FS, error) {
		closeMounts(opened)
		return nil, nil, err
	}
	guestPaths := map[string]bool{}
	for _, mt := range mounts {
		if !path.IsAbs(mt.GuestPath) || path.Clean(mt.GuestPath) != mt.GuestPath {
			return fail(fmt.Errorf("mount %s: the guest path %q must be a clean absolute path such as /data", mt.HostPath, mt.GuestPath))
		}
		if guestPaths[mt.GuestPath] {
			return fail(fmt.Errorf("mount %s: guest path %q is used by more than one mount", mt.HostPath, mt.GuestPath))
		}
		guestPaths[mt.GuestPath] = true
		mode := fsys.ReadOnly
		if mt.Writable {
			mode = fsys.ReadWrite
		}
		f, err := fsys.Open(mt.HostPath, mode)
		if err != nil {
			return fail(err)
		}
		opened = append(opened, f)
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(f, mt.GuestPath)
	}
	return cfg, opened, nil
}

func closeMounts(mounts []*fsys.FS) {
	for _, f := range mounts {
		f.Close()
	}
}
