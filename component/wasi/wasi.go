// Package wasi implements the WASI 0.2 interfaces that components import, on
// the component-model host of package cm: wasi:io (error, poll, streams),
// wasi:clocks, wasi:random, wasi:cli (environment, exit, standard streams,
// terminals), wasi:filesystem (types, preopens) on confined directories,
// wasi:sockets (present, denying everything), wasi:config/store, and
// wasi:http (types and outgoing-handler) on Go's net/http, through the
// network policy of package netpolicy.
//
// Register adds them to a cm.Host; each instance then gets its own *Ctx (as
// the instance's data) holding what that call may see: its environment, its
// standard streams and its preopened directories. Every 0.2.x version of a
// WASI interface is accepted; wasi:config/store as 0.2.0-draft and
// 0.2.0-rc.1.
//
// Response futures and bodies are pollables and streams that
// wasi:io/poll really waits on: a request runs on its own goroutine, and a
// response body is read ahead by another, so a component blocked in poll
// wakes when its response or the next bytes arrive.
package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"github.com/wassette/wassette/component/cm"
)

// Config is what one instance may see.
type Config struct {
	// Env is the instance's environment and configuration, in order: what
	// both wasi:cli/environment and wasi:config/store give. Keys are unique.
	Env [][2]string
	// Stdin is what the instance reads from standard input.
	Stdin []byte
	// Stdout and Stderr receive what the instance writes; nil discards. A
	// write error (such as an output limit) is reported to the component as
	// a failed write.
	Stdout, Stderr io.Writer
	// Preopens are the directories the instance may use, in order.
	Preopens []Preopen
	// HTTP is what the instance may reach through wasi:http; the zero value
	// reaches nothing.
	HTTP HTTP
}

// Preopen is a directory given to an instance.
type Preopen struct {
	// Path is where the instance sees it, such as "/data".
	Path string
	// FS is the directory; the instance reaches nothing outside it.
	FS experimentalsys.FS
}

// Ctx is the WASI state of one instance. Give it as the data of
// cm.Component.Instantiate.
type Ctx struct {
	cfg    Config
	stdin  *readerStream
	stdout *writerStream
	stderr *writerStream
	exit   *ExitError
	http   *httpState
}

// NewCtx returns the state of an instance that sees what cfg gives.
func NewCtx(cfg Config) *Ctx {
	c := &Ctx{cfg: cfg}
	c.stdin = &readerStream{data: cfg.Stdin}
	c.stdout = &writerStream{w: cfg.Stdout}
	c.stderr = &writerStream{w: cfg.Stderr}
	c.http = newHTTPState(cfg.HTTP)
	return c
}

// Exit returns the exit the component asked for through wasi:cli/exit, or
// nil.
func (c *Ctx) Exit() *ExitError { return c.exit }

// ExitError is returned by a call that ended through wasi:cli/exit.
type ExitError struct {
	Code uint32
}

func (e *ExitError) Error() string {
	if e.Code == 0 {
		return "the component exited (status 0) before returning"
	}
	return fmt.Sprintf("the component exited with status %d", e.Code)
}

// ctxOf returns the WASI state of inst.
func ctxOf(inst *cm.Instance) (*Ctx, error) {
	c, ok := inst.Data().(*Ctx)
	if !ok {
		return nil, errors.New("wasi: the instance was created without a wasi.Ctx")
	}
	return c, nil
}

// fn adapts a function of the instance's Ctx to a cm.HostFunc.
func fn(f func(ctx context.Context, c *Ctx, args []any) (any, error)) cm.HostFunc {
	return func(ctx context.Context, inst *cm.Instance, args []any) (any, error) {
		c, err := ctxOf(inst)
		if err != nil {
			return nil, err
		}
		return f(ctx, c, args)
	}
}

// pure adapts a function that needs no instance state.
func pure(f func(ctx context.Context, args []any) (any, error)) cm.HostFunc {
	return func(ctx context.Context, _ *cm.Instance, args []any) (any, error) { return f(ctx, args) }
}

// v02 accepts the versions of WASI 0.2.
var v02 = cm.SemverCompatible(0, 2)

// Register adds the WASI 0.2 interfaces to h.
func Register(h *cm.Host) {
	registerIO(h)
	registerClocks(h)
	registerRandom(h)
	registerCLI(h)
	registerConfig(h)
	registerSockets(h)
	registerFilesystem(h)
	registerHTTP(h)
}

// closeValue releases a host value that holds something.
func closeValue(_ *cm.Instance, v any) {
	if c, ok := v.(io.Closer); ok {
		_ = c.Close()
	}
}

// arg returns args[i] as a T, or an error naming the parameter: a guard
// against a component whose import types differ from the WASI ones.
func arg[T any](args []any, i int) (T, error) {
	var zero T
	if i >= len(args) {
		return zero, fmt.Errorf("wasi: missing argument %d", i)
	}
	v, ok := args[i].(T)
	if !ok {
		return zero, fmt.Errorf("wasi: argument %d is a %T, not a %T: the component's import type differs from WASI's", i, args[i], zero)
	}
	return v, nil
}
