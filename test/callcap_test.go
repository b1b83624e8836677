package test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// TestCallCapUnderManyHTTPClients has 50 streamable-HTTP clients call a component tool
// at once against `serve --max-concurrent-calls 2`. Each call fetches from a loopback
// server that holds it until released and counts the calls in flight, so it sees exactly
// how many run inside the component at once. The cap must hold, every call must run
// once released, and pings must be answered while the calls are queued. The latencies
// of those pings are logged, never asserted.
func TestCallCapUnderManyHTTPClients(t *testing.T) {
	const clients, limit = 50, 2
	var inFlight, maxSeen atomic.Int64
	arrived := make(chan struct{}, clients)
	release := make(chan struct{})
	hold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxSeen.Load(); n > m && !maxSeen.CompareAndSwap(m, n); m = maxSeen.Load() {
		}
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Write([]byte("released"))
	}))
	released := sync.OnceFunc(func() { close(release) })
	defer hold.Close()
	defer released()

	e := newEnv(t)
	misbehave := testWasm(t, "component/runtime/testdata/misbehave")
	must(t, e, 0, "", "component", "load", misbehave)
	must(t, e, 0, "", "permission", "grant", "network", "misbehave", strings.TrimPrefix(hold.URL, "http://"))
	p := startServe(t, e, "serve", "--streamable-http", "--bind", "127.0.0.1:0",
		"--max-concurrent-calls", fmt.Sprint(limit), "--timeout", "10m")
	addr := p.addr(t)

	cs := make([]*client.Client, clients+1)
	for i := range cs {
		cs[i] = httpClient(t, "--streamable-http", addr, nil)
	}
	pinger := cs[clients]

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, c := range cs[:clients] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req mcp.CallToolRequest
			req.Params.Name = "fetch"
			req.Params.Arguments = map[string]any{"url": hold.URL + "/hold"}
			res, err := c.CallTool(context.Background(), req)
			switch {
			case err != nil:
				errs <- err
			case res.IsError || !strings.Contains(resultText(res), "released"):
				errs <- fmt.Errorf("call result: %s", resultText(res))
			}
		}()
	}

	// The first calls take both slots; the other 48 wait for one.
	for range limit {
		select {
		case <-arrived:
		case <-time.After(2 * time.Minute): // a hang guard
			t.Fatalf("the calls never reached the component; stderr:\n%s", p.stderr.String())
		}
	}
	// While they wait, pings are answered.
	var latencies []time.Duration
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		start := time.Now()
		err := pinger.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping while calls are queued: %v", err)
		}
		latencies = append(latencies, time.Since(start))
		time.Sleep(25 * time.Millisecond)
	}
	if n := maxSeen.Load(); n != limit {
		t.Errorf("%d calls ran at once while %d were queued; the cap is %d", n, clients-limit, limit)
	}
	released()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a queued call failed: %v", err)
	}
	if n := maxSeen.Load(); n > limit {
		t.Errorf("%d calls ran at once; the cap is %d", n, limit)
	}
	slices.Sort(latencies)
	t.Logf("ping latencies while %d calls were queued behind %d running: min %v, median %v, max %v",
		clients-limit, limit, latencies[0], latencies[len(latencies)/2], latencies[len(latencies)-1])
}
