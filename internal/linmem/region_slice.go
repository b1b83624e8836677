//go:build !(linux || darwin)

package linmem

// sliced is a region in a Go slice, for systems without the mapping calls: it grows
// geometrically, like append, but never past its reservation, so that a memory
// growing one page at a time is not copied at each grow.
type sliced struct {
	buf     []byte
	reserve uint64
}

func reserve(n uint64) (region, error) { return &sliced{reserve: n}, nil }

func (r *sliced) grow(size uint64) ([]byte, bool) {
	if size > r.reserve {
		return nil, false
	}
	if size <= uint64(cap(r.buf)) {
		r.buf = r.buf[:size]
		return r.buf, true
	}
	newCap := min(size+size/4, r.reserve)
	buf := make([]byte, size, newCap)
	copy(buf, r.buf)
	r.buf = buf
	return buf, true
}

func (r *sliced) bytes(size uint64) []byte { return r.buf[:size] }

func (r *sliced) release() { r.buf = nil }
