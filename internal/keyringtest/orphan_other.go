//go:build !linux

package keyringtest

import "os/exec"

// dieWithParent does nothing where the kernel has no parent-death signal; Stop ends the
// processes.
func dieWithParent(*exec.Cmd) {}
