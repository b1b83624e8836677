package wasi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wassette/wassette/component/cm"
	"github.com/wassette/wassette/internal/netpolicy"
)

// HTTP is what an instance may do through wasi:http/outgoing-handler.
type HTTP struct {
	// Policy decides which hosts the instance may reach, and checks the
	// address of every connection; nil allows none. The caller closes it.
	Policy *netpolicy.Policy
	// ComponentID names the component in refusals when Policy is nil, and in
	// logs.
	ComponentID string
	// MaxResponseBytes bounds each response body; a body past it ends with
	// HTTP-response-body-size. 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// MaxRequestBytes bounds each request body; a write past it fails, and
	// the request with it. 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxRequests bounds the requests of one instance; past it,
	// outgoing-handler.handle answers connection-limit-reached. 0 means
	// DefaultMaxRequests.
	MaxRequests int
	// Logger receives one debug line per request (method, host, status,
	// bytes, duration) and refusals; never a path, a query or a header value.
	// Nil discards.
	Logger *slog.Logger
}

// Defaults of HTTP's limits.
const (
	DefaultMaxResponseBytes = 4 << 20
	DefaultMaxRequestBytes  = 4 << 20
	DefaultMaxRequests      = 64
)

// errImportType guards against a component whose import types differ from
// WASI's.
var errImportType = errors.New("wasi:http: a value does not have the type WASI gives it: the component's import type differs from WASI's")

// httpState is the wasi:http state of one instance.
type httpState struct {
	cfg HTTP
	log *slog.Logger

	mu       sync.Mutex
	requests int
	live     map[*futureResponse]struct{}
	problems []string
	cut      []string // origins of requests ended before they completed
	closed   bool
	wg       sync.WaitGroup
}

func newHTTPState(cfg HTTP) *httpState {
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	s := &httpState{cfg: cfg, log: cfg.Logger, live: map[*futureResponse]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// maxProblems bounds what an instance's HTTPProblems keeps.
const maxProblems = 8

// problem records what went wrong with a request, for the call's error
// message; msg never holds a path, a query or a header value.
func (s *httpState) problem(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.problems {
		if p == msg {
			return
		}
	}
	if len(s.problems) < maxProblems {
		s.problems = append(s.problems, msg)
	}
}

// close cancels every request still running and waits for their
// goroutines.
func (s *httpState) close() {
	s.mu.Lock()
	s.closed = true
	live := make([]*futureResponse, 0, len(s.live))
	for f := range s.live {
		live = append(live, f)
	}
	s.mu.Unlock()
	for _, f := range live {
		f.shutdown()
	}
	s.wg.Wait()
}

// HTTPProblems returns what went wrong with the instance's HTTP requests,
// one sentence each (a refused host and the command that grants it, a body
// past its limit, a timeout), so that a call's error can say why a request
// failed whatever the component made of it. They name hosts, never a path,
// a query or a header value.
func (c *Ctx) HTTPProblems() []string {
	c.http.mu.Lock()
	defer c.http.mu.Unlock()
	return append([]string(nil), c.http.problems...)
}

// HTTPPending returns the origins (scheme://host:port) of the requests that
// Close or a dropped handle ended before their response, or its body, was
// complete: after a call stopped by its time limit, what it was waiting for.
func (c *Ctx) HTTPPending() []string {
	c.http.mu.Lock()
	defer c.http.mu.Unlock()
	return append([]string(nil), c.http.cut...)
}

// Close ends what the instance left running: HTTP requests and the
// goroutines reading their bodies. Call it after closing the instance.
func (c *Ctx) Close() { c.http.close() }

// ---- error codes ----

// Cases of wasi:http/types error-code that the host returns.
const (
	ecDNSTimeout               = 0
	ecDNSError                 = 1
	ecDestinationNotFound      = 2
	ecDestinationIPProhibited  = 4
	ecConnectionRefused        = 6
	ecConnectionTerminated     = 7
	ecConnectionTimeout        = 8
	ecConnectionReadTimeout    = 9
	ecConnectionLimitReached   = 11
	ecTLSProtocolError         = 12
	ecTLSCertificateError      = 13
	ecTLSAlertReceived         = 14
	ecHTTPRequestDenied        = 15
	ecHTTPRequestBodySize      = 17
	ecHTTPRequestMethodInvalid = 18
	ecHTTPRequestURIInvalid    = 19
	ecHTTPResponseIncomplete   = 25
	ecHTTPResponseBodySize     = 28
	ecHTTPResponseTimeout      = 33
	ecHTTPProtocolError        = 35
	ecLoopDetected             = 36
	ecInternalError            = 38
)

// httpError is an error-code with the host's own description, which the
// component sees through wasi:io/error's to-debug-string and
// http-error-code.
type httpError struct {
	code cm.Variant
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func newHTTPError(c uint32, msg string) *httpError {
	return &httpError{code: cm.Variant{Case: c}, msg: msg}
}

func internalError(msg string) *httpError {
	return &httpError{code: cm.Variant{Case: ecInternalError, Value: cm.Some(msg)}, msg: msg}
}

// errorCode returns the error-code of err, as the payload of a result.
func errorCode(err error) cm.Variant {
	var he *httpError
	if errors.As(err, &he) {
		return he.code
	}
	return internalError(err.Error()).code
}

// Causes of a request's cancellation, told apart when mapping the error.
var (
	errFirstByteTimeout    = errors.New("no response within the first-byte timeout")
	errBetweenBytesTimeout = errors.New("the response body stalled longer than the between-bytes timeout")
	errReleased            = errors.New("the request was released")
)

// classify maps an error of a request to an error-code and a message that
// names origin (scheme://host:port) and never a URL's path or query.
func classify(err error, cause error, origin string) *httpError {
	var denied *netpolicy.DeniedError
	var dnsErr *net.DNSError
	var alert tls.AlertError
	var recordErr tls.RecordHeaderError
	var unknownCA x509.UnknownAuthorityError
	var invalidCert x509.CertificateInvalidError
	var hostnameErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.As(err, &denied):
		c := uint32(ecHTTPRequestDenied)
		if denied.Kind != "" {
			c = ecDestinationIPProhibited
		}
		return newHTTPError(c, denied.Error())
	case errors.Is(cause, errFirstByteTimeout):
		return newHTTPError(ecHTTPResponseTimeout, fmt.Sprintf("%s sent no response within the request's first-byte timeout", origin))
	case errors.Is(cause, errBetweenBytesTimeout):
		return newHTTPError(ecConnectionReadTimeout, fmt.Sprintf("the response from %s stalled longer than the request's between-bytes timeout", origin))
	case cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, errReleased):
		return newHTTPError(ecHTTPResponseTimeout, fmt.Sprintf("the request to %s was stopped: %v", origin, cause))
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsTimeout:
			return newHTTPError(ecDNSTimeout, fmt.Sprintf("looking up %s timed out", dnsErr.Name))
		case dnsErr.IsNotFound:
			return newHTTPError(ecDestinationNotFound, fmt.Sprintf("the host %s was not found", dnsErr.Name))
		}
		return &httpError{code: cm.Variant{Case: ecDNSError, Value: []any{cm.None(), cm.None()}},
			msg: fmt.Sprintf("looking up %s failed: %v", dnsErr.Name, dnsErr.Err)}
	case errors.Is(err, syscall.ECONNREFUSED):
		return newHTTPError(ecConnectionRefused, fmt.Sprintf("%s refused the connection", origin))
	case errors.As(err, &alert):
		return &httpError{code: cm.Variant{Case: ecTLSAlertReceived, Value: []any{cm.Some(uint8(alert)), cm.Some(alert.Error())}},
			msg: fmt.Sprintf("TLS with %s failed: %v", origin, alert)}
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &invalidCert), errors.As(err, &hostnameErr):
		return newHTTPError(ecTLSCertificateError, fmt.Sprintf("the TLS certificate of %s is not valid: %v", origin, err))
	case errors.As(err, &recordErr):
		return newHTTPError(ecTLSProtocolError, fmt.Sprintf("TLS with %s failed: the server did not answer in TLS", origin))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return newHTTPError(ecHTTPResponseIncomplete, fmt.Sprintf("%s closed the connection before the response was complete", origin))
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return newHTTPError(ecConnectionTimeout, fmt.Sprintf("connecting to %s timed out", origin))
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return newHTTPError(ecConnectionTerminated, fmt.Sprintf("%s reset the connection", origin))
	}
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	return internalError(fmt.Sprintf("the request to %s failed: %v", origin, stripURL(err)))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// stripURL drops the URL (whose query may hold a key) from a *url.Error.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// ---- requests ----

// outgoingRequest is the host value of an outgoing-request.
type outgoingRequest struct {
	method    string
	scheme    *string
	authority *string
	pathQuery *string
	headers   *fields
	body      *outgoingBody
}

// requestOptions is the host value of a request-options; nil fields are
// unset.
type requestOptions struct {
	connect, firstByte, betweenBytes *uint64
}

// Cases of wasi:http/types method.
var methods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func methodValue(m string) cm.Variant {
	for i, s := range methods {
		if s == m {
			return cm.Variant{Case: uint32(i)}
		}
	}
	return cm.Variant{Case: uint32(len(methods)), Value: m}
}

func methodOf(v cm.Variant) (string, bool) {
	if int(v.Case) < len(methods) {
		return methods[v.Case], true
	}
	s, ok := v.Value.(string)
	return s, ok && validName(s)
}

func schemeValue(s string) cm.Variant {
	switch s {
	case "http":
		return cm.Variant{Case: 0}
	case "https":
		return cm.Variant{Case: 1}
	}
	return cm.Variant{Case: 2, Value: s}
}

func schemeOf(v cm.Variant) string {
	switch v.Case {
	case 0:
		return "http"
	case 1:
		return "https"
	}
	s, _ := v.Value.(string)
	return strings.ToLower(s)
}

func optString(p *string) cm.Variant {
	if p == nil {
		return cm.None()
	}
	return cm.Some(*p)
}

// setOptString sets *dst from an option<string> argument.
func setOptString(args []any, dst **string, valid func(string) bool) (any, error) {
	v, err := arg[cm.Variant](args, 1)
	if err != nil {
		return nil, err
	}
	if v.Case == 0 {
		*dst = nil
		return cm.OK(nil), nil
	}
	s, ok := v.Value.(string)
	if !ok {
		return nil, errImportType
	}
	if !valid(s) {
		return cm.Err(nil), nil
	}
	*dst = &s
	return cm.OK(nil), nil
}

func validPathQuery(s string) bool {
	if s != "" && s[0] != '/' && s[0] != '?' && s != "*" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f || s[i] == '#' {
			return false
		}
	}
	return true
}

func validAuthority(s string) bool {
	if s == "" || strings.ContainsAny(s, "/?#@ \t\r\n\\") {
		return false
	}
	_, err := url.Parse("http://" + s + "/")
	return err == nil
}

func registerHTTP(h *cm.Host) {
	types := h.Interface("wasi:http/types", v02)
	registerHTTPFields(types)
	types.
		Resource("outgoing-request", nil).
		Func("[constructor]outgoing-request", pure(func(_ context.Context, args []any) (any, error) {
			hdrs, err := arg[*fields](args, 0)
			if err != nil {
				return nil, err
			}
			// The fields now belong to the request: take them whole.
			return &outgoingRequest{method: "GET", headers: &fields{list: hdrs.list, immutable: true}}, nil
		})).
		Func("[method]outgoing-request.body", fn(func(_ context.Context, c *Ctx, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			if r.body != nil {
				return cm.Err(nil), nil
			}
			r.body = newOutgoingBody(c.http, r)
			return cm.OK(r.body), nil
		})).
		Func("[method]outgoing-request.method", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return methodValue(r.method), nil
		})).
		Func("[method]outgoing-request.set-method", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			v, err := arg[cm.Variant](args, 1)
			if err != nil {
				return nil, err
			}
			m, ok := methodOf(v)
			if !ok {
				return cm.Err(nil), nil
			}
			r.method = m
			return cm.OK(nil), nil
		})).
		Func("[method]outgoing-request.path-with-query", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return optString(r.pathQuery), nil
		})).
		Func("[method]outgoing-request.set-path-with-query", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return setOptString(args, &r.pathQuery, validPathQuery)
		})).
		Func("[method]outgoing-request.scheme", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			if r.scheme == nil {
				return cm.None(), nil
			}
			return cm.Some(schemeValue(*r.scheme)), nil
		})).
		Func("[method]outgoing-request.set-scheme", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			v, err := arg[cm.Variant](args, 1)
			if err != nil {
				return nil, err
			}
			if v.Case == 0 {
				r.scheme = nil
				return cm.OK(nil), nil
			}
			sv, ok := v.Value.(cm.Variant)
			if !ok {
				return nil, errImportType
			}
			s := schemeOf(sv)
			if s == "" || !validName(s) {
				return cm.Err(nil), nil
			}
			r.scheme = &s
			return cm.OK(nil), nil
		})).
		Func("[method]outgoing-request.authority", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return optString(r.authority), nil
		})).
		Func("[method]outgoing-request.set-authority", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return setOptString(args, &r.authority, validAuthority)
		})).
		Func("[method]outgoing-request.headers", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			return &fields{list: r.headers.list, immutable: true}, nil
		}))

	types.
		Resource("request-options", nil).
		Func("[constructor]request-options", pure(func(context.Context, []any) (any, error) { return &requestOptions{}, nil }))
	for _, o := range []struct {
		name string
		get  func(*requestOptions) **uint64
	}{
		{"connect-timeout", func(o *requestOptions) **uint64 { return &o.connect }},
		{"first-byte-timeout", func(o *requestOptions) **uint64 { return &o.firstByte }},
		{"between-bytes-timeout", func(o *requestOptions) **uint64 { return &o.betweenBytes }},
	} {
		types.Func("[method]request-options."+o.name, pure(func(_ context.Context, args []any) (any, error) {
			ro, err := arg[*requestOptions](args, 0)
			if err != nil {
				return nil, err
			}
			if p := *o.get(ro); p != nil {
				return cm.Some(*p), nil
			}
			return cm.None(), nil
		}))
		types.Func("[method]request-options.set-"+o.name, pure(func(_ context.Context, args []any) (any, error) {
			ro, err := arg[*requestOptions](args, 0)
			if err != nil {
				return nil, err
			}
			v, err := arg[cm.Variant](args, 1)
			if err != nil {
				return nil, err
			}
			if v.Case == 0 {
				*o.get(ro) = nil
				return cm.OK(nil), nil
			}
			d, ok := v.Value.(uint64)
			if !ok {
				return nil, errImportType
			}
			*o.get(ro) = &d
			return cm.OK(nil), nil
		}))
	}

	registerHTTPResponses(types)
	registerHTTPBodies(types)
	registerHTTPServerSide(types)

	types.Func("http-error-code", pure(func(_ context.Context, args []any) (any, error) {
		e, err := arg[*ioError](args, 0)
		if err != nil {
			return nil, err
		}
		var he *httpError
		if errors.As(e.err, &he) {
			return cm.Some(he.code), nil
		}
		return cm.None(), nil
	}))

	h.Interface("wasi:http/outgoing-handler", v02).
		Func("handle", fn(func(ctx context.Context, c *Ctx, args []any) (any, error) {
			r, err := arg[*outgoingRequest](args, 0)
			if err != nil {
				return nil, err
			}
			o, err := arg[cm.Variant](args, 1)
			if err != nil {
				return nil, err
			}
			var opts *requestOptions
			if o.Case == 1 {
				if opts, _ = o.Value.(*requestOptions); opts == nil {
					return nil, errImportType
				}
			}
			f, herr := c.http.send(ctx, r, opts)
			if herr != nil {
				return cm.Err(herr.code), nil
			}
			return cm.OK(f), nil
		}))
}

// registerHTTPServerSide implements the functions of the incoming side
// (incoming-handler's requests, outgoing responses, response-outparam),
// which componentize-js imports in every component. wassette never calls a
// component's incoming-handler, so no incoming-request or response-outparam
// exists; an outgoing-response can be built, but not sent.
func registerHTTPServerSide(types *cm.HostInterface) {
	never := pure(func(context.Context, []any) (any, error) {
		return nil, errors.New("wasi:http: wassette does not serve HTTP requests to components (there is no incoming request)")
	})
	types.Resource("incoming-request", nil).
		Func("[method]incoming-request.method", never).
		Func("[method]incoming-request.path-with-query", never).
		Func("[method]incoming-request.scheme", never).
		Func("[method]incoming-request.authority", never).
		Func("[method]incoming-request.headers", never).
		Func("[method]incoming-request.consume", never)
	types.Resource("response-outparam", nil).
		Func("[static]response-outparam.set", never).
		Func("[method]response-outparam.send-informational", never)

	type outgoingResponse struct {
		status    uint16
		headers   *fields
		bodyTaken bool
	}
	types.Resource("outgoing-response", nil).
		Func("[constructor]outgoing-response", pure(func(_ context.Context, args []any) (any, error) {
			hdrs, err := arg[*fields](args, 0)
			if err != nil {
				return nil, err
			}
			return &outgoingResponse{status: 200, headers: &fields{list: hdrs.list, immutable: true}}, nil
		})).
		Func("[method]outgoing-response.status-code", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			return r.status, nil
		})).
		Func("[method]outgoing-response.set-status-code", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			s, err := arg[uint16](args, 1)
			if err != nil {
				return nil, err
			}
			if s < 100 || s > 999 {
				return cm.Err(nil), nil
			}
			r.status = s
			return cm.OK(nil), nil
		})).
		Func("[method]outgoing-response.headers", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*outgoingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			return &fields{list: r.headers.list, immutable: true}, nil
		})).
		Func("[method]outgoing-response.body", fn(func(_ context.Context, c *Ctx, args []any) (any, error) {
			r, err := arg[*outgoingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			if r.bodyTaken {
				return cm.Err(nil), nil
			}
			r.bodyTaken = true
			return cm.OK(newOutgoingBody(c.http, nil)), nil
		}))
}

// send starts r as configured by opts. It refuses, before any connection,
// a request the policy does not allow and one past the instance's request
// limit.
func (s *httpState) send(ctx context.Context, r *outgoingRequest, opts *requestOptions) (*futureResponse, *httpError) {
	scheme := "https"
	if r.scheme != nil {
		scheme = *r.scheme
	}
	if scheme != "http" && scheme != "https" {
		return nil, s.refuse(newHTTPError(ecHTTPProtocolError, fmt.Sprintf("the URL scheme %q is not supported: only http and https are", scheme)))
	}
	if r.authority == nil || *r.authority == "" {
		return nil, s.refuse(newHTTPError(ecHTTPRequestURIInvalid, "the request has no authority (host)"))
	}
	pq := "/"
	if r.pathQuery != nil && *r.pathQuery != "" {
		pq = *r.pathQuery
		if pq[0] == '?' {
			pq = "/" + pq
		}
	}
	u, err := url.Parse(scheme + "://" + *r.authority + pq)
	if err != nil || u.Host == "" {
		return nil, s.refuse(newHTTPError(ecHTTPRequestURIInvalid, fmt.Sprintf("the request's URL (to %s) is not valid", *r.authority)))
	}
	origin := u.Scheme + "://" + u.Host
	if s.cfg.Policy == nil {
		return nil, s.refuse(newHTTPError(ecHTTPRequestDenied, (&netpolicy.DeniedError{ComponentID: s.cfg.ComponentID, Host: u.Hostname(), Port: u.Port(), Grant: u.Host}).Error()))
	}
	if err := s.cfg.Policy.Check(u); err != nil {
		return nil, s.refuse(classify(err, nil, origin))
	}

	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, internalError("the instance is closing")
	case s.requests >= s.cfg.MaxRequests:
		s.mu.Unlock()
		return nil, s.refuse(newHTTPError(ecConnectionLimitReached,
			fmt.Sprintf("the component made more than %d HTTP requests in one call, the limit", s.cfg.MaxRequests)))
	}
	s.requests++
	s.mu.Unlock()

	hdr := r.headers.header()
	want := int64(-1) // the length the component declared
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 || strings.Trim(cl, "0123456789") != "" {
			return nil, s.refuse(newHTTPError(ecHTTPProtocolError, fmt.Sprintf("the request to %s has a Content-Length header that is not a number", origin)))
		}
		if n > s.cfg.MaxRequestBytes {
			return nil, s.refuse(s.requestTooLarge(origin, n))
		}
		want = n
		hdr.Del("Content-Length")
	}
	var pipe *bodyPipe
	length := int64(0)
	if r.body != nil {
		pipe = r.body.pipe
		n, done, ok := pipe.expect(want)
		switch {
		case !ok:
			return nil, s.refuse(&httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(n))},
				msg: fmt.Sprintf("the request body to %s does not have the length its Content-Length header declares", origin)})
		case done:
			length = n
		case want >= 0:
			length = want
		default:
			length = -1 // chunked
		}
	} else if want > 0 {
		return nil, s.refuse(&httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(0))},
			msg: fmt.Sprintf("the request to %s declares a Content-Length but has no body", origin)})
	}

	rctx, cancel := context.WithCancelCause(ctx)
	if opts != nil && opts.connect != nil {
		rctx = netpolicy.WithConnectTimeout(rctx, time.Duration(min(*opts.connect, 1<<62)))
	}
	req, err := http.NewRequestWithContext(rctx, r.method, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, s.refuse(newHTTPError(ecHTTPRequestMethodInvalid, fmt.Sprintf("the request to %s is not valid", origin)))
	}
	req.Header = hdr
	if pipe != nil && length != 0 {
		req.Body, req.ContentLength = pipe, length
	}

	f := &futureResponse{s: s, ctx: rctx, done: make(chan struct{}), cancel: cancel, origin: origin, method: r.method, reqBody: pipe}
	if opts != nil && opts.betweenBytes != nil {
		f.betweenBytes = time.Duration(min(*opts.betweenBytes, 1<<62))
	}
	s.mu.Lock()
	s.live[f] = struct{}{}
	s.mu.Unlock()
	var firstByte time.Duration
	if opts != nil && opts.firstByte != nil {
		firstByte = time.Duration(min(*opts.firstByte, 1<<62))
	}
	s.wg.Add(1)
	go f.run(req, firstByte)
	return f, nil
}

func (s *httpState) requestTooLarge(origin string, n int64) *httpError {
	return &httpError{code: cm.Variant{Case: ecHTTPRequestBodySize, Value: cm.Some(uint64(n))},
		msg: fmt.Sprintf("the request body to %s is larger than the %s limit", origin, formatSize(s.cfg.MaxRequestBytes))}
}

// refuse records a request refused before it was sent, and returns e.
func (s *httpState) refuse(e *httpError) *httpError {
	s.problem(e.msg)
	s.log.Info("component http request refused", "component", s.cfg.ComponentID, "reason", e.msg)
	return e
}

// ---- responses ----

// futureResponse is the host value of a future-incoming-response, and the
// owner of everything its request holds: its context, its request body, the
// response and the goroutines reading it. shutdown releases all of it; each
// resource of the chain calls it when it is dropped while it is the chain's
// owner (a future whose response was not taken, a response whose body was
// not consumed, a body whose stream was not taken, the stream), and so does
// Ctx.Close for everything.
type futureResponse struct {
	s            *httpState
	ctx          context.Context // the request's
	done         chan struct{}
	cancel       context.CancelCauseFunc
	origin       string
	method       string
	betweenBytes time.Duration
	reqBody      *bodyPipe // nil without body

	// set before done is closed
	resp *incomingResponse
	err  *httpError

	taken       bool // get returned the outcome
	interrupted bool // the call's end or a release stopped the request
	down        sync.Once
}

// maxRedirects bounds the redirects a request follows.
const maxRedirects = 10

func (f *futureResponse) run(req *http.Request, firstByte time.Duration) {
	defer f.s.wg.Done()
	start := time.Now()
	if firstByte > 0 {
		t := time.AfterFunc(firstByte, func() { f.cancel(errFirstByteTimeout) })
		defer t.Stop()
	}
	// Redirects are followed, as fetch() does and as the preview1 host does;
	// the policy checks each one, and net/http drops the Authorization and
	// Cookie headers on a redirect to another host.
	redirected := false
	client := &http.Client{
		Transport: f.s.cfg.Policy,
		CheckRedirect: func(_ *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return newHTTPError(ecLoopDetected, fmt.Sprintf("the request to %s was redirected more than %d times", f.origin, maxRedirects))
			}
			redirected = true
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		cause := context.Cause(req.Context())
		f.err = classify(err, cause, f.origin)
		if c := f.err.code.Case; redirected && (c == ecHTTPRequestDenied || c == ecDestinationIPProhibited) {
			f.err = &httpError{code: f.err.code, msg: "a redirect was refused: " + f.err.msg}
		}
		f.interrupted = cause != nil && !errors.Is(cause, errFirstByteTimeout)
		if !errors.Is(cause, errReleased) {
			f.s.problem(f.err.msg)
		}
		f.s.log.Debug("component http request failed", "component", f.s.cfg.ComponentID, "method", f.method, "origin", f.origin,
			"error_code", f.err.code.Case, "duration", time.Since(start))
		close(f.done)
		return
	}
	f.s.log.Debug("component http request", "component", f.s.cfg.ComponentID, "method", f.method, "origin", f.origin,
		"status", resp.StatusCode, "content_length", resp.ContentLength, "redirected", redirected, "duration", time.Since(start))
	if resp.ContentLength > f.s.cfg.MaxResponseBytes {
		// Refuse at once: the body would end past the limit anyway.
		resp.Body.Close()
		f.err = f.bodyTooLarge(resp.ContentLength)
		f.s.problem(f.err.msg)
	} else {
		f.resp = &incomingResponse{f: f, status: uint16(resp.StatusCode), headers: fieldsOf(resp.Header), raw: resp}
	}
	close(f.done)
}

func (f *futureResponse) bodyTooLarge(n int64) *httpError {
	size := cm.None()
	what := ""
	if n > 0 {
		size = cm.Some(uint64(n))
		what = fmt.Sprintf(" (%s)", formatSize(n))
	}
	return &httpError{code: cm.Variant{Case: ecHTTPResponseBodySize, Value: size},
		msg: fmt.Sprintf("the response body from %s%s is larger than the %s limit", f.origin, what, formatSize(f.s.cfg.MaxResponseBytes))}
}

func (f *futureResponse) Ready() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *futureResponse) Done() <-chan struct{} { return f.done }

// shutdown ends the request and releases what it holds. It is idempotent.
func (f *futureResponse) shutdown() {
	f.down.Do(func() {
		if !f.complete() {
			f.s.mu.Lock()
			if !slices.Contains(f.s.cut, f.origin) && len(f.s.cut) < maxProblems {
				f.s.cut = append(f.s.cut, f.origin)
			}
			f.s.mu.Unlock()
		}
		f.cancel(errReleased)
		if f.reqBody != nil {
			f.reqBody.abort(errReleased)
		}
		<-f.done
		if r := f.resp; r != nil {
			r.raw.Body.Close()
			if b := r.body; b != nil {
				b.stream.stopReading()
			}
		}
	})
}

// complete reports whether the request's outcome, and all of its response
// body, have arrived.
func (f *futureResponse) complete() bool {
	if !f.Ready() || f.interrupted {
		return false
	}
	if f.resp == nil || f.resp.body == nil {
		return true // failed, or the component did not want the body
	}
	return f.resp.body.stream.complete()
}

// chanPollable is a pollable on a channel; dropping it releases nothing.
type chanPollable struct{ ch <-chan struct{} }

func (p chanPollable) Ready() bool {
	select {
	case <-p.ch:
		return true
	default:
		return false
	}
}
func (p chanPollable) Done() <-chan struct{} { return p.ch }

// incomingResponse is the host value of an incoming-response.
type incomingResponse struct {
	f       *futureResponse
	status  uint16
	headers *fields
	raw     *http.Response
	body    *incomingBody // set by consume
}

func registerHTTPResponses(types *cm.HostInterface) {
	types.
		Resource("future-incoming-response", func(_ *cm.Instance, v any) {
			if f, ok := v.(*futureResponse); ok && (!f.taken || f.resp == nil) {
				f.shutdown()
			}
		}).
		Func("[method]future-incoming-response.subscribe", pure(func(_ context.Context, args []any) (any, error) {
			f, err := arg[*futureResponse](args, 0)
			if err != nil {
				return nil, err
			}
			return chanPollable{f.done}, nil
		})).
		Func("[method]future-incoming-response.get", pure(func(_ context.Context, args []any) (any, error) {
			f, err := arg[*futureResponse](args, 0)
			if err != nil {
				return nil, err
			}
			if !f.Ready() {
				return cm.None(), nil
			}
			if f.taken {
				return cm.Some(cm.Err(nil)), nil
			}
			f.taken = true
			if f.err != nil {
				return cm.Some(cm.OK(cm.Err(f.err.code))), nil
			}
			return cm.Some(cm.OK(cm.OK(f.resp))), nil
		}))

	types.
		Resource("incoming-response", func(_ *cm.Instance, v any) {
			if r, ok := v.(*incomingResponse); ok && r.body == nil {
				r.f.shutdown()
			}
		}).
		Func("[method]incoming-response.status", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*incomingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			return r.status, nil
		})).
		Func("[method]incoming-response.headers", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*incomingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			return &fields{list: r.headers.list, immutable: true}, nil
		})).
		Func("[method]incoming-response.consume", pure(func(_ context.Context, args []any) (any, error) {
			r, err := arg[*incomingResponse](args, 0)
			if err != nil {
				return nil, err
			}
			if r.body != nil {
				return cm.Err(nil), nil
			}
			r.body = newIncomingBody(r)
			return cm.OK(r.body), nil
		}))
}

// formatSize formats n bytes for a message.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
