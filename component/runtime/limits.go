package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Errors reporting that a call was stopped because it exceeded a limit. The
// errors returned by Module.Call wrap them; use errors.Is to test for them.
var (
	ErrTimeout     = errors.New("the call ran past its time limit and was stopped")
	ErrMemoryLimit = errors.New("the call exceeded its memory limit and was stopped")
	ErrOutputLimit = errors.New("the call wrote more output than allowed and was stopped")
)

// callState is the per-call state shared by the sandbox pieces (memory
// allocator, output writers, host functions). It travels in the call's
// context, which wazero passes to host functions.
type callState struct {
	// stop cancels the call's context, which closes the instance.
	stop context.CancelFunc

	memoryExceeded atomic.Bool
	outputExceeded atomic.Bool

	// net is the network policy; nil means no network (describe).
	net *netPolicy

	// pending is the result of the last wassette_http.request, waiting for
	// take_result. The guest is single threaded, so no lock is needed.
	pending []byte
}

type callStateKey struct{}

func stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

// limitedMemory backs an instance's linear memory and refuses to grow it past
// limit. wazero's memory.grow then fails, which the guest sees as out of
// memory (Go's runtime aborts with "out of memory").
//
// wazero's WithMemoryLimitPages applies to a whole runtime; an allocator set
// in the instantiation context is per instance, which gives a per-call limit
// with one runtime and one compilation.
type limitedMemory struct {
	buf   []byte
	limit uint64
	st    *callState
	grown bool
}

var _ experimental.LinearMemory = (*limitedMemory)(nil)

func newAllocator(limit uint64, st *callState) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(_, _ uint64) experimental.LinearMemory {
		return &limitedMemory{limit: limit, st: st}
	})
}

// Reallocate implements experimental.LinearMemory. Wasm memory never shrinks,
// so the bytes between len and cap are always zero.
func (m *limitedMemory) Reallocate(size uint64) []byte {
	first := !m.grown
	m.grown = true
	if size > m.limit {
		m.st.memoryExceeded.Store(true)
		if !first {
			return nil
		}
		// wazero requires the initial allocation to succeed. Module.Call
		// checks the module's initial memory against the limit before
		// instantiating, so this is only a safety net: allocate, and stop
		// the instance before it runs.
		m.st.stop()
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
		return m.buf
	}
	// Grow geometrically, like append, but never past the limit, so that a
	// module growing one page at a time does not copy its memory each time.
	newCap := size + size/4
	if newCap > m.limit && size <= m.limit {
		newCap = m.limit
	}
	buf := make([]byte, size, newCap)
	copy(buf, m.buf)
	m.buf = buf
	return buf
}

// Free implements experimental.LinearMemory.
func (m *limitedMemory) Free() { m.buf = nil }

// cappedBuffer collects an output stream up to limit bytes. Writing more
// marks the call as over its output limit and stops it: a component flooding
// its output is not buffered without bound.
type cappedBuffer struct {
	buf   []byte
	limit int
	st    *callState
	full  bool // the instance tried to write more than limit
}

var errOutputFull = errors.New("output limit reached")

func (w *cappedBuffer) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		w.buf = append(w.buf, p[:room]...)
	} else {
		room = 0
	}
	w.full = true
	w.st.outputExceeded.Store(true)
	w.st.stop()
	return room, errOutputFull
}

// formatBytes formats n for a message: "512 bytes", "64 KiB", "2.5 MiB".
func formatBytes(n uint64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	case n < 1<<30:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	default:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
	}
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
