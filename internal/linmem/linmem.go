// Package linmem provides the linear memories of WebAssembly instances under one byte
// budget per call, for wazero's experimental.WithMemoryAllocator.
//
// A Budget is one call's memory limit, shared by every memory its instances create
// (a core module has one; a component's core modules have several). Each memory
// reserves address space once and grows in place, never copying: on Linux and macOS
// the reservation is an anonymous mmap with no access, and growing makes the next
// pages readable and writable, so the host commits only the pages the guest touches,
// and a grow past the budget fails (the guest sees memory.grow return -1) without
// having allocated anything. Release unmaps every reservation at once, when no
// instance of the call can run any more; the process's memory falls back at once.
// Elsewhere, memories are Go slices grown geometrically up to the budget.
//
// Declared reads the memories a module declares, imported or defined, exported or
// not, from its binary, so that a caller can refuse a module whose initial memories
// do not fit its budget before anything is allocated (wazero reports only exported
// memories). CapTables bounds the other memory an instance takes from the host, its
// tables, by giving each a maximum size before the module is compiled.
//
// The storage of one memory is a region: reserved once, committed as it grows. A
// region may start with an Image, the initial contents Prepare computed from a
// module's data segments: on Linux its first pages then map a sealed memfd
// MAP_PRIVATE (copy-on-write), elsewhere they hold a copy.
package linmem

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// PageSize is the size of a WebAssembly page, 64 KiB.
const PageSize = 65536

// Budget is the memory limit of one call. It implements experimental.MemoryAllocator:
// pass it to experimental.WithMemoryAllocator in the context that instantiates the
// call's modules. It is safe for concurrent use.
type Budget struct {
	limit    uint64
	onExceed func()
	exceeded atomic.Bool
	stopped  atomic.Bool

	mu       sync.Mutex
	used     uint64 // sum of the current sizes of the memories not freed
	mems     []*memory
	released bool
}

var _ experimental.MemoryAllocator = (*Budget)(nil)

// NewBudget returns a budget of limit bytes, rounded down to whole pages (at least
// one). A grow past the budget fails: the guest sees memory.grow return -1 and
// decides what to do (a Go guest dies with "out of memory"), and Exceeded reports
// it. A memory whose initial size does not fit cannot fail that way (see
// Reallocate): then onExceed, if not nil, is called, once; the caller stops the
// call.
func NewBudget(limit uint64, onExceed func()) *Budget {
	limit -= limit % PageSize
	if limit < PageSize {
		limit = PageSize
	}
	return &Budget{limit: limit, onExceed: onExceed}
}

// Limit returns the budget in bytes, a whole number of pages.
func (b *Budget) Limit() uint64 { return b.limit }

// Exceeded reports whether a memory asked for more than the budget had left.
func (b *Budget) Exceeded() bool { return b.exceeded.Load() }

// Used returns the bytes the call's memories hold now.
func (b *Budget) Used() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// exceed marks the budget exceeded, and stops the call if the memory could not be
// refused (stop).
func (b *Budget) exceed(stop bool) {
	b.exceeded.Store(true)
	if stop && !b.stopped.Swap(true) && b.onExceed != nil {
		b.onExceed()
	}
}

// Allocate implements experimental.MemoryAllocator. max is the most the memory may
// ever ask for (its declared maximum, or 4 GiB); the reservation is the smaller of
// max and the budget. The address of the memory's bytes never changes, so it may
// back a shared memory.
func (b *Budget) Allocate(_, max uint64) experimental.LinearMemory {
	reserve := b.limit
	if max < reserve {
		reserve = max
	}
	reserve -= reserve % PageSize
	m := &memory{b: b, reserve: reserve}
	b.mu.Lock()
	b.mems = append(b.mems, m)
	b.mu.Unlock()
	return m
}

// Release unmaps every memory of the budget. Call it once no instance that uses the
// budget can run (after closing them): their bytes are gone. Later grows fail.
func (b *Budget) Release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.mems {
		if m.r != nil {
			m.r.release()
			m.r = nil
		}
	}
	b.mems, b.used, b.released = nil, 0, true
}

// memory is one linear memory of a budget.
type memory struct {
	b       *Budget
	reserve uint64 // bytes of address space to reserve
	r       region // nil until the first Reallocate, and after Release
	img     *Image // the initial contents, or nil (see Budget.WithImage)
	size    uint64
	grown   bool // Reallocate was called once
	freed   bool
}

var _ experimental.LinearMemory = (*memory)(nil)

// Reallocate implements experimental.LinearMemory. WebAssembly memories never
// shrink, and the bytes past the old size are zero.
//
// wazero requires the first call (the memory's initial size) to succeed. A caller
// that checked the module's declared memories against the budget (Declared) never
// gets past it here; if it did, the memory is still allocated (reserved, untouched),
// the budget is marked exceeded and onExceed stops the call.
func (m *memory) Reallocate(size uint64) []byte {
	buf, over, first := m.realloc(size)
	if over {
		m.b.exceed(first)
	}
	return buf
}

// realloc is Reallocate under the budget's lock; over reports that the budget was
// exceeded (or the system refused the memory), first that this was the initial
// size, for Reallocate to act on unlocked.
func (m *memory) realloc(size uint64) (buf []byte, over, first bool) {
	b := m.b
	b.mu.Lock()
	defer b.mu.Unlock()
	first = !m.grown
	m.grown = true
	switch {
	case b.released || m.freed:
		return nil, false, first
	case size == 0:
		return []byte{}, false, first
	case size <= m.size:
		return m.r.bytes(size), false, first
	}
	if b.used+(size-m.size) > b.limit || size > m.reserve {
		if !first {
			return nil, true, first
		}
		over = true // the safety net described on Reallocate
		m.reserve = max(m.reserve, size)
	}
	if m.r == nil {
		r, err := reserve(m.reserve)
		if err != nil {
			return nil, true, first
		}
		if m.img != nil && !load(r, m.img) {
			r.release()
			return nil, true, first
		}
		m.r = r
	}
	buf, ok := m.r.grow(size)
	if !ok {
		return nil, true, first
	}
	b.used += size - m.size
	m.size = size
	return buf, over, first
}

// Free implements experimental.LinearMemory. It returns the memory's bytes to the
// budget but keeps them mapped until Release: wazero frees a memory while closing an
// instance, and an unmapped page touched by a late access would crash the process,
// where a mapped one is merely wasted until the call ends.
func (m *memory) Free() {
	b := m.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !m.freed {
		m.freed = true
		b.used -= m.size
	}
}

// load gives a new region the image's contents: mapped where the region can map the
// image's file, else copied.
func load(r region, img *Image) bool {
	if img.size == 0 {
		return true
	}
	if m, ok := r.(imageMapper); ok && img.file != nil && m.mapImage(img.file) {
		return true
	}
	buf, ok := r.grow(img.size)
	return ok && img.CopyTo(buf) == nil
}

// imageMapper is a region that can map an image's file over its first bytes.
type imageMapper interface {
	mapImage(f *imageFile) bool
}

// region is the storage of one memory: address space reserved once, committed as
// the memory grows.
type region interface {
	// grow commits the first size bytes (size never decreases) and returns them,
	// with len and cap size; false if the system refused.
	grow(size uint64) ([]byte, bool)
	// bytes returns the first size bytes, already committed.
	bytes(size uint64) []byte
	// release frees the region; its bytes must not be used again.
	release()
}
