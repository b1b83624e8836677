//go:build !unix

package safefile

import "io/fs"

const oNoFollow = 0

func isSymlinkLoop(error) bool { return false }

// checkOwner has nothing to check where files carry no Unix owner; access there is
// governed by the ACL of the user's profile folder.
func checkOwner(string, fs.FileInfo) error { return nil }

func sysFingerprint(fs.FileInfo) (dev, ino uint64, ctimeNs int64) { return 0, 0, 0 }
