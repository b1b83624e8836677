package runtime

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wassette/wassette/internal/linmem"
)

// Config configures a Runtime. The zero value is usable: no on-disk cache,
// no logging, default limits.
type Config struct {
	// CacheDir is the directory where compiled machine code is kept, so that
	// a restart does not recompile the same module. It is created if needed.
	// The contents are specific to the wazero version; the directory must be
	// private to wassette. Empty means an in-memory cache only.
	CacheDir string

	// Logger receives debug logs about compilations and calls. It never
	// receives environment values or call arguments. Nil discards logs.
	Logger *slog.Logger

	// Limits are the defaults for each call; a zero field means the package
	// default documented on Limits.
	Limits Limits

	// DescribeTimeout bounds a Module.Describe run. Zero means 10 seconds.
	DescribeTimeout time.Duration
}

// Limits bound the resources of one call. A zero field means "use the
// default": the Runtime's Config.Limits for CallOptions.Limits, and the
// documented package default for Config.Limits.
type Limits struct {
	// Timeout bounds the wall-clock duration of a call. Default 30 seconds.
	Timeout time.Duration

	// MemoryBytes bounds the WebAssembly linear memory of the instance,
	// rounded down to 64 KiB pages (minimum one page, maximum 4 GiB).
	// Default 256 MiB. Host-side buffers are bounded separately by
	// OutputBytes and HTTPResponseBytes.
	MemoryBytes uint64

	// OutputBytes bounds what the instance may write to stdout and, separately,
	// to stderr. A call that writes more is stopped with ErrOutputLimit.
	// Default 1 MiB.
	OutputBytes int

	// HTTPResponseBytes bounds the body of each HTTP response the instance
	// receives through the wassette_http host module. Default 4 MiB.
	HTTPResponseBytes int
}

const (
	defaultTimeout           = 30 * time.Second
	defaultMemoryBytes       = 256 << 20
	defaultOutputBytes       = 1 << 20
	defaultHTTPResponseBytes = 4 << 20
	defaultDescribeTimeout   = 10 * time.Second

	pageSize = linmem.PageSize
	maxPages = 65536 // 4 GiB, the wasm32 maximum

	// maxTableElems bounds the elements of a module's tables together.
	maxTableElems = linmem.MaxTableElems
)

// orElse returns l with its zero fields taken from d.
func (l Limits) orElse(d Limits) Limits {
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.OutputBytes <= 0 {
		l.OutputBytes = d.OutputBytes
	}
	if l.HTTPResponseBytes <= 0 {
		l.HTTPResponseBytes = d.HTTPResponseBytes
	}
	return l
}

// memoryLimit returns the memory limit in bytes, a whole number of pages.
func (l Limits) memoryLimit() uint64 {
	pages := l.MemoryBytes / pageSize
	switch {
	case pages < 1:
		pages = 1
	case pages > maxPages:
		pages = maxPages
	}
	return pages * pageSize
}

// Runtime compiles and runs modules. It is safe for concurrent use. Close it
// to release its resources.
type Runtime struct {
	wz              wazero.Runtime
	cache           wazero.CompilationCache
	log             *slog.Logger
	limits          Limits
	describeTimeout time.Duration
	// provided holds "module\x00name" for each function modules may import.
	provided map[string]bool

	// Calls in progress. Close stops them (closing is canceled, which cancels
	// every call's context) and waits for them before closing wazero: closing
	// wazero's runtime closes every instance from Close's goroutine, which would
	// free an instance's files and memory under its running code.
	mu      sync.Mutex
	closed  bool
	calls   sync.WaitGroup
	closing context.Context
	stop    context.CancelFunc
}

// New returns a Runtime. ctx is used only while setting it up.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open the compilation cache in %s: %w (check that the directory is writable, or set no cache directory)", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	r := &Runtime{
		cache:           cache,
		log:             cfg.Logger,
		describeTimeout: cfg.DescribeTimeout,
		limits: cfg.Limits.orElse(Limits{
			Timeout:           defaultTimeout,
			MemoryBytes:       defaultMemoryBytes,
			OutputBytes:       defaultOutputBytes,
			HTTPResponseBytes: defaultHTTPResponseBytes,
		}),
		provided: map[string]bool{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.describeTimeout <= 0 {
		r.describeTimeout = defaultDescribeTimeout
	}
	r.closing, r.stop = context.WithCancel(context.Background())

	// CloseOnContextDone makes compiled code check for cancellation in loops
	// and function calls, which is how timeouts and the output cap stop a
	// runaway instance.
	r.wz = wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true))

	if _, err := wasi_snapshot_preview1.Instantiate(ctx, r.wz); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiate WASI preview1: %w", err)
	}
	httpMod, err := instantiateHTTPModule(ctx, r.wz, r)
	if err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("instantiate the %s host module: %w", httpModuleName, err)
	}
	for _, m := range []api.Module{r.wz.Module(wasi_snapshot_preview1.ModuleName), httpMod} {
		for name := range m.ExportedFunctionDefinitions() {
			r.provided[m.Name()+"\x00"+name] = true
		}
	}
	return r, nil
}

// Close releases the Runtime and every Module compiled by it. Calls in
// progress are stopped, and Close waits for them to return (with an error
// wrapping ErrClosed); later calls fail with ErrClosed.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.calls.Wait()
	err := r.wz.CloseWithExitCode(ctx, sys.ExitCodeContextCanceled)
	if e := r.cache.Close(ctx); err == nil {
		err = e
	}
	return err
}

// ErrClosed is returned by calls made, or stopped, because the Runtime was
// closed. Use errors.Is to test for it.
var ErrClosed = errors.New("the runtime is closed")

// enter registers a call in progress; the caller must call r.calls.Done.
func (r *Runtime) enter() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.calls.Add(1)
	return nil
}

// Module is a compiled module, ready to be described and called. It is safe
// for concurrent use; each call runs in its own instance.
type Module struct {
	rt       *Runtime
	compiled wazero.CompiledModule
	// image is the initial contents of the module's memory, which compiled no
	// longer writes itself (its active data segments were taken out), or nil.
	image *linmem.Image
	// minMemory is the sum of the initial sizes of every memory the module
	// declares, imported or defined, exported or not, in bytes.
	minMemory uint64
	base      wazero.ModuleConfig

	// mu is held for reading by each call and for writing by Close, so that
	// the compiled code is released only when no call uses it.
	mu     sync.RWMutex
	closed bool
}

// argv0 is the program name every instance sees as its first argument.
const argv0 = "component"

// Compile validates and compiles a WASI preview1 module. The machine code is
// cached (on disk when Config.CacheDir is set), so compiling the same bytes
// again, even in a later process, is fast. Component-model binaries are
// refused with ErrComponentModel.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	if err := checkHeader(wasm); err != nil {
		return nil, err
	}
	// Tables live in host memory, outside the memory limit: give each a maximum
	// before compiling, so that no table.grow can ask the host for gigabytes.
	capped, capErr := linmem.CapTables(wasm, maxTableElems)
	if capErr != nil && !errors.Is(capErr, linmem.ErrMalformed) {
		return nil, capErr
	}
	if capErr != nil {
		capped = wasm // the compiler says what is wrong with it
	}
	// Every call would otherwise evaluate and copy each data segment again (a Go
	// module has tens of thousands): compute their effect once, as an image that
	// each instance's memory starts with.
	prepared, image, err := linmem.Prepare(capped)
	if err != nil || capErr != nil {
		prepared, image = capped, nil // the compiler says what is wrong with it
	}
	start := time.Now()
	compiled, err := r.wz.CompileModule(ctx, prepared)
	if err != nil {
		closeImage(image)
		return nil, fmt.Errorf("compile WebAssembly module: %w", err)
	}
	if capErr != nil {
		compiled.Close(ctx)
		return nil, fmt.Errorf("read the module's tables: %w", capErr)
	}
	closeOnErr := func(err error) error {
		compiled.Close(ctx)
		closeImage(image)
		return err
	}
	r.log.Debug("compiled module", "bytes", len(wasm), "duration", time.Since(start), "memory_image", image != nil)
	if err := r.checkModule(compiled); err != nil {
		return nil, closeOnErr(err)
	}
	// wazero reports only exported memories; a memory the module keeps to itself
	// is allocated at instantiation all the same, so read them all.
	mems, err := linmem.Declared(wasm)
	if err != nil {
		return nil, closeOnErr(err)
	}
	for _, mem := range mems {
		if mem.Imported {
			return nil, closeOnErr(errors.New("the module imports a memory: wassette provides none; build it as a WASI preview1 command, which defines its own memory"))
		}
	}
	return &Module{
		rt:        r,
		compiled:  compiled,
		image:     image,
		minMemory: linmem.InitialBytes(mems),
		base: wazero.NewModuleConfig().
			WithSysWalltime().
			WithSysNanotime().
			WithRandSource(rand.Reader),
	}, nil
}

// checkModule refuses modules that cannot follow the protocol: reactors and
// libraries without _start, and modules importing functions wassette does not
// provide.
func (r *Runtime) checkModule(c wazero.CompiledModule) error {
	if _, ok := c.ExportedFunctions()["_start"]; !ok {
		return errors.New("the module exports no _start function: build it as a WASI preview1 command (a Go package main built with GOOS=wasip1 GOARCH=wasm, without -buildmode=c-shared)")
	}
	var missing []string
	for _, f := range c.ImportedFunctions() {
		mod, name, _ := f.Import()
		if !r.provided[mod+"\x00"+name] {
			missing = append(missing, mod+"."+name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("the module imports functions wassette does not provide: %s (components may import only wasi_snapshot_preview1 and %s)", strings.Join(missing, ", "), httpModuleName)
	}
	return nil
}

// Close waits for calls in progress to finish, then releases the compiled
// code. Later calls fail.
func (m *Module) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	err := m.compiled.Close(ctx)
	closeImage(m.image)
	return err
}

func closeImage(img *linmem.Image) {
	if img != nil {
		img.Close()
	}
}
