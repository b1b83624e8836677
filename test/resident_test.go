package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/wassette/wassette/internal/wasmtest"
)

// namedMarker is the tool name test/testdata/named carries in its binary.
const namedMarker = "named_tool_00000000000000000000"

// namedComponents writes n distinct copies of test/testdata/named, with tools
// named_tool_..01 to ..n, and returns their paths.
func namedComponents(t *testing.T, n int) []string {
	t.Helper()
	paths, err := wasmtest.Build("test/testdata/named")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(wasm, []byte(namedMarker)) != 1 {
		t.Fatalf("the marker is in the binary %d times, want once", bytes.Count(wasm, []byte(namedMarker)))
	}
	dir := t.TempDir()
	out := make([]string, n)
	for i := range n {
		name := namedTool(i)
		out[i] = filepath.Join(dir, fmt.Sprintf("named%02d.wasm", i+1))
		if err := os.WriteFile(out[i], bytes.Replace(wasm, []byte(namedMarker), []byte(name), 1), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func namedTool(i int) string {
	n := strconv.Itoa(i + 1)
	return namedMarker[:len(namedMarker)-len(n)] + n
}

// residentKB returns the resident memory of process pid, from /proc.
func residentKB(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// TestCompiledModulesReleased checks that a server that called 30 distinct components
// once each keeps only what its compiled-code budget allows (it stays under 250 MB
// resident, where keeping them all took 620 MB), and that a component whose module
// was released answers its next call as before, compiled again from the disk cache.
func TestCompiledModulesReleased(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("resident memory is read from /proc")
	}
	const n = 30
	e := newEnv(t)
	comps := namedComponents(t, n)
	// Loaded from the CLI, two at a time (each load compiles its module).
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for _, p := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, stderr, code := e.Run(t, "", "component", "load", p); code != 0 {
				t.Errorf("component load %s: exit %d: %s", p, code, stderr)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	args := map[string]any{"n": 1}
	answer := func(i int) string {
		t.Helper()
		res := call(t, c, namedTool(i), args)
		if res.IsError {
			t.Fatalf("%s: %s", namedTool(i), resultText(res))
		}
		return resultText(res)
	}
	first := answer(0)
	if !strings.Contains(first, namedTool(0)) {
		t.Fatalf("answer %s", first)
	}
	for i := 1; i < n; i++ {
		answer(i)
	}
	// The memory of released modules goes back to the system shortly after.
	var kb int
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if kb = residentKB(t, p.cmd.Process.Pid); kb < 250<<10 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("resident after %d components called once each: %d MB", n, kb>>10)
	if kb >= 250<<10 {
		t.Errorf("the server holds %d MB after calling %d components once each, want under 250 MB", kb>>10, n)
	}
	// The first component's module was released (the least recently used): the next
	// call compiles it again and answers the same.
	if again := answer(0); again != first {
		t.Errorf("after its release: %s, before: %s", again, first)
	}
}

// TestLoadNoticedAtOnce checks that a server notices a component loaded or unloaded by
// the CLI and tells its client (tools/list_changed), and reports how long that took
// after the CLI returned: the median of 10 loads. (File notifications make it
// immediate; the test asserts only that it happens.)
func TestLoadNoticedAtOnce(t *testing.T) {
	e := newEnv(t)
	comp := namedComponents(t, 1)[0]
	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	changed := make(chan time.Time, 16)
	c.OnNotification(func(m mcp.JSONRPCNotification) {
		if m.Method == "notifications/tools/list_changed" {
			changed <- time.Now()
		}
	})
	tools := func() []string {
		res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		return names
	}
	// waitChange waits for a notification sent after start (when the CLI started) and
	// returns how long after end (when it returned) it came; 0 if before.
	waitChange := func(what string, start, end time.Time) time.Duration {
		t.Helper()
		for {
			select {
			case at := <-changed:
				if at.Before(start) {
					continue // a late one from an earlier change
				}
				return max(at.Sub(end), 0)
			case <-time.After(60 * time.Second):
				t.Fatalf("no tools/list_changed after %s; stderr:\n%s", what, p.stderr.String())
			}
		}
	}
	var delays []time.Duration
	for i := range 10 {
		start := time.Now()
		if _, stderr, code := e.Run(t, "", "component", "load", comp); code != 0 {
			t.Fatalf("load %d: exit %d: %s", i, code, stderr)
		}
		delays = append(delays, waitChange("a load", start, time.Now()))
		if !slices.Contains(tools(), namedTool(0)) {
			t.Fatalf("load %d: the tool is not listed", i)
		}
		start = time.Now()
		if _, stderr, code := e.Run(t, "", "component", "unload", "named01"); code != 0 {
			t.Fatalf("unload %d: exit %d: %s", i, code, stderr)
		}
		waitChange("an unload", start, time.Now())
		if slices.Contains(tools(), namedTool(0)) {
			t.Fatalf("unload %d: the tool is still listed", i)
		}
	}
	slices.Sort(delays)
	t.Logf("a CLI load noticed by the server after (median of %d): %v; all: %v", len(delays), (delays[4]+delays[5])/2, delays)
}

// TestResidencyFlags checks serve's flags for the compiled-code budget: a bad value is
// a usage error (exit 2) that names the flag.
func TestResidencyFlags(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{
		{"--compiled-memory", "0"},
		{"--compiled-memory", "lots"},
		{"--idle-release", "0s"},
		{"--idle-release", "-1m"},
	} {
		_, stderr, code := e.Run(t, "", append([]string{"serve", "--stdio"}, args...)...)
		if code != 2 || !strings.Contains(stderr, args[0]) {
			t.Errorf("serve %v: exit %d, stderr %q; want 2 and the flag named", args, code, stderr)
		}
	}
}
