//go:build linux || darwin

package linmem

import "syscall"

// mapped is a region in an anonymous mapping reserved with no access: growing it
// makes the next pages readable and writable, and the system backs them only when
// they are touched. Its address never changes.
type mapped struct {
	mem       []byte // the whole reservation
	committed uint64 // bytes readable and writable, a whole number of pages
}

func reserve(n uint64) (region, error) {
	if n == 0 {
		n = PageSize
	}
	mem, err := syscall.Mmap(-1, 0, int(n), syscall.PROT_NONE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, err
	}
	return &mapped{mem: mem}, nil
}

func (r *mapped) grow(size uint64) ([]byte, bool) {
	if size > uint64(len(r.mem)) {
		return nil, false
	}
	if size > r.committed {
		end := (size + PageSize - 1) / PageSize * PageSize
		if end > uint64(len(r.mem)) {
			end = uint64(len(r.mem))
		}
		if err := syscall.Mprotect(r.mem[r.committed:end], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil, false
		}
		r.committed = end
	}
	return r.mem[:size:size], true
}

func (r *mapped) bytes(size uint64) []byte { return r.mem[:size:size] }

func (r *mapped) release() {
	syscall.Munmap(r.mem)
	r.mem, r.committed = nil, 0
}

// mapImage maps f copy-on-write over the start of a region nothing has used yet.
func (r *mapped) mapImage(f *imageFile) bool {
	if r.committed != 0 || f.mapOver(r.mem) != nil {
		return false
	}
	r.committed = f.size
	return true
}
