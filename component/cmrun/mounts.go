package cmrun

import (
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/wasi"
	"github.com/wassette/wassette/internal/fsys"
)

// openMounts opens the storage grants of a call as wasi:filesystem preopens,
// on the confined file layer preview1 modules get too (internal/fsys). Close
// the returned Mounts once the instance is closed.
func openMounts(mounts []runtime.Mount) ([]wasi.Preopen, fsys.Mounts, error) {
	opened, err := fsys.OpenMounts(mounts)
	if err != nil {
		return nil, nil, err
	}
	preopens := make([]wasi.Preopen, len(opened))
	for i, m := range opened {
		preopens[i] = wasi.Preopen{Path: m.GuestPath, FS: m.FS}
	}
	return preopens, opened, nil
}
