package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// wasmHiddenMemory is a 43-byte command whose one memory, not exported, asks for
// 65,536 pages (4 GiB) at start.
var wasmHiddenMemory = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
	"\x03\x02\x01\x00" + // function section
	"\x05\x05\x01\x00\x80\x80\x04" + // memory section: min 65,536 pages, not exported
	"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start only
	"\x0a\x04\x01\x02\x00\x0b") // code section

// TestHiddenMemory checks that a memory the module does not export is checked
// against the limit before anything is allocated. Not parallel: it measures the
// process's allocations. test/sandbox_test.go loads the same module under a capped
// address space.
func TestHiddenMemory(t *testing.T) {
	ctx := context.Background()
	m, err := sharedRuntime(t).Compile(ctx, wasmHiddenMemory)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	_, err = m.Describe(ctx)
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "needs 4 GiB of memory to start") ||
		!strings.Contains(err.Error(), "more than the 256 MiB limit") {
		t.Errorf("Describe: %v, want a refusal naming 4 GiB and the 256 MiB limit", err)
	}
	_, err = m.Call(ctx, "x", nil, CallOptions{Limits: Limits{MemoryBytes: 1 << 30}})
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "more than the 1 GiB limit") {
		t.Errorf("Call with 1 GiB: %v", err)
	}
	// With a 4 GiB limit the memory fits: it is reserved, not allocated, and the
	// module runs (and breaks the protocol, printing nothing).
	_, err = m.Call(ctx, "x", nil, CallOptions{Limits: Limits{MemoryBytes: 4 << 30}})
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("Call with 4 GiB: %v, want ErrProtocol", err)
	}
	goruntime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("the Go heap allocated %d MiB", d>>20)
	}

	// A module that imports its memory is refused at compile: wassette provides none.
	importsMemory := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" +
		"\x02\x0c\x01\x03env\x03mem\x02\x00\x01" + // import env.mem, min 1 page
		"\x03\x02\x01\x00" +
		"\x07\x0a\x01\x06_start\x00\x00" +
		"\x0a\x04\x01\x02\x00\x0b")
	if m, err := sharedRuntime(t).Compile(ctx, importsMemory); err == nil || !strings.Contains(err.Error(), "imports a memory") {
		if m != nil {
			m.Close(ctx)
		}
		t.Errorf("Compile of a module importing its memory: %v", err)
	}
}

// wasmTableGrow is a 46-byte command whose _start grows its table (no maximum
// declared) by 2^31-1 elements: 16 GiB of host memory if nothing bounds it.
var wasmTableGrow = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
	"\x03\x02\x01\x00" + // function section
	"\x04\x04\x01\x70\x00\x01" + // table section: funcref, min 1, no max
	"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start
	"\x0a\x10\x01\x0e\x00" + // code section: one body, no locals:
	"\xd0\x70\x41\xff\xff\xff\xff\x07\xfc\x0f\x00\x1a\x0b") // table.grow 0 (ref.null, 0x7fffffff); drop

// TestTableGrowth checks that a table cannot grow past the bound CapTables gives it:
// table.grow fails in the guest, and the host allocates nothing large. Not
// parallel: it measures the process's allocations.
func TestTableGrowth(t *testing.T) {
	ctx := context.Background()
	m, err := sharedRuntime(t).Compile(ctx, wasmTableGrow)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	// The module runs to its end (table.grow returns -1) and prints nothing.
	if _, err := m.Describe(ctx); !errors.Is(err, ErrProtocol) {
		t.Errorf("Describe: %v, want ErrProtocol", err)
	}
	goruntime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Errorf("the Go heap allocated %d MiB", d>>20)
	}
	// Tables that start too large, or that the module imports, are refused.
	big := []byte("\x00asm\x01\x00\x00\x00\x04\x07\x01\x70\x00\x80\x80\x80\x01") // min 2^21
	if _, err := sharedRuntime(t).Compile(ctx, big); err == nil || !strings.Contains(err.Error(), "tables start with 2097152 elements") {
		t.Errorf("Compile of a module with a huge table: %v", err)
	}
}

// rssHelperEnv makes the test binary run rssHelper instead of the tests.
const rssHelperEnv = "WASSETTE_RUNTIME_RSS_HELPER"

// rssReport is what rssHelper prints.
type rssReport struct {
	Baseline, Peak, After uint64 // resident bytes: before the calls, at most during them, after them
	Errors                []string
}

// TestConcurrentCallsMemory runs 8 calls at once in a separate process, each
// allocating until it reaches its limit, and checks that the process's resident
// memory stays under 1.5 x (8 x limit), and falls back once the calls are over.
func TestConcurrentCallsMemory(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("reads /proc/self/status")
	}
	t.Parallel()
	module(t, "misbehave") // fills the compilation cache the helper uses
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), rssHelperEnv+"="+wasmFiles["misbehave"], "WASSETTE_RUNTIME_RSS_CACHE="+testCache)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	var r rssReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	for _, e := range r.Errors {
		t.Error(e)
	}
	const calls, limit = 8, rssLimit
	t.Logf("resident memory: %d MiB before, %d MiB at the peak of %d calls of %d MiB each, %d MiB after",
		r.Baseline>>20, r.Peak>>20, calls, limit>>20, r.After>>20)
	if bound := uint64(calls * limit * 3 / 2); r.Peak >= bound {
		t.Errorf("peak resident memory %d MiB, want under 1.5 x %d x %d MiB = %d MiB", r.Peak>>20, calls, limit>>20, bound>>20)
	}
	if r.After > r.Baseline+limit/2 {
		t.Errorf("resident memory after the calls is %d MiB, %d MiB above where it started", r.After>>20, (r.After-r.Baseline)>>20)
	}
}

const rssLimit = 128 << 20

// rssHelper is the process TestConcurrentCallsMemory measures.
func rssHelper(wasmPath string) int {
	ctx := context.Background()
	var r rssReport
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return fail(err)
	}
	rt, err := New(ctx, Config{CacheDir: os.Getenv("WASSETTE_RUNTIME_RSS_CACHE")})
	if err != nil {
		return fail(err)
	}
	defer rt.Close(ctx)
	m, err := rt.Compile(ctx, wasm)
	if err != nil {
		return fail(err)
	}
	// Warm up: one call, then let the Go heap settle.
	if _, err := m.Call(ctx, "count", nil, CallOptions{}); err != nil {
		return fail(err)
	}
	debug.FreeOSMemory()
	r.Baseline = resident("VmRSS")
	// The peak is measured from here: resetting the high-water mark (Linux 4.0+)
	// leaves out the compilation's, and a sampler covers kernels without it.
	resetPeak := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
	var sampled uint64
	stop := make(chan struct{})
	sampler := sync.WaitGroup{}
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		for {
			sampled = max(sampled, resident("VmRSS"))
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.Call(ctx, "alloc", nil, CallOptions{Limits: Limits{MemoryBytes: rssLimit, Timeout: 10 * time.Minute}})
			if !errors.Is(err, ErrMemoryLimit) {
				errs <- fmt.Sprintf("alloc: %v, want ErrMemoryLimit", err)
			}
		}()
	}
	wg.Wait()
	close(stop)
	sampler.Wait()
	close(errs)
	for e := range errs {
		r.Errors = append(r.Errors, e)
	}
	r.Peak = sampled
	if resetPeak {
		r.Peak = max(r.Peak, resident("VmHWM"))
	}
	debug.FreeOSMemory()
	r.After = resident("VmRSS")
	json.NewEncoder(os.Stdout).Encode(r)
	return 0
}

// resident reads a field of /proc/self/status in bytes (VmRSS, VmHWM).
func resident(field string) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
