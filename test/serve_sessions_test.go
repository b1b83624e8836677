package test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeSessionMemory sends 20,000 initialize requests to a real `wassette serve
// --streamable-http` (issue 7, acceptance 5): once the idle sessions have expired, the
// server's resident set is back within 64 MB of where it started. The session cap is
// raised above 20,000 so that every session lives until it expires (at the default cap
// of 1,000 the oldest are ended as new ones come), and the idle timeout is shortened so
// that the test does not wait long. Linux only.
func TestServeSessionMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/status")
	}
	if testing.Short() {
		t.Skip("20,000 requests")
	}
	const idle = 2 * time.Second
	e := newEnv(t)
	p := startServe(t, e, "serve", "--streamable-http", "--bind", "127.0.0.1:0",
		"--session-idle-timeout", idle.String(), "--max-sessions", "30000")
	url := "http://" + p.addr(t) + "/mcp"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 60 * time.Second}
	initOne := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"rss","version":"0"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
	}
	if code, _ := initOne(); code != http.StatusOK { // warm up
		t.Fatalf("initialize: %d", code)
	}
	base := procRSS(t, p.cmd.Process.Pid)

	const n, workers = 20000, 16
	var next, failed atomic.Int64
	var last atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= n {
				code, sid := initOne()
				if code != http.StatusOK {
					failed.Add(1)
					last.Store(fmt.Sprint(code, " ", sid))
					continue
				}
				last.Store(sid)
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d initialize requests failed; last: %v", f, n, last.Load())
	}
	peak := procRSS(t, p.cmd.Process.Pid)
	sid, _ := last.Load().(string)

	// A request keeps its session alive, so look for the last one less often than the
	// idle timeout.
	deadline := time.Now().Add(120 * time.Second)
	var rss int
	for {
		time.Sleep(idle + time.Second)
		rss = procRSS(t, p.cmd.Process.Pid)
		gone := sessionGone(t, hc, url, sid)
		if rss-base < 64<<10 && gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("RSS %d kB after the sessions expired, %d kB above the %d kB it started at (peak %d kB); last session gone: %v",
				rss, rss-base, base, peak, gone)
		}
	}
	t.Logf("RSS: %d kB at start, %d kB after %d initialize requests, %d kB once idle sessions expired (%+d kB)",
		base, peak, n, rss, rss-base)
	if code, _ := initOne(); code != http.StatusOK {
		t.Errorf("initialize after the burst: %d", code)
	}
}

// sessionGone reports whether the server answers 404 for session sid.
func sessionGone(t testing.TB, hc *http.Client, url, sid string) bool {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusNotFound
}

// TestServeTrickledBody sends a request body one byte every 5 seconds to a real server
// with a short --body-timeout: the server answers 408 and hangs up.
func TestServeTrickledBody(t *testing.T) {
	e := newEnv(t)
	p := startServe(t, e, "serve", "--streamable-http", "--bind", "127.0.0.1:0", "--body-timeout", "1s")
	addr := p.addr(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{", addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the trickled request got no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
		t.Errorf("trickled body: status %d, close %v; want 408 and the connection closed", resp.StatusCode, resp.Close)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(p.stderr.String(), "cut off a request body"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no warning on stderr:\n%s", p.stderr.String())
		}
	}
}

// procRSS returns the resident set of a process, in kB.
func procRSS(t testing.TB, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS for process %d", pid)
	return 0
}
