package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	mcpserver "github.com/mark3labs/mcp-go/server"
)

// DefaultAddr is where the HTTP transports listen unless told otherwise.
const DefaultAddr = "127.0.0.1:9001"

// Paths served by the HTTP transports.
const (
	SSEPath            = "/sse"     // SSE transport: the event stream (GET)
	MessagePath        = "/message" // SSE transport: client messages (POST)
	StreamableHTTPPath = "/mcp"     // streamable HTTP transport
	HealthPath         = "/healthz" // health check for supervisors
)

// Transport is an HTTP transport of MCP.
type Transport int

// The HTTP transports.
const (
	// SSE is the HTTP+SSE transport of protocol version 2024-11-05: the client opens an
	// event stream at SSEPath and posts its messages to MessagePath.
	SSE Transport = iota + 1
	// StreamableHTTP is the streamable HTTP transport at StreamableHTTPPath.
	StreamableHTTP
)

func (t Transport) String() string {
	switch t {
	case SSE:
		return "sse"
	case StreamableHTTP:
		return "streamable-http"
	}
	return fmt.Sprintf("Transport(%d)", int(t))
}

// HTTPConfig configures ServeHTTP and Serve.
type HTTPConfig struct {
	// Transport is SSE or StreamableHTTP.
	Transport Transport
	// Addr is the host:port to listen on; empty means DefaultAddr. Port 0 picks a free
	// port, which is logged ("listening addr=...").
	Addr string
	// AuthToken, when not empty, is the bearer token every request must carry in an
	// "Authorization: Bearer <token>" header. It is never logged. A non-loopback Addr
	// requires one.
	AuthToken string
	// KeepAlive is how often an idle event stream gets a keep-alive (an MCP ping on SSE,
	// a heartbeat on streamable HTTP); 0 means 30s and a negative value turns them off.
	KeepAlive time.Duration
	// MaxSessions caps the streamable HTTP sessions; 0 means DefaultMaxSessions. At the
	// cap, a new session ends the least recently used idle one; if none is idle, the
	// initialize request gets 503.
	MaxSessions int
	// SessionIdleTimeout ends a streamable HTTP session unused for that long; 0 means
	// DefaultSessionIdleTimeout.
	SessionIdleTimeout time.Duration
	// BodyTimeout bounds how long a client may take to send a request body, from the
	// end of its headers; 0 means DefaultBodyTimeout. A slower body gets 408 and the
	// connection is closed.
	BodyTimeout time.Duration
	// MaxConnections caps the connections open at once; 0 means DefaultMaxConnections.
	// Further clients wait until one closes.
	MaxConnections int
	// Log receives the server's log lines; nil discards them.
	Log *slog.Logger
}

// Defaults of HTTPConfig.
const (
	// DefaultBodyTimeout is how long a client may take to send a request body.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultMaxConnections is how many connections may be open at once.
	DefaultMaxConnections = 512
	// headerTimeout is how long a client may take to send a request's headers.
	headerTimeout = 10 * time.Second
)

// ShutdownTimeout bounds how long a graceful shutdown waits for requests in flight.
const ShutdownTimeout = 5 * time.Second

// CheckBind reports an error if addr is not a host:port, or if it is not a loopback
// address and token is empty: a server reachable from other machines must ask for a
// token, as anyone who reaches it could read and change secrets.
func CheckBind(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid bind address %q: use host:port, e.g. %s", addr, DefaultAddr)
	}
	if token == "" && !isLoopback(host) {
		what := host
		if what == "" {
			what = "every interface"
		}
		return fmt.Errorf("refusing to listen on %s (%s) without a bearer token: anyone who can reach it "+
			"could read and change secrets; set WASSETTE_AUTH_TOKEN (or --auth-token), or bind to a "+
			"loopback address such as %s", addr, what, DefaultAddr)
	}
	return nil
}

// ServeHTTP listens on cfg.Addr and serves s there until ctx is done, then shuts down
// gracefully. See Serve.
func ServeHTTP(ctx context.Context, s *mcpserver.MCPServer, cfg HTTPConfig) error {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := CheckBind(cfg.Addr, cfg.AuthToken); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w; choose another address with --bind", cfg.Addr, err)
	}
	return Serve(ctx, s, cfg, ln)
}

// Serve serves s on ln with cfg.Transport until ctx is done, then closes the open
// sessions and waits up to ShutdownTimeout for requests in flight. It closes ln.
//
// Every request is checked before it reaches MCP: its Host header, and its Origin header
// if any, must name a loopback address or the bound address itself, with the bound
// port, or it is refused with 403 (DNS rebinding protection); with cfg.AuthToken set, a
// request without that bearer token is refused with 401. Bodies are limited to
// MaxMessageBytes. HealthPath answers GET with {"status":"ok"}.
func Serve(ctx context.Context, s *mcpserver.MCPServer, cfg HTTPConfig, ln net.Listener) error {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Addr == "" {
		cfg.Addr = ln.Addr().String()
	}
	if err := CheckBind(cfg.Addr, cfg.AuthToken); err != nil {
		ln.Close()
		return err
	}
	keepAlive := cfg.KeepAlive
	if keepAlive == 0 {
		keepAlive = 30 * time.Second
	}

	srv := &http.Server{
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          stdLogger(log, slog.LevelDebug),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(HealthPath, health)
	var shutdown func(context.Context) error
	var path string
	switch cfg.Transport {
	case SSE:
		opts := []mcpserver.SSEOption{
			mcpserver.WithHTTPServer(srv),
			mcpserver.WithSSEEndpoint(SSEPath),
			mcpserver.WithMessageEndpoint(MessagePath),
			mcpserver.WithKeepAlive(keepAlive > 0),
		}
		if keepAlive > 0 {
			opts = append(opts, mcpserver.WithKeepAliveInterval(keepAlive))
		}
		f := newSSEFront(s, opts, log)
		mux.Handle(SSEPath, f.streamHandler())
		mux.Handle(MessagePath, f.messageHandler())
		shutdown, path = f.sse.Shutdown, SSEPath
	case StreamableHTTP:
		opts := []mcpserver.StreamableHTTPOption{
			mcpserver.WithStreamableHTTPServer(srv),
			mcpserver.WithEndpointPath(StreamableHTTPPath),
			mcpserver.WithStreamableHTTPLogger(log),
		}
		if keepAlive > 0 {
			opts = append(opts, mcpserver.WithHeartbeatInterval(keepAlive))
		}
		front, sh := newStreamable(s, opts, cfg.MaxSessions, cfg.SessionIdleTimeout, log)
		sweepCtx, stopSweep := context.WithCancel(context.Background())
		defer stopSweep()
		go front.table.sweeper(sweepCtx)
		mux.Handle(StreamableHTTPPath, front)
		shutdown, path = sh.Shutdown, StreamableHTTPPath
	default:
		ln.Close()
		return fmt.Errorf("unknown HTTP transport %v", cfg.Transport)
	}
	g, err := newGuard(mux, cfg.Addr, ln.Addr(), cfg.AuthToken, log)
	if err != nil {
		ln.Close()
		return err
	}
	g.bodyTimeout = cfg.BodyTimeout
	if g.bodyTimeout <= 0 {
		g.bodyTimeout = DefaultBodyTimeout
	}
	srv.Handler = g
	maxConns := cfg.MaxConnections
	if maxConns <= 0 {
		maxConns = DefaultMaxConnections
	}
	ln = limitListener(ln, maxConns)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "transport", cfg.Transport.String(),
		"url", "http://"+ln.Addr().String()+path, "auth", cfg.AuthToken != "")

	select {
	case err := <-errc:
		return fmt.Errorf("serving MCP over %v: %w", cfg.Transport, err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "transport", cfg.Transport.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		log.Warn("graceful shutdown incomplete; closing connections", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// guard applies the checks every HTTP request must pass before reaching MCP.
type guard struct {
	next     http.Handler
	port     string              // the bound port
	bindHost string              // the host of the bind address, as given
	local    map[netip.Addr]bool // this machine's addresses, when bound to all of them
	token    *[sha256.Size]byte  // SHA-256 of the bearer token, or nil
	log      *slog.Logger

	bodyTimeout time.Duration // see HTTPConfig.BodyTimeout
}

func newGuard(next http.Handler, addr string, bound net.Addr, token string, log *slog.Logger) (*guard, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("invalid bind address %q: %w", addr, err)
	}
	_, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return nil, fmt.Errorf("invalid listening address %q: %w", bound, err)
	}
	g := &guard{next: next, port: port, bindHost: strings.Trim(host, "[]"), log: log, bodyTimeout: DefaultBodyTimeout}
	if ip, err := netip.ParseAddr(g.bindHost); g.bindHost == "" || (err == nil && ip.IsUnspecified()) {
		// Bound to every interface: clients may name any of this machine's addresses.
		g.local = map[netip.Addr]bool{}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					g.local[p.Addr().Unmap()] = true
				}
			}
		}
	}
	if token != "" {
		sum := sha256.Sum256([]byte(token))
		g.token = &sum
	}
	return g, nil
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.hostAllowed(r.Host, "") {
		g.log.Warn("refused a request with a foreign Host header (DNS rebinding protection)",
			"host", clip(r.Host), "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		http.Error(w, "forbidden: the Host header must name this server by a loopback address "+
			"or its bind address, with port "+g.port, http.StatusForbidden)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !g.originAllowed(origin) {
		g.log.Warn("refused a request from a foreign Origin (DNS rebinding protection)",
			"origin", clip(origin), "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		http.Error(w, "forbidden: requests from web pages of other origins are not allowed", http.StatusForbidden)
		return
	}
	if g.token != nil && !g.authorized(r) {
		g.log.Warn("refused a request without a valid bearer token", "remote", r.RemoteAddr, "path", clip(r.URL.Path))
		w.Header().Set("WWW-Authenticate", `Bearer realm="wassette"`)
		http.Error(w, "unauthorized: send the header 'Authorization: Bearer <token>' with the token "+
			"the server was started with", http.StatusUnauthorized)
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		if !g.readBody(w, r) {
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// readBody reads the request body, at most MaxMessageBytes of it, within the body
// timeout, and keeps it in the request for the handlers (readBody). It answers and
// reports false if the body is too large, too slow or broken.
func (g *guard) readBody(w http.ResponseWriter, r *http.Request) bool {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.bodyTimeout))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageBytes))
	_ = rc.SetReadDeadline(time.Time{})
	if err != nil {
		var tooBig *http.MaxBytesError
		var nerr net.Error
		switch {
		case errors.As(err, &tooBig):
			writeJSON(w, http.StatusRequestEntityTooLarge, errorResponse(nil, mcp.INVALID_REQUEST,
				"request body over the limit of %d bytes", MaxMessageBytes))
		case errors.As(err, &nerr) && nerr.Timeout():
			g.log.Warn("cut off a request body that was not sent in time", "remote", r.RemoteAddr,
				"path", clip(r.URL.Path), "body_timeout", g.bodyTimeout, "bytes_read", len(b))
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request timeout: the body must arrive within %s", g.bodyTimeout),
				http.StatusRequestTimeout)
		default:
			w.Header().Set("Connection", "close")
			http.Error(w, "the request body could not be read", http.StatusBadRequest)
		}
		return false
	}
	r.Body = &bufferedBody{Reader: bytes.NewReader(b), b: b}
	return true
}

// bufferedBody is a request body already read.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (*bufferedBody) Close() error { return nil }

// readBody returns the body of r, which the guard has read.
func readBody(r *http.Request) []byte {
	if bb, ok := r.Body.(*bufferedBody); ok {
		return bb.b
	}
	if r.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, MaxMessageBytes))
	r.Body = &bufferedBody{Reader: bytes.NewReader(b), b: b}
	return b
}

// withBody sets the body of r to b.
func withBody(r *http.Request, b []byte) *http.Request {
	r.Body = &bufferedBody{Reader: bytes.NewReader(b), b: b}
	r.ContentLength = int64(len(b))
	return r
}

// limitListener returns a Listener that has at most n connections open at once;
// Accept waits while n are.
func limitListener(ln net.Listener, n int) net.Listener {
	return &limitedListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// authorized compares the request's bearer token with the server's in constant time.
func (g *guard) authorized(r *http.Request) bool {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	return subtle.ConstantTimeCompare(sum[:], g.token[:]) == 1
}

// hostAllowed reports whether hostport names this server: a loopback name or address,
// the bind host, or (when bound to every interface) one of this machine's addresses,
// with the bound port. A missing port stands for defaultPort, or 80.
func (g *guard) hostAllowed(hostport, defaultPort string) bool {
	if hostport == "" {
		return false
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), ""
	}
	if port == "" {
		port = defaultPort
		if port == "" {
			port = "80"
		}
	}
	if port != g.port {
		return false
	}
	if isLoopback(host) || (g.bindHost != "" && strings.EqualFold(host, g.bindHost)) {
		return true
	}
	if ip, err := netip.ParseAddr(host); err == nil && g.local != nil {
		return g.local[ip.Unmap()]
	}
	return false
}

func (g *guard) originAllowed(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
		return false
	}
	switch u.Scheme {
	case "http":
		return g.hostAllowed(u.Host, "80")
	case "https":
		return g.hostAllowed(u.Host, "443")
	}
	return false
}

// isLoopback reports whether host is "localhost" or a loopback IP address.
func isLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// clip shortens a client-supplied string before it is logged.
func clip(s string) string {
	const max = 128
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return s
}
