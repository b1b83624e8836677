package cmrun

import (
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// budget is the memory limit of one call, shared by every memory of the
// component's instance. It has the shape of internal/linmem's Budget, which
// replaces it once that package is on main.
type budget struct {
	limit    uint64
	onExceed func()
	exceeded atomic.Bool

	mu   sync.Mutex
	used uint64
}

const pageSize = 65536

func newBudget(limit uint64, onExceed func()) *budget {
	limit -= limit % pageSize
	if limit < pageSize {
		limit = pageSize
	}
	return &budget{limit: limit, onExceed: onExceed}
}

func (b *budget) Limit() uint64  { return b.limit }
func (b *budget) Exceeded() bool { return b.exceeded.Load() }
func (b *budget) Release()       {}

// Allocate implements experimental.MemoryAllocator.
func (b *budget) Allocate(_, _ uint64) experimental.LinearMemory { return &mem{b: b} }

type mem struct {
	b     *budget
	buf   []byte
	grown bool
}

// Reallocate implements experimental.LinearMemory: a grow past the budget
// fails (memory.grow returns -1 to the guest).
func (m *mem) Reallocate(size uint64) []byte {
	first := !m.grown
	m.grown = true
	b := m.b
	b.mu.Lock()
	over := b.used-uint64(len(m.buf))+size > b.limit
	if !over {
		b.used += size - uint64(len(m.buf))
	}
	b.mu.Unlock()
	if over {
		b.exceeded.Store(true)
		if !first {
			return nil
		}
		// wazero needs the initial allocation to succeed: stop the call.
		if b.onExceed != nil {
			b.onExceed()
		}
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	buf := make([]byte, size, size+size/4)
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

// Free implements experimental.LinearMemory.
func (m *mem) Free() {
	m.b.mu.Lock()
	m.b.used -= uint64(len(m.buf))
	m.b.mu.Unlock()
	m.buf = nil
}

var _ experimental.MemoryAllocator = (*budget)(nil)
