package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/wassette/wassette/internal/fsys"
	"github.com/wassette/wassette/internal/linmem"
	"github.com/wassette/wassette/internal/netpolicy"
)

// CallOptions is the sandbox of one call: everything the instance may see or
// use. The zero value grants nothing: no environment, no file system, no
// network, default limits.
type CallOptions struct {
	// ComponentID names the component in error messages (such as the
	// command that grants a refused host) and logs.
	ComponentID string

	// Env is the complete environment of the instance, as KEY=VALUE entries;
	// nothing from the host environment is added. Keys must be unique. The
	// values are secrets: they are never logged.
	Env []string

	// Mounts are the host directories the instance may access. No mounts
	// means no file system at all.
	Mounts []Mount

	// AllowedHosts are the hosts the instance may reach over HTTP(S) through
	// the wassette_http host module; see CheckHostPattern for the syntax.
	// Empty means no network.
	AllowedHosts []string

	// Limits override the Runtime's defaults for this call.
	Limits Limits
}

// Mount makes a host directory visible to an instance (see fsys.Mount for
// its fields). WASI 0.2 components get theirs as the same type.
type Mount = fsys.Mount

// Result is the outcome of a call that ran to completion.
type Result struct {
	// Output is the JSON value the tool printed on stdout. It is set only
	// when ExitCode is zero.
	Output json.RawMessage
	// ExitCode is the instance's exit code. Non-zero means the tool
	// failed, and Stderr holds its error message.
	ExitCode uint32
	// Stderr is what the instance wrote to stderr: the error message of a
	// failed tool, or diagnostics otherwise.
	Stderr string
}

// IsError reports whether the tool failed (exited non-zero).
func (r Result) IsError() bool { return r.ExitCode != 0 }

// Describe runs the module once, with DescribeFlag, in an empty sandbox (no
// environment, no file system, no network, Config.DescribeTimeout) and
// returns the tools it declares, validated by ParseTools. Callers should
// cache the result rather than describe at every start.
func (m *Module) Describe(ctx context.Context) ([]Tool, error) {
	d, err := m.Description(ctx)
	return d.Tools, err
}

// Description is Describe with the secrets the module declares, validated by
// ParseDescription.
func (m *Module) Description(ctx context.Context) (Description, error) {
	lim := m.rt.limits
	lim.Timeout = m.rt.describeTimeout
	out, err := m.exec(ctx, DescribeFlag, nil, sandbox{}, lim)
	if err != nil {
		return Description{}, fmt.Errorf("describe the module's tools: %w", err)
	}
	if out.exitCode != 0 {
		return Description{}, fmt.Errorf("%w: running the module with %s failed with exit code %d: %s", ErrProtocol, DescribeFlag, out.exitCode, excerpt(out.stderr))
	}
	return ParseDescription(out.stdout)
}

// Call runs tool in a fresh instance of the module, with args (a JSON object;
// empty means {}) on stdin, in the sandbox described by opts.
//
// A tool that exits non-zero is not an error: Result.IsError reports it and
// Result.Stderr holds its message. Call returns an error when the call could
// not run (invalid options, closed module), was stopped (wrapping ErrTimeout,
// ErrMemoryLimit or ErrOutputLimit, or ctx's error), crashed, or broke the
// protocol (ErrProtocol). A stopped call does not affect later calls.
func (m *Module) Call(ctx context.Context, tool string, args json.RawMessage, opts CallOptions) (Result, error) {
	if err := validToolName(tool); err != nil {
		return Result{}, err
	}
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	if args[0] != '{' || !json.Valid(args) {
		return Result{}, fmt.Errorf("the arguments of tool %q must be a JSON object", tool)
	}
	lim := opts.Limits.orElse(m.rt.limits)
	sb, err := newSandbox(opts)
	if err != nil {
		return Result{}, err
	}
	defer sb.close()
	start := time.Now()
	out, err := m.exec(ctx, tool, args, sb, lim)
	// Only sizes and the kind of failure are logged: the output and error
	// messages may contain what the component read from its secrets.
	m.rt.log.Debug("component call", "component", opts.ComponentID, "tool", tool,
		"duration", time.Since(start), "exit_code", out.exitCode, "stdout_bytes", len(out.stdout),
		"stderr_bytes", len(out.stderr), "failure", failureKind(ctx, err))
	if err != nil {
		return Result{}, fmt.Errorf("tool %q: %w", tool, err)
	}
	res := Result{ExitCode: out.exitCode, Stderr: string(out.stderr)}
	if res.IsError() {
		return res, nil
	}
	stdout := bytes.TrimSpace(out.stdout)
	if !json.Valid(stdout) {
		return Result{}, fmt.Errorf("%w: tool %q exited 0 but did not print a JSON value on stdout (%d bytes)", ErrProtocol, tool, len(stdout))
	}
	res.Output = stdout
	return res, nil
}

// sandbox is the validated form of CallOptions, with its mounts open. Close
// it once the instance is closed.
type sandbox struct {
	id     string   // the component, for logs
	env    []string // KEY, VALUE, KEY, VALUE...
	fs     wazero.FSConfig
	mounts fsys.Mounts
	net    *netpolicy.Policy
}

func newSandbox(opts CallOptions) (sandbox, error) {
	sb := sandbox{id: opts.ComponentID}
	seen := make(map[string]bool, len(opts.Env))
	for i, kv := range opts.Env {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok || k == "":
			// Never print the entry: it may be a secret.
			return sandbox{}, fmt.Errorf("environment entry #%d is not of the form KEY=VALUE", i)
		case strings.ContainsRune(kv, 0):
			return sandbox{}, fmt.Errorf("environment variable %.64q contains a NUL byte", k)
		case seen[k]:
			return sandbox{}, fmt.Errorf("environment variable %.64q is given more than once", k)
		}
		seen[k] = true
		sb.env = append(sb.env, k, v)
	}
	net, err := netpolicy.New(opts.ComponentID, opts.AllowedHosts)
	if err != nil {
		return sandbox{}, fmt.Errorf("allowed hosts: %w", err)
	}
	sb.net = net
	if sb.fs, sb.mounts, err = openMounts(opts.Mounts); err != nil {
		sb.close()
		return sandbox{}, err
	}
	return sb, nil
}

func (sb sandbox) close() {
	sb.mounts.Close()
	if sb.net != nil {
		sb.net.Close()
	}
}

// execOutput is what an instance produced.
type execOutput struct {
	stdout, stderr []byte
	exitCode       uint32
}

// exec runs a fresh instance with argv [argv0, arg] and the given stdin and
// sandbox. It returns an error when the instance was stopped or crashed; a
// non-zero exit is reported in execOutput.
func (m *Module) exec(ctx context.Context, arg string, stdin []byte, sb sandbox, lim Limits) (execOutput, error) {
	if err := m.rt.enter(); err != nil {
		return execOutput{}, err
	}
	defer m.rt.calls.Done()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return execOutput{}, errors.New("the module is closed")
	}
	memLimit := lim.memoryLimit()
	if m.minMemory > memLimit {
		return execOutput{}, fmt.Errorf("%w: the module needs %s of memory to start (the initial sizes of the memories it declares, exported or not), more than the %s limit", ErrMemoryLimit, formatBytes(m.minMemory), formatBytes(memLimit))
	}

	callCtx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()
	// Closing the Runtime stops the call like a cancellation: wazero then
	// closes the instance from the call's own goroutine.
	defer context.AfterFunc(m.rt.closing, cancel)()
	mem := linmem.NewBudget(memLimit, cancel)
	// The instance is closed before the function returns; only then may its
	// memory be unmapped.
	defer mem.Release()
	st := &callState{stop: cancel, mem: mem, id: sb.id, net: sb.net, maxBody: lim.HTTPResponseBytes}
	stdout := &cappedBuffer{limit: lim.OutputBytes, st: st}
	stderr := &cappedBuffer{limit: lim.OutputBytes, st: st}
	callCtx = context.WithValue(callCtx, callStateKey{}, st)
	if m.image != nil {
		callCtx = experimental.WithMemoryAllocator(callCtx, mem.WithImage(m.image))
	} else {
		callCtx = experimental.WithMemoryAllocator(callCtx, mem)
	}

	cfg := m.base.
		WithName(""). // anonymous: many instances may run at once
		WithArgs(argv0, arg).
		WithStdin(bytes.NewReader(stdin)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithNanosleep(sleeper(callCtx))
	for i := 0; i < len(sb.env); i += 2 {
		cfg = cfg.WithEnv(sb.env[i], sb.env[i+1])
	}
	if sb.fs != nil {
		cfg = cfg.WithFSConfig(sb.fs)
	}

	mod, err := m.rt.wz.InstantiateModule(callCtx, m.compiled, cfg)
	if mod != nil {
		mod.Close(context.WithoutCancel(ctx))
	}
	out := execOutput{stdout: stdout.buf, stderr: stderr.buf}
	if st.outputExceeded.Load() {
		// Checked even without an error: the instance may have ignored the
		// write error and exited before noticing it was stopped.
		stream := "stdout"
		if stderr.full {
			stream = "stderr"
		}
		return out, fmt.Errorf("%w: it wrote more than %s to %s", ErrOutputLimit, formatBytes(uint64(lim.OutputBytes)), stream)
	}
	if err == nil {
		return out, nil
	}
	var exit *sys.ExitError
	isExit := errors.As(err, &exit)
	switch {
	case mem.Exceeded():
		return out, fmt.Errorf("%w: it needed more than %s of memory", ErrMemoryLimit, formatBytes(memLimit))
	case m.rt.closing.Err() != nil:
		return out, fmt.Errorf("the call was stopped: %w", ErrClosed)
	case ctx.Err() != nil:
		return out, fmt.Errorf("the call was interrupted: %w", context.Cause(ctx))
	case isExit && exit.ExitCode() == sys.ExitCodeDeadlineExceeded:
		return out, fmt.Errorf("%w: it ran longer than %v", ErrTimeout, lim.Timeout)
	case isExit && exit.ExitCode() == sys.ExitCodeContextCanceled:
		return out, fmt.Errorf("the call was canceled: %w", err)
	case isExit:
		out.exitCode = exit.ExitCode()
		return out, nil
	default:
		// A trap (e.g. unreachable, out-of-bounds access) or an
		// instantiation failure.
		msg := err.Error()
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] // drop wazero's stack trace
		}
		if s := excerpt(out.stderr); s != "" {
			msg += "; stderr: " + s
		}
		return out, fmt.Errorf("the module crashed: %s", msg)
	}
}

// sleeper returns a Nanosleep that wakes up early when ctx is done, so that a
// sleeping instance can be stopped.
func sleeper(ctx context.Context) sys.Nanosleep {
	return func(ns int64) {
		t := time.NewTimer(time.Duration(ns))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
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

// failureKind classifies a call error for logs.
func failureKind(ctx context.Context, err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, ErrMemoryLimit):
		return "memory_limit"
	case errors.Is(err, ErrOutputLimit):
		return "output_limit"
	case ctx.Err() != nil:
		return "interrupted"
	default:
		return "crash"
	}
}
