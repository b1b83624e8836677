// Package cmrun runs tool calls of WASI 0.2 components: it compiles a
// component once (package cm), offers its exported functions as tools
// (package witjson), and runs each call in a fresh instance whose sandbox is
// the call's runtime.CallOptions, the same options, limits and errors as a
// preview1 module of package runtime: the environment reaches the component
// through both wasi:cli/environment and wasi:config/store, storage grants
// are preopened directories, allowed hosts are what wasi:http may reach
// (through internal/netpolicy, as for preview1 modules), and the call is
// stopped when it runs past its time, its memory (summed over the
// component's memories) or its output.
package cmrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/component/runtime"
	"github.com/wassette/wassette/component/wasi"
	"github.com/wassette/wassette/component/witjson"
	"github.com/wassette/wassette/internal/linmem"
	"github.com/wassette/wassette/internal/netpolicy"
)

// Config configures a Runtime.
type Config struct {
	// CacheDir keeps compiled machine code across restarts; empty means an
	// in-memory cache. It should differ from the preview1 runtime's.
	CacheDir string
	// Limits are the defaults of every call; zero fields mean runtime's
	// defaults (30 s, 256 MiB, 1 MiB of output per stream).
	Limits runtime.Limits
	// Logger receives debug logs; never a value. Nil discards.
	Logger *slog.Logger
	// MaxHTTPRequests bounds the wasi:http requests of one call; 0 means
	// wasi.DefaultMaxRequests (64).
	MaxHTTPRequests int
}

// Runtime compiles components and runs their tools. It is safe for
// concurrent use.
type Runtime struct {
	rt          *cm.Runtime
	cache       wazero.CompilationCache
	limits      runtime.Limits
	log         *slog.Logger
	maxRequests int
}

const (
	defaultTimeout     = 30 * time.Second
	defaultMemoryBytes = 256 << 20
	defaultOutputBytes = 1 << 20
)

// New returns a Runtime with the WASI 0.2 host.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("open the compilation cache in %s: %w (check that the directory is writable)", cfg.CacheDir, err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	h := cm.NewHost()
	wasi.Register(h)
	r := &Runtime{rt: cm.NewRuntime(ctx, cm.Config{Cache: cache, Host: h}), cache: cache, limits: cfg.Limits, log: cfg.Logger, maxRequests: cfg.MaxHTTPRequests}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.limits.Timeout <= 0 {
		r.limits.Timeout = defaultTimeout
	}
	if r.limits.MemoryBytes == 0 {
		r.limits.MemoryBytes = defaultMemoryBytes
	}
	if r.limits.OutputBytes <= 0 {
		r.limits.OutputBytes = defaultOutputBytes
	}
	return r, nil
}

// Close releases the runtime and every component compiled with it.
func (r *Runtime) Close(ctx context.Context) error {
	err := r.rt.Close(ctx)
	if e := r.cache.Close(ctx); err == nil {
		err = e
	}
	return err
}

// Module is a compiled component and its tools.
type Module struct {
	r      *Runtime
	c      *cm.Component
	tools  []witjson.Tool
	byName map[string]*witjson.Tool
}

// Tool is a tool of a component.
type Tool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
}

// Compile compiles a component binary and derives its tools from its WIT
// exports. A component that imports what wassette does not provide is
// refused, naming every missing import; so is one without a tool.
func (r *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	start := time.Now()
	c, err := r.rt.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	r.log.Debug("compiled component", "bytes", len(wasm), "duration", time.Since(start))
	tools, err := witjson.Tools(c)
	if err != nil {
		c.Close(ctx)
		return nil, err
	}
	if len(tools) == 0 {
		c.Close(ctx)
		return nil, errors.New("the component exports no function that can be a tool (functions whose parameters or results hold resources cannot)")
	}
	m := &Module{r: r, c: c, tools: tools, byName: map[string]*witjson.Tool{}}
	for i := range tools {
		m.byName[tools[i].Name] = &m.tools[i]
	}
	return m, nil
}

// Tools returns the component's tools, in export order.
func (m *Module) Tools() []Tool {
	out := make([]Tool, len(m.tools))
	for i, t := range m.tools {
		out[i] = Tool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema, OutputSchema: t.OutputSchema}
	}
	return out
}

// Close releases the compiled component once the calls in progress end.
func (m *Module) Close(ctx context.Context) error { return m.c.Close(ctx) }

// Result is the outcome of a call that ran to completion.
type Result struct {
	// IsError reports a tool error: bad arguments (the message names the
	// argument's path), a top-level err result, or an exit with a non-zero
	// status.
	IsError bool
	// Text is the result as text (a string as is, anything else as JSON),
	// or the error message.
	Text string
	// Structured is {"result": <JSON>}: the structured content of a result
	// that is not an error; nil otherwise.
	Structured json.RawMessage
	// Stderr is what the component wrote to stderr.
	Stderr string
}

// Call runs tool in a fresh instance, in the sandbox opts describes, with
// args a JSON object of its arguments. A call stopped by a limit returns an
// error wrapping runtime.ErrTimeout, runtime.ErrMemoryLimit or
// runtime.ErrOutputLimit; a trap returns an error too. Later calls are not
// affected.
func (m *Module) Call(ctx context.Context, tool string, args json.RawMessage, opts runtime.CallOptions) (Result, error) {
	t, ok := m.byName[tool]
	if !ok {
		return Result{}, fmt.Errorf("the component has no tool %q", tool)
	}
	vals, err := witjson.Args(t.Export.Type, args)
	if err != nil {
		return Result{IsError: true, Text: fmt.Sprintf("bad arguments for %s: %v", tool, err)}, nil
	}
	lim := opts.Limits
	if lim.Timeout <= 0 {
		lim.Timeout = m.r.limits.Timeout
	}
	if lim.MemoryBytes == 0 {
		lim.MemoryBytes = m.r.limits.MemoryBytes
	}
	if lim.OutputBytes <= 0 {
		lim.OutputBytes = m.r.limits.OutputBytes
	}
	if lim.HTTPResponseBytes <= 0 {
		lim.HTTPResponseBytes = m.r.limits.HTTPResponseBytes
	}
	env, err := environ(opts.Env)
	if err != nil {
		return Result{}, err
	}
	preopens, mounts, err := openMounts(opts.Mounts)
	if err != nil {
		return Result{}, err
	}
	defer mounts.Close()
	network, err := netpolicy.New(opts.ComponentID, opts.AllowedHosts)
	if err != nil {
		return Result{}, fmt.Errorf("allowed hosts: %w", err)
	}
	defer network.Close()

	callCtx, cancel := context.WithTimeoutCause(ctx, lim.Timeout, runtime.ErrTimeout)
	defer cancel()
	// One budget for every memory of every core instance of the component.
	budget := linmem.NewBudget(lim.MemoryBytes, cancel)
	// Checked before anything is allocated: the initial sizes of the memories
	// the component's core modules define, exported or not.
	if need := m.c.MemoryBytes(); need > budget.Limit() {
		return Result{}, fmt.Errorf("%w: the component needs %s of memory to start (the initial sizes of the memories its core modules define, exported or not), more than the %s limit",
			runtime.ErrMemoryLimit, formatBytes(need), formatBytes(budget.Limit()))
	}
	// run closes the instance before it returns; only then may its memories
	// be unmapped.
	defer budget.Release()
	st := &callState{stop: cancel}
	stdout := &capped{limit: lim.OutputBytes, st: st, name: "stdout"}
	stderr := &capped{limit: lim.OutputBytes, st: st, name: "stderr"}
	// Through linmem's context, each core module's memory maps its prepared
	// initial contents copy-on-write (see cm.Component.Instantiate).
	callCtx = linmem.NewContext(callCtx, budget)

	start := time.Now()
	wc := wasi.NewCtx(wasi.Config{Env: env, Stdout: stdout, Stderr: stderr, Preopens: preopens,
		HTTP: wasi.HTTP{Policy: network, ComponentID: opts.ComponentID, MaxResponseBytes: int64(lim.HTTPResponseBytes),
			MaxRequests: m.r.maxRequests, Logger: m.r.log}})
	res, err := m.run(callCtx, t, vals, wc)
	problems := wc.HTTPProblems()
	m.r.log.Debug("component call", "component", opts.ComponentID, "tool", tool, "duration", time.Since(start),
		"stdout_bytes", len(stdout.buf), "stderr_bytes", len(stderr.buf))
	out := Result{Stderr: string(stderr.buf)}
	switch {
	case st.exceeded != nil:
		return out, fmt.Errorf("tool %q: %w: it wrote more than %s to %s", tool, runtime.ErrOutputLimit, formatBytes(uint64(lim.OutputBytes)), st.exceeded.name)
	case budget.Exceeded():
		return out, fmt.Errorf("tool %q: %w: it needed more than %s of memory", tool, runtime.ErrMemoryLimit, formatBytes(budget.Limit()))
	case err != nil && ctx.Err() != nil:
		return out, fmt.Errorf("tool %q: the call was interrupted: %w", tool, context.Cause(ctx))
	case err != nil && errors.Is(context.Cause(callCtx), runtime.ErrTimeout):
		return out, fmt.Errorf("tool %q: %w: it ran longer than %v%s", tool, runtime.ErrTimeout, lim.Timeout, waiting(wc))
	}
	var exit *wasi.ExitError
	if errors.As(err, &exit) {
		if exit.Code == 0 && t.Export.Type.Result == nil {
			out.Text = "null"
			return out, nil
		}
		out.IsError = true
		out.Text = exit.Error()
		if s := excerpt(stderr.buf); s != "" {
			out.Text += ": " + s
		}
		return out, nil
	}
	if err != nil {
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] // drop wazero's stack trace
		}
		if s := excerpt(stderr.buf); s != "" {
			msg += "; stderr: " + s
		}
		return out, fmt.Errorf("tool %q: the component crashed: %s%s", tool, msg, networkNote(problems))
	}
	tr, err := witjson.ToolResult(t.Export.Type, res)
	if err != nil {
		return out, fmt.Errorf("tool %q: %w", tool, err)
	}
	out.IsError, out.Text, out.Structured = tr.IsError, tr.Text, tr.Structured
	if out.IsError {
		// The component's own words for a failed request may be vague
		// ("fetch failed"); say what the host saw.
		out.Text += networkNote(problems)
	}
	return out, nil
}

// networkNote is what a failed call's message adds about the HTTP requests
// that went wrong: hosts and reasons, never a path, a query or a header.
func networkNote(problems []string) string {
	if len(problems) == 0 {
		return ""
	}
	return " (wassette: " + strings.Join(problems, "; ") + ")"
}

// waiting says, for a call stopped by its time limit, which HTTP requests it
// was still waiting for.
func waiting(wc *wasi.Ctx) string {
	hosts := wc.HTTPPending()
	if len(hosts) == 0 {
		return ""
	}
	return " (waiting for an HTTP response from " + strings.Join(hosts, ", ") + ")"
}

// run instantiates the component and calls the tool's function.
func (m *Module) run(ctx context.Context, t *witjson.Tool, vals []any, wc *wasi.Ctx) (any, error) {
	// Requests still running when the instance goes are ended, after the
	// instance released the handles it never dropped.
	defer wc.Close()
	in, err := m.c.Instantiate(ctx, wc)
	if err != nil {
		return nil, err
	}
	defer in.Close(context.WithoutCancel(ctx))
	return in.Call(ctx, t.Export, vals...)
}

// environ converts KEY=VALUE entries, checked like runtime does.
func environ(entries []string) ([][2]string, error) {
	out := make([][2]string, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, kv := range entries {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			// Never print the entry: it may be a secret.
			return nil, fmt.Errorf("environment entry #%d is not of the form KEY=VALUE", i)
		case !utf8.ValidString(kv):
			return nil, fmt.Errorf("environment variable %.64q is not valid UTF-8", k)
		case seen[k]:
			return nil, fmt.Errorf("environment variable %.64q is given more than once", k)
		}
		seen[k] = true
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// callState is what the sandbox pieces of one call share.
type callState struct {
	stop     context.CancelFunc
	mu       sync.Mutex
	exceeded *capped
}

// capped collects an output stream up to limit bytes; writing more stops
// the call.
type capped struct {
	buf   []byte
	limit int
	st    *callState
	name  string
}

var errOutputFull = errors.New("output limit reached")

func (w *capped) Write(p []byte) (int, error) {
	room := w.limit - len(w.buf)
	if len(p) <= room {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		w.buf = append(w.buf, p[:room]...)
	}
	w.st.mu.Lock()
	if w.st.exceeded == nil {
		w.st.exceeded = w
	}
	w.st.mu.Unlock()
	w.st.stop()
	return max(room, 0), errOutputFull
}

// excerpt returns the start of b, trimmed, for an error message.
func excerpt(b []byte) string {
	const max = 2048
	b = bytes.TrimSpace(b)
	if len(b) <= max {
		return string(b)
	}
	b = b[:max]
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return string(b) + "..."
}

// formatBytes formats n for a message: "512 bytes", "64 KiB", "2.5 MiB".
func formatBytes(n uint64) string {
	trim := func(s string) string { return strings.TrimSuffix(s, ".0") }
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return trim(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	case n < 1<<30:
		return trim(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	}
	return trim(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
}
