package wasi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/wassette/wassette/component/cm"
)

// start is the origin of the monotonic clock.
var start = time.Now()

func registerClocks(h *cm.Host) {
	h.Interface("wasi:clocks/monotonic-clock", v02).
		Func("now", pure(func(context.Context, []any) (any, error) {
			return uint64(time.Since(start)), nil
		})).
		Func("resolution", pure(func(context.Context, []any) (any, error) { return uint64(1), nil })).
		Func("subscribe-instant", pure(func(_ context.Context, args []any) (any, error) {
			when, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			return newTimer(time.Duration(when) - time.Since(start)), nil
		})).
		Func("subscribe-duration", pure(func(_ context.Context, args []any) (any, error) {
			d, err := arg[uint64](args, 0)
			if err != nil {
				return nil, err
			}
			return newTimer(time.Duration(min(d, 1<<62))), nil
		}))
	datetime := func(t time.Time) any {
		return []any{uint64(t.Unix()), uint32(t.Nanosecond())}
	}
	h.Interface("wasi:clocks/wall-clock", v02).
		Func("now", pure(func(context.Context, []any) (any, error) { return datetime(time.Now()), nil })).
		Func("resolution", pure(func(context.Context, []any) (any, error) { return []any{uint64(0), uint32(1)}, nil }))
}

// maxRandom bounds one request for random bytes.
const maxRandom = 1 << 20

func randomBytes(_ context.Context, args []any) (any, error) {
	n, err := arg[uint64](args, 0)
	if err != nil {
		return nil, err
	}
	if n > maxRandom {
		return nil, fmt.Errorf("wasi:random: %d random bytes asked at once, more than the %d allowed", n, maxRandom)
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b, nil
}

func randomU64(context.Context, []any) (any, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]), nil
}

func registerRandom(h *cm.Host) {
	h.Interface("wasi:random/random", v02).
		Func("get-random-bytes", pure(randomBytes)).
		Func("get-random-u64", pure(randomU64))
	h.Interface("wasi:random/insecure", v02).
		Func("get-insecure-random-bytes", pure(randomBytes)).
		Func("get-insecure-random-u64", pure(randomU64))
	h.Interface("wasi:random/insecure-seed", v02).
		Func("insecure-seed", pure(func(ctx context.Context, args []any) (any, error) {
			a, _ := randomU64(ctx, nil)
			b, _ := randomU64(ctx, nil)
			return []any{a, b}, nil
		}))
}

func registerCLI(h *cm.Host) {
	h.Interface("wasi:cli/environment", v02).
		Func("get-environment", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) {
			out := make([]any, len(c.cfg.Env))
			for i, kv := range c.cfg.Env {
				out[i] = []any{kv[0], kv[1]}
			}
			return out, nil
		})).
		Func("get-arguments", pure(func(context.Context, []any) (any, error) { return []any{}, nil })).
		Func("initial-cwd", pure(func(context.Context, []any) (any, error) { return cm.None(), nil }))

	h.Interface("wasi:cli/exit", v02).
		Func("exit", fn(func(_ context.Context, c *Ctx, args []any) (any, error) {
			status, err := arg[cm.Variant](args, 0)
			if err != nil {
				return nil, err
			}
			c.exit = &ExitError{Code: status.Case} // ok is 0, err is 1
			return nil, c.exit
		})).
		Func("exit-with-code", fn(func(_ context.Context, c *Ctx, args []any) (any, error) {
			code, err := arg[uint8](args, 0)
			if err != nil {
				return nil, err
			}
			c.exit = &ExitError{Code: uint32(code)}
			return nil, c.exit
		}))

	h.Interface("wasi:cli/stdin", v02).
		Func("get-stdin", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) { return c.stdin, nil }))
	h.Interface("wasi:cli/stdout", v02).
		Func("get-stdout", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) { return c.stdout, nil }))
	h.Interface("wasi:cli/stderr", v02).
		Func("get-stderr", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) { return c.stderr, nil }))

	// No terminals: the standard streams are not terminals.
	h.Interface("wasi:cli/terminal-input", v02).Resource("terminal-input", nil)
	h.Interface("wasi:cli/terminal-output", v02).Resource("terminal-output", nil)
	none := pure(func(context.Context, []any) (any, error) { return cm.None(), nil })
	h.Interface("wasi:cli/terminal-stdin", v02).Func("get-terminal-stdin", none)
	h.Interface("wasi:cli/terminal-stdout", v02).Func("get-terminal-stdout", none)
	h.Interface("wasi:cli/terminal-stderr", v02).Func("get-terminal-stderr", none)
}

// registerConfig adds wasi:config/store, which holds the same variables as
// wasi:cli/environment.
func registerConfig(h *cm.Host) {
	h.Interface("wasi:config/store", cm.Versions("0.2.0-draft", "0.2.0-rc.1")).
		Func("get", fn(func(_ context.Context, c *Ctx, args []any) (any, error) {
			key, err := arg[string](args, 0)
			if err != nil {
				return nil, err
			}
			for _, kv := range c.cfg.Env {
				if kv[0] == key {
					return cm.OK(cm.Some(kv[1])), nil
				}
			}
			return cm.OK(cm.None()), nil
		})).
		Func("get-all", fn(func(_ context.Context, c *Ctx, _ []any) (any, error) {
			out := make([]any, len(c.cfg.Env))
			for i, kv := range c.cfg.Env {
				out[i] = []any{kv[0], kv[1]}
			}
			return cm.OK(out), nil
		}))
}

// Socket error codes of wasi:sockets/network (the enum's case indexes).
const socketAccessDenied = uint32(1)

// network is the host value of wasi:sockets/network's network: the only one
// there is, through which nothing is allowed.
type network struct{}

func registerSockets(h *cm.Host) {
	denied := pure(func(context.Context, []any) (any, error) { return cm.Err(socketAccessDenied), nil })
	// Without a socket, a socket's methods cannot be called; any other
	// function of these interfaces fails with a clear trap.
	unreachable := func(iface string) cm.HostFunc {
		return pure(func(context.Context, []any) (any, error) {
			return nil, fmt.Errorf("%s: wassette gives components no network sockets (use wasi:http, once granted)", iface)
		})
	}
	h.Interface("wasi:sockets/network", v02).Resource("network", nil).Fallback(unreachable("wasi:sockets/network"))
	h.Interface("wasi:sockets/instance-network", v02).
		Func("instance-network", pure(func(context.Context, []any) (any, error) { return network{}, nil }))
	h.Interface("wasi:sockets/tcp-create-socket", v02).Func("create-tcp-socket", denied)
	h.Interface("wasi:sockets/udp-create-socket", v02).Func("create-udp-socket", denied)
	h.Interface("wasi:sockets/ip-name-lookup", v02).
		Resource("resolve-address-stream", nil).
		Func("resolve-addresses", denied).
		Fallback(unreachable("wasi:sockets/ip-name-lookup"))
	h.Interface("wasi:sockets/tcp", v02).Resource("tcp-socket", nil).Fallback(unreachable("wasi:sockets/tcp"))
	h.Interface("wasi:sockets/udp", v02).
		Resource("udp-socket", nil).
		Resource("incoming-datagram-stream", nil).
		Resource("outgoing-datagram-stream", nil).
		Fallback(unreachable("wasi:sockets/udp"))
}

func nowNanos() int64 { return time.Now().UnixNano() }
