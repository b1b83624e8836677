package wasi

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/wassette/wassette/component/cm"
)

// Pollable is the host value of a wasi:io/poll pollable: an event a
// component can wait for.
type Pollable interface {
	// Ready reports whether the event has happened.
	Ready() bool
	// Done returns a channel that is closed when the event happens; nil for
	// an event that is ready at once.
	Done() <-chan struct{}
}

// InputStream is the host value of a wasi:io/streams input-stream.
type InputStream interface {
	// Read returns at most n bytes that are available now, possibly none;
	// io.EOF once the stream is closed.
	Read(n uint64) ([]byte, error)
	// Subscribe returns a pollable ready when data, or the end, is
	// available.
	Subscribe() Pollable
}

// OutputStream is the host value of a wasi:io/streams output-stream.
type OutputStream interface {
	// CheckWrite returns how many bytes may be written now; io.EOF once the
	// stream is closed.
	CheckWrite() (uint64, error)
	// Write writes b (no more than CheckWrite allowed).
	Write(b []byte) error
	// Flush completes the writes made so far.
	Flush() error
	// Subscribe returns a pollable ready when CheckWrite would allow a
	// write.
	Subscribe() Pollable
}

// ioError is the host value of a wasi:io/error error.
type ioError struct{ err error }

// ready is a pollable that is always ready.
type ready struct{}

func (ready) Ready() bool           { return true }
func (ready) Done() <-chan struct{} { return nil }

// Ready is a Pollable that is always ready.
var Ready Pollable = ready{}

// timerPollable is ready at a deadline.
type timerPollable struct {
	at   time.Time
	done chan struct{}
	t    *time.Timer
}

func newTimer(d time.Duration) *timerPollable {
	p := &timerPollable{at: time.Now().Add(d), done: make(chan struct{})}
	p.t = time.AfterFunc(max(d, 0), func() { close(p.done) })
	return p
}

func (p *timerPollable) Ready() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}
func (p *timerPollable) Done() <-chan struct{} { return p.done }
func (p *timerPollable) Close() error          { p.t.Stop(); return nil }

// streamError converts a Go error to a wasi:io/streams stream-error.
func streamError(err error) cm.Variant {
	if errors.Is(err, io.EOF) {
		return cm.Variant{Case: 1} // closed
	}
	return cm.Variant{Case: 0, Value: &ioError{err: err}} // last-operation-failed
}

// maxRead bounds one read, so a component cannot make the host allocate
// without bound (its memory limit bounds what it keeps).
const maxRead = 1 << 20

// wait blocks until p is ready or ctx ends.
func wait(ctx context.Context, p Pollable) error {
	// Done before Ready: a pollable may replace its channel at every change,
	// and one that changes between the two calls must still wake us.
	ch := p.Done()
	if ch == nil || p.Ready() {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func registerIO(h *cm.Host) {
	h.Interface("wasi:io/error", v02).
		Resource("error", nil).
		Func("[method]error.to-debug-string", pure(func(_ context.Context, args []any) (any, error) {
			e, err := arg[*ioError](args, 0)
			if err != nil {
				return nil, err
			}
			return e.err.Error(), nil
		}))

	h.Interface("wasi:io/poll", v02).
		Resource("pollable", closeValue).
		Func("[method]pollable.ready", pure(func(_ context.Context, args []any) (any, error) {
			p, err := arg[Pollable](args, 0)
			if err != nil {
				return nil, err
			}
			return p.Ready(), nil
		})).
		Func("[method]pollable.block", pure(func(ctx context.Context, args []any) (any, error) {
			p, err := arg[Pollable](args, 0)
			if err != nil {
				return nil, err
			}
			return nil, wait(ctx, p)
		})).
		Func("poll", pure(func(ctx context.Context, args []any) (any, error) {
			list, err := arg[[]any](args, 0)
			if err != nil {
				return nil, err
			}
			if len(list) == 0 {
				return nil, errors.New("wasi:io/poll#poll: called with no pollables")
			}
			ps := make([]Pollable, len(list))
			for i, v := range list {
				p, ok := v.(Pollable)
				if !ok {
					return nil, errors.New("wasi:io/poll#poll: not a pollable")
				}
				ps[i] = p
			}
			return poll(ctx, ps)
		}))

	h.Interface("wasi:io/streams", v02).
		Resource("input-stream", closeValue).
		Resource("output-stream", closeValue).
		Func("[method]input-stream.read", pure(func(ctx context.Context, args []any) (any, error) {
			return readStream(ctx, args, false, false)
		})).
		Func("[method]input-stream.blocking-read", pure(func(ctx context.Context, args []any) (any, error) {
			return readStream(ctx, args, true, false)
		})).
		Func("[method]input-stream.skip", pure(func(ctx context.Context, args []any) (any, error) {
			return readStream(ctx, args, false, true)
		})).
		Func("[method]input-stream.blocking-skip", pure(func(ctx context.Context, args []any) (any, error) {
			return readStream(ctx, args, true, true)
		})).
		Func("[method]input-stream.subscribe", pure(func(_ context.Context, args []any) (any, error) {
			s, err := arg[InputStream](args, 0)
			if err != nil {
				return nil, err
			}
			return s.Subscribe(), nil
		})).
		Func("[method]output-stream.check-write", pure(func(_ context.Context, args []any) (any, error) {
			s, err := arg[OutputStream](args, 0)
			if err != nil {
				return nil, err
			}
			n, err := s.CheckWrite()
			if err != nil {
				return cm.Err(streamError(err)), nil
			}
			return cm.OK(n), nil
		})).
		Func("[method]output-stream.write", pure(func(_ context.Context, args []any) (any, error) {
			return writeStream(context.Background(), args, false)
		})).
		Func("[method]output-stream.blocking-write-and-flush", pure(func(ctx context.Context, args []any) (any, error) {
			return writeStream(ctx, args, true)
		})).
		Func("[method]output-stream.flush", pure(func(_ context.Context, args []any) (any, error) {
			return flushStream(context.Background(), args)
		})).
		Func("[method]output-stream.blocking-flush", pure(func(ctx context.Context, args []any) (any, error) {
			return flushStream(ctx, args)
		})).
		Func("[method]output-stream.subscribe", pure(func(_ context.Context, args []any) (any, error) {
			s, err := arg[OutputStream](args, 0)
			if err != nil {
				return nil, err
			}
			return s.Subscribe(), nil
		})).
		Func("[method]output-stream.write-zeroes", pure(func(_ context.Context, args []any) (any, error) {
			return writeZeroes(context.Background(), args, false)
		})).
		Func("[method]output-stream.blocking-write-zeroes-and-flush", pure(func(ctx context.Context, args []any) (any, error) {
			return writeZeroes(ctx, args, true)
		})).
		Func("[method]output-stream.splice", pure(func(ctx context.Context, args []any) (any, error) {
			return splice(ctx, args, false)
		})).
		Func("[method]output-stream.blocking-splice", pure(func(ctx context.Context, args []any) (any, error) {
			return splice(ctx, args, true)
		}))
}

// poll waits until at least one pollable is ready and returns the indexes
// of the ready ones.
func poll(ctx context.Context, ps []Pollable) (any, error) {
	for {
		// Done before Ready, as in wait.
		chs := make([]<-chan struct{}, len(ps))
		for i, p := range ps {
			chs[i] = p.Done()
		}
		var out []any
		for i, p := range ps {
			if p.Ready() {
				out = append(out, uint32(i))
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		woke := make(chan struct{}, 1)
		stop := make(chan struct{})
		for _, ch := range chs {
			if ch == nil {
				continue
			}
			go func() {
				select {
				case <-ch:
					select {
					case woke <- struct{}{}:
					default:
					}
				case <-stop:
				}
			}()
		}
		select {
		case <-woke:
			close(stop)
		case <-ctx.Done():
			close(stop)
			return nil, context.Cause(ctx)
		}
	}
}

func readStream(ctx context.Context, args []any, blocking, skip bool) (any, error) {
	s, err := arg[InputStream](args, 0)
	if err != nil {
		return nil, err
	}
	n, err := arg[uint64](args, 1)
	if err != nil {
		return nil, err
	}
	n = min(n, maxRead)
	for {
		b, err := s.Read(n)
		if err != nil {
			return cm.Err(streamError(err)), nil
		}
		if len(b) > 0 || !blocking || n == 0 {
			if skip {
				return cm.OK(uint64(len(b))), nil
			}
			return cm.OK(b), nil
		}
		if err := wait(ctx, s.Subscribe()); err != nil {
			return nil, err
		}
	}
}

func writeStream(ctx context.Context, args []any, flush bool) (any, error) {
	s, err := arg[OutputStream](args, 0)
	if err != nil {
		return nil, err
	}
	b, err := arg[[]byte](args, 1)
	if err != nil {
		return nil, err
	}
	if flush {
		if err := wait(ctx, s.Subscribe()); err != nil {
			return nil, err
		}
	}
	if err := s.Write(b); err != nil {
		return cm.Err(streamError(err)), nil
	}
	if flush {
		if err := s.Flush(); err != nil {
			return cm.Err(streamError(err)), nil
		}
	}
	return cm.OK(nil), nil
}

func flushStream(ctx context.Context, args []any) (any, error) {
	s, err := arg[OutputStream](args, 0)
	if err != nil {
		return nil, err
	}
	if err := s.Flush(); err != nil {
		return cm.Err(streamError(err)), nil
	}
	return cm.OK(nil), nil
}

func writeZeroes(ctx context.Context, args []any, flush bool) (any, error) {
	n, err := arg[uint64](args, 1)
	if err != nil {
		return nil, err
	}
	if n > maxRead {
		return nil, errors.New("wasi:io/streams: write-zeroes of more than 1 MiB at once")
	}
	return writeStream(ctx, []any{args[0], make([]byte, n)}, flush)
}

func splice(ctx context.Context, args []any, blocking bool) (any, error) {
	dst, err := arg[OutputStream](args, 0)
	if err != nil {
		return nil, err
	}
	res, err := readStream(ctx, []any{args[1], args[2]}, blocking, false)
	if err != nil {
		return nil, err
	}
	r := res.(cm.Variant)
	if r.Case != 0 {
		return r, nil
	}
	b := r.Value.([]byte)
	if err := dst.Write(b); err != nil {
		return cm.Err(streamError(err)), nil
	}
	return cm.OK(uint64(len(b))), nil
}

// readerStream is an input stream over bytes (standard input).
type readerStream struct {
	data []byte
}

func (r *readerStream) Read(n uint64) ([]byte, error) {
	if len(r.data) == 0 {
		return nil, io.EOF
	}
	n = min(n, uint64(len(r.data)))
	b := r.data[:n]
	r.data = r.data[n:]
	return append([]byte(nil), b...), nil
}

func (r *readerStream) Subscribe() Pollable { return Ready }

// writerStream is an output stream onto an io.Writer (standard output and
// error).
type writerStream struct {
	w   io.Writer
	err error
}

// writeBudget is what CheckWrite allows at once.
const writeBudget = 1 << 20

func (w *writerStream) CheckWrite() (uint64, error) {
	if w.err != nil {
		return 0, w.err
	}
	return writeBudget, nil
}

func (w *writerStream) Write(b []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.w == nil {
		return nil
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = err
		return err
	}
	return nil
}

func (w *writerStream) Flush() error        { return w.err }
func (w *writerStream) Subscribe() Pollable { return Ready }
