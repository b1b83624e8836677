package cmrun

import (
	"errors"

	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/wasi"
)

// ErrNoStorage refuses storage grants to WASI 0.2 components until the
// confined file layer (internal/fsys) backs wasi:filesystem: a plain
// directory file system would follow symbolic links out of a grant.
var ErrNoStorage = errors.New("storage grants are not available to WASI 0.2 components in this version of wassette; revoke the grant (wassette permission revoke storage ...) to call the component")

// openMounts opens the storage grants of a call as preopened directories.
func openMounts(mounts []runtime.Mount) ([]wasi.Preopen, func(), error) {
	if len(mounts) > 0 {
		return nil, nil, ErrNoStorage
	}
	return nil, func() {}, nil
}
