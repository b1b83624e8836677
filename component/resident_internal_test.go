package component

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wassette/wassette/component/runtime"
)

// fakeModule counts its closes.
type fakeModule struct {
	name   string
	closed atomic.Int32
}

func (f *fakeModule) call(context.Context, string, json.RawMessage, runtime.CallOptions) (callResult, error) {
	if f.closed.Load() != 0 {
		return callResult{}, errors.New("called after Close")
	}
	return callResult{text: f.name}, nil
}

func (f *fakeModule) Close(context.Context) error {
	f.closed.Add(1)
	return nil
}

// compiler compiles fake modules of a fixed cost and remembers them.
type compiler struct {
	mu   sync.Mutex
	mods map[*slot][]*fakeModule
	cost int64
}

func (c *compiler) compile(s *slot, name string) func() (module, int64, error) {
	return func() (module, int64, error) {
		m := &fakeModule{name: name}
		c.mu.Lock()
		c.mods[s] = append(c.mods[s], m)
		c.mu.Unlock()
		return m, c.cost, nil
	}
}

func (c *compiler) compiles(s *slot) []*fakeModule {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*fakeModule(nil), c.mods[s]...)
}

// eventually waits for cond, which a background close makes true.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen", what)
		}
	}
}

func TestResidencyBudget(t *testing.T) {
	r := &residency{budget: 100}
	c := &compiler{mods: map[*slot][]*fakeModule{}, cost: 40}
	a, b, d := &slot{r: r}, &slot{r: r}, &slot{r: r}
	use := func(s *slot, name string) {
		t.Helper()
		mod, done, err := s.acquire(c.compile(s, name))
		if err != nil {
			t.Fatal(err)
		}
		if res, err := mod.call(context.Background(), "", nil, runtime.CallOptions{}); err != nil || res.text != name {
			t.Fatalf("call of %s: %v, %v", name, res, err)
		}
		done()
	}
	use(a, "a")
	use(b, "b")
	use(a, "a") // a is now the most recent
	use(d, "d") // 120 bytes: b, the least recently used, goes
	eventually(t, "closing b", func() bool { return c.compiles(b)[0].closed.Load() == 1 })
	if n, used := r.resident(); n != 2 || used != 80 {
		t.Errorf("resident = %d modules, %d bytes; want a and d, 80", n, used)
	}
	use(b, "b") // compiled again; a goes
	if len(c.compiles(b)) != 2 || len(c.compiles(a)) != 1 {
		t.Errorf("compiles: b %d, a %d", len(c.compiles(b)), len(c.compiles(a)))
	}
	eventually(t, "closing a", func() bool { return c.compiles(a)[0].closed.Load() == 1 })

	// A module in use when released is closed only when its call ends.
	mod, done, err := a.acquire(c.compile(a, "a"))
	if err != nil {
		t.Fatal(err)
	}
	use(b, "b")
	use(d, "d") // a is the least recent, and in use
	if n, _ := r.resident(); n != 2 {
		t.Errorf("resident = %d, want 2", n)
	}
	if _, err := mod.call(context.Background(), "", nil, runtime.CallOptions{}); err != nil {
		t.Errorf("a call in progress lost its module: %v", err)
	}
	done()
	done() // a second call of done changes nothing
	eventually(t, "closing a after its call", func() bool { return c.compiles(a)[1].closed.Load() == 1 })
	for _, m := range append(append(c.compiles(a), c.compiles(b)...), c.compiles(d)...) {
		if m.closed.Load() > 1 {
			t.Errorf("module %s closed %d times", m.name, m.closed.Load())
		}
	}
}

func TestResidencyIdleAndEnd(t *testing.T) {
	r := &residency{idle: time.Hour}
	c := &compiler{mods: map[*slot][]*fakeModule{}, cost: 1}
	a, b := &slot{r: r}, &slot{r: r}
	if _, done, err := a.acquire(c.compile(a, "a")); err != nil {
		t.Fatal(err)
	} else {
		done()
	}
	_, doneB, err := b.acquire(c.compile(b, "b"))
	if err != nil {
		t.Fatal(err)
	}
	r.sweep(time.Now()) // nothing is idle yet
	if n, _ := r.resident(); n != 2 {
		t.Fatalf("resident = %d after an early sweep", n)
	}
	r.sweep(time.Now().Add(2 * time.Hour))
	if n, used := r.resident(); n != 0 || used != 0 {
		t.Fatalf("resident = %d, %d bytes after the idle time", n, used)
	}
	eventually(t, "closing a", func() bool { return c.compiles(a)[0].closed.Load() == 1 })
	if c.compiles(b)[0].closed.Load() != 0 {
		t.Error("a module in use was closed")
	}
	doneB()
	eventually(t, "closing b", func() bool { return c.compiles(b)[0].closed.Load() == 1 })

	// An ended slot (unloaded) fails from then on, and compiles nothing.
	gone := errors.New("gone")
	a.end(gone)
	if _, _, err := a.acquire(c.compile(a, "a")); !errors.Is(err, gone) || len(c.compiles(a)) != 1 {
		t.Errorf("acquire after end: %v, %d compiles", err, len(c.compiles(a)))
	}
	// A compile error is kept.
	bad := &slot{r: r}
	n := 0
	fail := func() (module, int64, error) { n++; return nil, 0, errors.New("broken") }
	for range 2 {
		if _, _, err := bad.acquire(fail); err == nil {
			t.Error("no error")
		}
	}
	if n != 1 {
		t.Errorf("compiled %d times", n)
	}
}

func TestResidencyConcurrent(t *testing.T) {
	r := &residency{budget: 3, idle: time.Hour}
	c := &compiler{mods: map[*slot][]*fakeModule{}, cost: 1}
	slots := make([]*slot, 6)
	for i := range slots {
		slots[i] = &slot{r: r}
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := slots[(g+i)%len(slots)]
				mod, done, err := s.acquire(c.compile(s, "m"))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := mod.call(context.Background(), "", nil, runtime.CallOptions{}); err != nil {
					t.Error(err)
				}
				done()
				if i%50 == 0 {
					r.sweep(time.Now().Add(2 * time.Hour))
				}
			}
		}()
	}
	wg.Wait()
	if n, used := r.resident(); n > 3 || used > 3 || int64(n) != used {
		t.Errorf("resident = %d modules, %d bytes; want at most the budget", n, used)
	}
}
