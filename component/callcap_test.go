package component_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/policy"
)

// holdServer answers each request only once released, and counts the requests in
// flight: a component's call that fetches from it is running for as long as it waits.
type holdServer struct {
	*httptest.Server
	release           chan struct{}
	inFlight, maxSeen atomic.Int64
	arrived           chan struct{}
}

func newHoldServer(t *testing.T) *holdServer {
	h := &holdServer{release: make(chan struct{}), arrived: make(chan struct{}, 1000)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := h.inFlight.Add(1)
		defer h.inFlight.Add(-1)
		for {
			m := h.maxSeen.Load()
			if n <= m || h.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		h.arrived <- struct{}{}
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
		w.Write([]byte("released"))
	}))
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		h.Close()
	})
	return h
}

// waitArrivals waits for n requests to have arrived (a hang guard, not a timing check).
func (h *holdServer) waitArrivals(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-h.arrived:
		case <-time.After(2 * time.Minute):
			t.Fatalf("fewer than %d calls reached the server", n)
		}
	}
}

// TestCallCap runs more calls than the cap allows and checks that no more than the cap
// run at once, that the others wait and then run, and that a queued call honours its
// time limit and its cancellation, saying that it waited for a slot.
func TestCallCap(t *testing.T) {
	t.Parallel()
	const limit, calls = 2, 6
	f := newFixture(t, func(c *component.Config) { c.MaxConcurrentCalls = limit })
	m := f.m
	f.load(t, "misbehave", "")
	f.load(t, "echo", "")
	h := newHoldServer(t)
	u, _ := url.Parse(h.URL)
	f.updatePolicy(t, "misbehave", func(p *policy.Policy) error { return p.GrantNetwork(u.Host) })
	args := `{"url":"` + h.URL + `/hold"}`

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Call(context.Background(), "fetch", []byte(args))
			if err == nil && res.IsError {
				err = errors.New(res.Text)
			}
			errs <- err
		}()
	}
	h.waitArrivals(t, limit)

	// While the slots are taken, a queued call stops at its own time limit, and a
	// cancelled one at its cancellation; neither runs.
	f.updatePolicy(t, "echo", func(p *policy.Policy) error {
		p.Permissions.Resources.Limits.Timeout = "300ms"
		return nil
	})
	_, err := m.Call(context.Background(), "echo", []byte(`{}`))
	if !errors.Is(err, component.ErrCallSlot) || !contains(err.Error(), "waited", "call slot", "did not run") {
		t.Errorf("queued past its time limit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = m.Call(ctx, "echo", []byte(`{}`))
	if !errors.Is(err, component.ErrCallSlot) || !errors.Is(err, context.Canceled) || !contains(err.Error(), "waiting", "call slot") {
		t.Errorf("cancelled while queued: %v", err)
	}
	if n := h.maxSeen.Load(); n != limit {
		t.Errorf("%d calls ran at once, the cap is %d", n, limit)
	}

	close(h.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a queued call failed: %v", err)
		}
	}
	if n := h.maxSeen.Load(); n > limit {
		t.Errorf("%d calls ran at once, the cap is %d", n, limit)
	}
	callOK(t, m, "count", "", nil) // the slots are free again
}

func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
