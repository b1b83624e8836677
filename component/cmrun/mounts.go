package cmrun

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/tetratelabs/wazero/experimental/sysfs"

	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/wasi"
)

// openMounts opens the storage grants of a call as preopened directories.
func openMounts(mounts []runtime.Mount) ([]wasi.Preopen, func(), error) {
	var out []wasi.Preopen
	seen := map[string]bool{}
	for _, mt := range mounts {
		if !filepath.IsAbs(mt.HostPath) {
			return nil, nil, fmt.Errorf("mount %q: the host path must be absolute", mt.HostPath)
		}
		if !path.IsAbs(mt.GuestPath) || path.Clean(mt.GuestPath) != mt.GuestPath {
			return nil, nil, fmt.Errorf("mount %q: the guest path %q must be a clean absolute path such as /data", mt.HostPath, mt.GuestPath)
		}
		if seen[mt.GuestPath] {
			return nil, nil, fmt.Errorf("mount %q: guest path %q is used by more than one mount", mt.HostPath, mt.GuestPath)
		}
		seen[mt.GuestPath] = true
		fi, err := os.Stat(mt.HostPath)
		if err != nil {
			return nil, nil, fmt.Errorf("mount %q: %w", mt.HostPath, err)
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("mount %q: not a directory; only directories can be mounted", mt.HostPath)
		}
		if !mt.Writable {
			return nil, nil, fmt.Errorf("mount %q: read-only grants need the confined file layer (internal/fsys)", mt.HostPath)
		}
		out = append(out, wasi.Preopen{Path: mt.GuestPath, FS: sysfs.DirFS(mt.HostPath)})
	}
	return out, func() {}, nil
}
