package component

import (
	"container/list"
	"context"
	"runtime/debug"
	"sync"
	"time"
)

// Defaults of Config.CompiledBytes and Config.IdleRelease.
const (
	// DefaultCompiledBytes keeps about seven Go tools or three JavaScript
	// components compiled: sized for a laptop.
	DefaultCompiledBytes = 128 << 20
	// DefaultIdleRelease is how long a compiled module stays unused before it is
	// released.
	DefaultIdleRelease = 10 * time.Minute
)

// compiledCostFactor estimates the memory a compiled module holds from the size of
// its binary, whatever its kind (a component's binary is the sum of its core
// modules). Measured with wazero: a 6 MB Go tool read from the disk cache holds about
// 10 MB, a 3 MB one just compiled up to 20 MB, the 12 MB JavaScript engine component
// about 60 MB.
const compiledCostFactor = 3

// residency keeps the compiled modules of loaded components within a byte budget:
// using a module makes it the most recent, compiling one past the budget releases
// the least recently used, and a sweep releases those unused for the idle time. A
// released module is compiled again at its next call, from the disk cache. A module
// is closed only once no call uses it.
type residency struct {
	budget int64         // <= 0: no limit
	idle   time.Duration // <= 0: never idle

	mu    sync.Mutex
	order list.List // of *slot holding a module, most recently used first
	used  int64
	// reclaim is set while a reclaim of the memory released is scheduled.
	reclaim bool
}

// slot holds one loaded component's compiled module while it is resident.
type slot struct {
	r *residency

	compiling sync.Mutex // held while compiling, so that one call compiles

	mu      sync.Mutex
	cur     *held // the resident module, nil when not compiled or released
	err     error // set for good: the component is gone, or does not compile
	lastUse time.Time
	elem    *list.Element // in r.order while cur is set (guarded by r.mu)
}

// held is a compiled module and the calls using it.
type held struct {
	mod      module
	cost     int64
	users    int
	released bool
}

// acquire returns the slot's module, compiled by compile if it is not resident, and
// a function to call when the call using it ends. A compile error is kept: the next
// acquire returns it without compiling again.
func (s *slot) acquire(compile func() (module, int64, error)) (module, func(), error) {
	h, err := s.use(nil)
	if h == nil && err == nil {
		// Not resident: compile, one call at a time, without holding s.mu (the
		// residency may look at this slot meanwhile).
		s.compiling.Lock()
		if h, err = s.use(nil); h == nil && err == nil {
			mod, cost, cerr := compile()
			if cerr == nil {
				h, err = s.use(&held{mod: mod, cost: cost})
			} else {
				s.mu.Lock()
				if s.err == nil {
					s.err = cerr
				}
				err = s.err
				s.mu.Unlock()
			}
		}
		s.compiling.Unlock()
	}
	if err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return h.mod, func() { once.Do(func() { s.done(h) }) }, nil
}

// use takes the resident module for a call, installing fresh (just compiled) first if
// it is not nil. It returns nil and no error when nothing is resident.
func (s *slot) use(fresh *held) (*held, error) {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		if fresh != nil {
			s.r.close(fresh) // the component went away while it compiled
		}
		return nil, err
	}
	if fresh != nil {
		s.cur = fresh
	}
	h := s.cur
	if h == nil {
		s.mu.Unlock()
		return nil, nil
	}
	h.users++
	s.lastUse = time.Now()
	s.mu.Unlock()
	s.r.touch(s, h, fresh != nil)
	return h, nil
}

// adopt makes mod, just compiled by a load, the slot's resident module.
func (s *slot) adopt(mod module, cost int64) {
	if h, _ := s.use(&held{mod: mod, cost: cost}); h != nil {
		s.done(h)
	}
}

// compiledCost estimates the bytes a module compiled from a binary of n bytes holds.
func compiledCost(n int) int64 { return compiledCostFactor * int64(n) }

// done ends a call's use of h.
func (s *slot) done(h *held) {
	s.mu.Lock()
	h.users--
	closeNow := h.released && h.users == 0
	s.mu.Unlock()
	if closeNow {
		s.r.close(h)
	}
}

// drop releases the slot's module if it is still h (not compiled again since).
func (s *slot) drop(h *held) {
	s.mu.Lock()
	if s.cur != h || h == nil {
		s.mu.Unlock()
		return
	}
	s.cur = nil
	h.released = true
	closeNow := h.users == 0
	s.mu.Unlock()
	s.r.forget(s, h)
	if closeNow {
		s.r.close(h)
	}
}

// end makes the slot fail with err from now on and releases its module once the
// calls using it end; a compilation in progress is closed when it ends.
func (s *slot) end(err error) {
	s.mu.Lock()
	s.err = err
	h := s.cur
	s.mu.Unlock()
	s.drop(h)
}

// touch makes s the most recently used, counts h if it was just compiled, and
// releases the least recently used modules while the budget is exceeded (never s's).
func (r *residency) touch(s *slot, h *held, fresh bool) {
	r.mu.Lock()
	if s.elem == nil {
		s.elem = r.order.PushFront(s)
	} else {
		r.order.MoveToFront(s.elem)
	}
	if fresh {
		r.used += h.cost
	}
	r.mu.Unlock()
	if r.budget <= 0 {
		return
	}
	// Calls that touch at once may pick the same victims: look again until the
	// count fits, or nothing else can go.
	for range 64 {
		var victims []*slot
		r.mu.Lock()
		over := r.used - r.budget
		for e := r.order.Back(); e != nil && over > 0; e = e.Prev() {
			if v := e.Value.(*slot); v != s {
				victims = append(victims, v)
				over -= v.costLocked()
			}
		}
		r.mu.Unlock()
		if len(victims) == 0 {
			return
		}
		for _, v := range victims {
			v.drop(v.current())
		}
	}
}

// costLocked is the cost of s's module; r.mu is held. A slot in r.order whose module
// was released meanwhile costs nothing.
func (s *slot) costLocked() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.cost
}

func (s *slot) current() *held {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// forget removes s, whose module h was released, from the order and the count.
func (r *residency) forget(s *slot, h *held) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.elem != nil {
		r.order.Remove(s.elem)
		s.elem = nil
	}
	r.used -= h.cost
}

// sweep releases the modules unused since before now less the idle time.
func (r *residency) sweep(now time.Time) {
	if r.idle <= 0 {
		return
	}
	var idle []*slot
	r.mu.Lock()
	for e := r.order.Back(); e != nil; e = e.Prev() {
		s := e.Value.(*slot)
		s.mu.Lock()
		old := now.Sub(s.lastUse) >= r.idle
		s.mu.Unlock()
		if !old {
			break // the rest were used later
		}
		idle = append(idle, s)
	}
	r.mu.Unlock()
	for _, s := range idle {
		s.drop(s.current())
	}
}

// run sweeps until ctx ends.
func (r *residency) run(ctx context.Context) {
	if r.idle <= 0 {
		return
	}
	every := min(max(r.idle/4, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.sweep(now)
		}
	}
}

// reclaimDelay groups the reclaims of modules released together.
const reclaimDelay = time.Second

// close closes a released module in the background (Close waits for nothing: no call
// uses it) and then gives its memory back to the system: wazero unmaps a module's
// machine code when the garbage collector finalizes it, and the Go heap it held is
// returned only by a scavenge, so without a collection a server would keep the
// memory of modules it released long ago.
func (r *residency) close(h *held) {
	go func() {
		h.mod.Close(context.Background())
		r.mu.Lock()
		pending := r.reclaim
		r.reclaim = true
		r.mu.Unlock()
		if pending {
			return
		}
		time.AfterFunc(reclaimDelay, func() {
			r.mu.Lock()
			r.reclaim = false
			r.mu.Unlock()
			debug.FreeOSMemory()
		})
	}()
}

// resident reports the modules resident and their estimated bytes, for tests and logs.
func (r *residency) resident() (n int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len(), r.used
}
