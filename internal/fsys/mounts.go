package fsys

import (
	"fmt"
	"path"
)

// Mount is a storage grant as an instance gets it: a host directory, seen by the
// instance at a guest path.
type Mount struct {
	// HostPath is the absolute path of an existing host directory, without symbolic
	// links (see Open).
	HostPath string
	// GuestPath is the absolute path at which the instance sees it, e.g. "/data".
	GuestPath string
	// Writable allows the instance to create, change and delete files in the
	// directory; otherwise the mount is read-only.
	Writable bool
}

// Mounted is a Mount opened by OpenMounts.
type Mounted struct {
	GuestPath string
	FS        *FS
}

// Mounts are the opened mounts of one instance, in the order given.
type Mounts []Mounted

// OpenMounts opens each mount (Open, ReadOnly or ReadWrite) for one instance. Each
// guest path must be clean, absolute and used once. On an error nothing stays open;
// otherwise Close the Mounts once the instance is closed. Both of wassette's hosts,
// WASI preview1 and wasi:filesystem, get their directories here.
func OpenMounts(mounts []Mount) (Mounts, error) {
	var out Mounts
	fail := func(err error) (Mounts, error) {
		out.Close()
		return nil, err
	}
	guestPaths := make(map[string]bool, len(mounts))
	for _, mt := range mounts {
		if !path.IsAbs(mt.GuestPath) || path.Clean(mt.GuestPath) != mt.GuestPath {
			return fail(fmt.Errorf("mount %s: the guest path %q must be a clean absolute path such as /data", mt.HostPath, mt.GuestPath))
		}
		if guestPaths[mt.GuestPath] {
			return fail(fmt.Errorf("mount %s: guest path %q is used by more than one mount", mt.HostPath, mt.GuestPath))
		}
		guestPaths[mt.GuestPath] = true
		mode := ReadOnly
		if mt.Writable {
			mode = ReadWrite
		}
		f, err := Open(mt.HostPath, mode)
		if err != nil {
			return fail(err)
		}
		out = append(out, Mounted{GuestPath: mt.GuestPath, FS: f})
	}
	return out, nil
}

// Close closes every mount.
func (ms Mounts) Close() {
	for _, m := range ms {
		m.FS.Close()
	}
}
