package fsys

import (
	"os"
	"syscall"
	"unsafe"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// utimeOmit is Linux's UTIME_OMIT: leave this time unchanged.
const utimeOmit = (1 << 30) - 2

// futimens sets the times of the open file f: utimensat(fd, NULL, times, 0), which is
// futimens(3), at nanosecond precision.
func futimens(f *os.File, atim, mtim int64) experimentalsys.Errno {
	var ts [2]syscall.Timespec
	for i, t := range [2]int64{atim, mtim} {
		if t == experimentalsys.UTIME_OMIT {
			ts[i] = syscall.Timespec{Nsec: utimeOmit}
		} else {
			ts[i] = syscall.NsecToTimespec(t)
		}
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(syscall.SYS_UTIMENSAT, fd, 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	}); err != nil {
		return experimentalsys.UnwrapOSError(err)
	}
	if errno != 0 {
		return experimentalsys.UnwrapOSError(errno)
	}
	return 0
}
