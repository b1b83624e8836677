package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/wassette/wassette/component/cm"
)

// ---- request bodies ----

// bodyPipe carries a request body from the component's writes to the
// transport's reads. Writes never block the component: they are buffered,
// and the body's limit bounds the buffer.
type bodyPipe struct {
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	total    int64 // bytes written
	max      int64
	want     int64 // the declared length, or -1
	finished bool
	err      error // set by abort: reads and writes fail with it
	gone     bool  // the transport closed its end
}

func newBodyPipe(max int64) *bodyPipe {
	p := &bodyPipe{max: max, want: -1}
	p.cond.L = &p.mu
	return p
}

// Read implements io.Reader for the transport.
func (p *bodyPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.finished && p.err == nil && !p.gone {
		p.cond.Wait()
	}
	switch {
	case len(p.buf) > 0:
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		if len(p.buf) == 0 {
			p.buf = nil
		}
		return n, nil
	case p.err != nil:
		return 0, p.err
	case p.gone:
		return 0, io.ErrClosedPipe
	}
	return 0, io.EOF
}

// Close implements io.Closer for the transport.
func (p *bodyPipe) Close() error {
	p.mu.Lock()
	p.gone = true
	p.buf = nil
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// room returns how many bytes may be written now.
func (p *bodyPipe) room() (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return 0, p.err
	case p.gone:
		return 0, io.EOF
	case p.finished:
		return 0, errors.New("the request body is finished")
	}
	limit := p.max
	if p.want >= 0 {
		limit = p.want
	}
	return max(limit-p.total, 0), nil
}

func (p *bodyPipe) write(b []byte, tooLarge func(int64) *httpError) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.err != nil:
		return p.err
	case p.gone:
		return io.EOF
	case p.finished:
		return errors.New("the request body is finished")
	}
	n := p.total + int64(len(b))
	if n > p.max || (p.want >= 0 && n > p.want) {
		if n > p.max {
			p.err = tooLarge(n)
		} else {
			p.err = &httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(n))},
				msg: "the request body is longer than its Content-Length header declares"}
		}
		p.cond.Broadcast()
		return p.err
	}
	p.buf = append(p.buf, b...)
	p.total = n
	p.cond.Broadcast()
	return nil
}

// expect sets the declared length when the request is sent, and returns
// the bytes written so far, whether the body is finished, and whether they
// fit the declared length.
func (p *bodyPipe) expect(want int64) (n int64, done, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want = want
	ok = want < 0 || p.total <= want && (!p.finished || p.total == want)
	return p.total, p.finished, ok
}

// finish ends the body; it fails if the declared length was not written.
func (p *bodyPipe) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.want >= 0 && p.total != p.want {
		p.err = &httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(p.total))},
			msg: "the request body is shorter than its Content-Length header declares"}
		p.cond.Broadcast()
		return p.err
	}
	p.finished = true
	p.cond.Broadcast()
	return nil
}

// abort makes the transport's reads fail with err.
func (p *bodyPipe) abort(err error) {
	p.mu.Lock()
	if p.err == nil && !p.finished {
		p.err = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// outgoingBody is the host value of an outgoing-body.
type outgoingBody struct {
	s           *httpState
	pipe        *bodyPipe
	streamTaken bool
}

func newOutgoingBody(s *httpState, _ *outgoingRequest) *outgoingBody {
	return &outgoingBody{s: s, pipe: newBodyPipe(s.cfg.MaxRequestBytes)}
}

// bodyWriter is the output-stream of an outgoing-body.
type bodyWriter struct{ b *outgoingBody }

// maxWrite bounds what one check-write allows.
const maxWrite = 1 << 20

func (w *bodyWriter) CheckWrite() (uint64, error) {
	n, err := w.b.pipe.room()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		// A full body never drains: say so instead of letting the component
		// wait for room.
		return 0, w.b.tooLarge(w.b.pipe.max + 1)
	}
	return uint64(min(n, maxWrite)), nil
}

func (w *bodyWriter) Write(b []byte) error {
	err := w.b.pipe.write(b, w.b.tooLarge)
	var he *httpError
	if errors.As(err, &he) {
		w.b.s.problem(he.msg)
	}
	return err
}

func (w *bodyWriter) Flush() error {
	_, err := w.b.pipe.room()
	if errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
func (w *bodyWriter) Subscribe() Pollable { return Ready }

func (b *outgoingBody) tooLarge(n int64) *httpError {
	return &httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(n))},
		msg: fmt.Sprintf("the request body is larger than the %s limit", formatSize(b.s.cfg.MaxRequestBytes))}
}

// errBodyNotFinished fails a request whose body the component dropped
// without finishing it.
var errBodyNotFinished = errors.New("the component dropped the request body without finishing it")

func registerHTTPBodies(types *cm.HostInterface) {
	types.
		Resource("outgoing-body", func(_ *cm.Instance, v any) {
			if b, ok := v.(*outgoingBody); ok {
				b.pipe.abort(errBodyNotFinished)
			}
		}).
		Func("[method]outgoing-body.write", pure(func(_ context.Context, args []any) (any, error) {
			b, err := arg[*outgoingBody](args, 0)
			if err != nil {
				return nil, err
			}
			if b.streamTaken {
				return cm.Err(nil), nil
			}
			b.streamTaken = true
			return cm.OK(&bodyWriter{b: b}), nil
		})).
		Func("[static]outgoing-body.finish", pure(func(_ context.Context, args []any) (any, error) {
			b, err := arg[*outgoingBody](args, 0)
			if err != nil {
				return nil, err
			}
			tr, err := arg[cm.Variant](args, 1)
			if err != nil {
				return nil, err
			}
			if tr.Case == 1 {
				if f, ok := tr.Value.(*fields); ok && len(f.list.entries) > 0 {
					e := internalError("wassette does not send request trailers")
					b.pipe.abort(e)
					return cm.Err(e.code), nil
				}
			}
			if err := b.pipe.finish(); err != nil {
				return cm.Err(errorCode(err)), nil
			}
			return cm.OK(nil), nil
		}))

	types.
		Resource("incoming-body", func(_ *cm.Instance, v any) {
			if b, ok := v.(*incomingBody); ok && !b.streamTaken {
				b.r.f.shutdown()
			}
		}).
		Func("[method]incoming-body.stream", pure(func(_ context.Context, args []any) (any, error) {
			b, err := arg[*incomingBody](args, 0)
			if err != nil {
				return nil, err
			}
			if b.streamTaken {
				return cm.Err(nil), nil
			}
			b.streamTaken = true
			return cm.OK(b.stream), nil
		})).
		Func("[static]incoming-body.finish", pure(func(_ context.Context, args []any) (any, error) {
			b, err := arg[*incomingBody](args, 0)
			if err != nil {
				return nil, err
			}
			b.stream.drain()
			return &futureTrailers{st: b.stream}, nil
		}))

	types.
		Resource("future-trailers", func(_ *cm.Instance, v any) {
			if t, ok := v.(*futureTrailers); ok {
				t.st.f.shutdown()
			}
		}).
		Func("[method]future-trailers.subscribe", pure(func(_ context.Context, args []any) (any, error) {
			t, err := arg[*futureTrailers](args, 0)
			if err != nil {
				return nil, err
			}
			return t.st.ended(), nil
		})).
		Func("[method]future-trailers.get", pure(func(_ context.Context, args []any) (any, error) {
			t, err := arg[*futureTrailers](args, 0)
			if err != nil {
				return nil, err
			}
			if !t.st.ended().Ready() {
				return cm.None(), nil
			}
			if t.taken {
				return cm.Some(cm.Err(nil)), nil
			}
			t.taken = true
			t.st.mu.Lock()
			end, trailer := t.st.err, t.st.f.resp.raw.Trailer
			t.st.mu.Unlock()
			if !errors.Is(end, io.EOF) {
				return cm.Some(cm.OK(cm.Err(errorCode(end)))), nil
			}
			if len(trailer) == 0 {
				return cm.Some(cm.OK(cm.OK(cm.None()))), nil
			}
			return cm.Some(cm.OK(cm.OK(cm.Some(fieldsOf(trailer))))), nil
		}))

	// The body writer and the response stream are wasi:io/streams values.
	_ = OutputStream((*bodyWriter)(nil))
	_ = InputStream((*incomingStream)(nil))
}

// ---- response bodies ----

// incomingBody is the host value of an incoming-body.
type incomingBody struct {
	r           *incomingResponse
	stream      *incomingStream
	streamTaken bool
}

func newIncomingBody(r *incomingResponse) *incomingBody {
	st := &incomingStream{f: r.f, body: r.raw.Body, max: r.f.s.cfg.MaxResponseBytes,
		changed: make(chan struct{}), space: make(chan struct{}, 1), stop: make(chan struct{})}
	r.f.s.wg.Add(1)
	go st.read(r.f.betweenBytes)
	return &incomingBody{r: r, stream: st}
}

// futureTrailers is the host value of a future-trailers.
type futureTrailers struct {
	st    *incomingStream
	taken bool
}

// readAhead is how much of a response body the host reads before the
// component takes it.
const readAhead = 256 << 10

// incomingStream is the input-stream of a response body: a goroutine reads
// the body ahead of the component, up to readAhead bytes, so that poll can
// wait on it.
type incomingStream struct {
	f    *futureResponse
	body io.ReadCloser
	max  int64

	mu          sync.Mutex
	buf         []byte
	total       int64
	err         error         // io.EOF at the end, else why the body ended
	interrupted bool          // the call's end or a release stopped it
	changed     chan struct{} // closed and replaced at every change
	discard     bool          // after finish: read to the end, keep nothing
	space       chan struct{} // the component took data
	stop        chan struct{}
	stopped     sync.Once
}

func (s *incomingStream) read(betweenBytes time.Duration) {
	defer s.f.s.wg.Done()
	var timer *time.Timer
	if betweenBytes > 0 {
		timer = time.AfterFunc(betweenBytes, func() { s.f.cancel(errBetweenBytesTimeout) })
		defer timer.Stop()
	}
	chunk := make([]byte, 32<<10)
	for {
		s.mu.Lock()
		for len(s.buf) >= readAhead && !s.discard {
			s.mu.Unlock()
			if timer != nil {
				timer.Stop() // a component that reads slowly is not a stalled server
			}
			select {
			case <-s.space:
			case <-s.stop:
				return
			}
			s.mu.Lock()
		}
		s.mu.Unlock()
		if timer != nil {
			timer.Reset(betweenBytes)
		}
		n, err := s.body.Read(chunk)
		s.mu.Lock()
		s.total += int64(n)
		switch {
		case s.total > s.max:
			e := s.f.bodyTooLarge(0)
			s.err = e
			s.f.s.problem(e.msg)
			s.body.Close()
		case err == io.EOF:
			s.err = io.EOF
		case err != nil:
			cause := context.Cause(s.f.ctx)
			e := classify(err, cause, s.f.origin)
			s.err = e
			s.interrupted = cause != nil && !errors.Is(cause, errBetweenBytesTimeout)
			if !errors.Is(cause, errReleased) {
				s.f.s.problem(e.msg)
			}
		}
		if n > 0 && !s.discard && s.total <= s.max {
			s.buf = append(s.buf, chunk[:n]...)
		}
		done := s.err != nil
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		if done {
			s.f.s.log.Debug("component http response body", "component", s.f.s.cfg.ComponentID, "origin", s.f.origin,
				"bytes", s.total, "complete", errors.Is(s.err, io.EOF))
			return
		}
	}
}

// Read implements InputStream.
func (s *incomingStream) Read(n uint64) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) > 0 {
		n = min(n, uint64(len(s.buf)))
		b := append([]byte(nil), s.buf[:n]...)
		s.buf = s.buf[n:]
		if len(s.buf) == 0 {
			s.buf = nil
		}
		select {
		case s.space <- struct{}{}:
		default:
		}
		return b, nil
	}
	if s.err != nil {
		return nil, s.err
	}
	return nil, nil
}

// Subscribe implements InputStream.
func (s *incomingStream) Subscribe() Pollable { return streamPollable{s: s} }

// Close releases the response when the component drops the stream.
func (s *incomingStream) Close() error {
	s.f.shutdown()
	return nil
}

// drain makes the reader read the rest of the body and keep nothing, so
// that the trailers arrive.
func (s *incomingStream) drain() {
	s.mu.Lock()
	s.discard = true
	s.buf = nil
	s.mu.Unlock()
	select {
	case s.space <- struct{}{}:
	default:
	}
}

func (s *incomingStream) stopReading() { s.stopped.Do(func() { close(s.stop) }) }

// ended returns a pollable ready when the body has ended.
func (s *incomingStream) ended() Pollable { return endPollable{s: s} }

// complete reports whether the whole body arrived, or failed on its own.
func (s *incomingStream) complete() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err != nil && !s.interrupted
}

// streamPollable is ready when the stream has data or has ended.
type streamPollable struct{ s *incomingStream }

func (p streamPollable) Ready() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return len(p.s.buf) > 0 || p.s.err != nil
}

func (p streamPollable) Done() <-chan struct{} {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.changed
}

// endPollable is ready when the body has ended.
type endPollable struct{ s *incomingStream }

func (p endPollable) Ready() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.err != nil
}

func (p endPollable) Done() <-chan struct{} {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.changed
}
