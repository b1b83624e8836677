package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/wassette/wassette/internal/linmem"
	"github.com/wassette/wassette/internal/netpolicy"
)

// Errors reporting that a call was stopped because it exceeded a limit. The
// errors returned by Module.Call wrap them; use errors.Is to test for them.
var (
	ErrTimeout     = errors.New("the call ran past its time limit and was stopped")
	ErrMemoryLimit = errors.New("the call exceeded its memory limit and was stopped")
	ErrOutputLimit = errors.New("the call wrote more output than allowed and was stopped")
)

// callState is the per-call state shared by the sandbox pieces (memory
// budget, output writers, host functions). It travels in the call's context,
// which wazero passes to host functions.
type callState struct {
	// stop cancels the call's context, which closes the instance.
	stop context.CancelFunc

	// mem is the call's memory budget: every linear memory of the instance
	// comes from it (experimental.WithMemoryAllocator).
	mem *linmem.Budget

	outputExceeded atomic.Bool

	// id names the component in logs.
	id string
	// net is the network policy; nil means no network (describe).
	net *netpolicy.Policy
	// maxBody bounds each HTTP response body.
	maxBody int

	// pending is the result of the last wassette_http.request, waiting for
	// take_result. The guest is single threaded, so no lock is needed.
	pending []byte
}

type callStateKey struct{}

func stateFrom(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	return st
}

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
