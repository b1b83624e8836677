// Package secretpage serves the one-time web page on which a person enters a secret for
// a component, so that the value goes from their browser straight into the secret store
// and never passes through the model or the MCP client.
//
// A Server starts one small HTTP listener on 127.0.0.1, on a port the system picks, the
// first time a page is asked for, and keeps it until Close. Each page is for one
// component and key; its URL carries an unguessable token, it accepts one successful
// submission, and it expires (DefaultExpiry unless Config says otherwise). A submission
// must carry the page's token in the form and an Origin header naming the page's own
// origin, so a page of another site cannot post to it. Every response forbids caching,
// framing, referrers and every external resource. Nothing about a value is logged,
// and no error shows it.
package secretpage

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wassette/wassette/secretstore"
)

// DefaultExpiry is how long a page stays valid unless Config.Expiry says otherwise.
const DefaultExpiry = 10 * time.Minute

// MaxPending is how many pages may wait for a person at once; Request refuses more.
const MaxPending = 32

// maxAttempts is how many refused submissions (an empty or invalid value) a page
// takes before it is revoked.
const maxAttempts = 5

// PathPrefix is the path under which pages are served: PathPrefix + token.
const PathPrefix = "/secret/"

// Errors of Page.Wait and Request.
var (
	// ErrExpired: the page expired before a value was stored.
	ErrExpired = errors.New("the secret page expired before a value was entered")
	// ErrRevoked: the page was withdrawn (Revoke, too many refused submissions, or
	// Close) before a value was stored.
	ErrRevoked = errors.New("the secret page was withdrawn before a value was entered")
	// ErrTooMany: MaxPending pages are already waiting.
	ErrTooMany = errors.New("too many secret pages are waiting for a person")
	// ErrClosed: the Server was closed.
	ErrClosed = errors.New("the secret page server is closed")
)

// Config configures a Server.
type Config struct {
	// Store is where submitted values go, through its public Set.
	Store *secretstore.Store
	// ServerName is shown on every page, so the person knows who asks: e.g.
	// "wassette". Empty means "wassette".
	ServerName string
	// Expiry is how long a page stays valid; 0 means DefaultExpiry.
	Expiry time.Duration
	// Log receives a line per page event (opened, stored, refused), with the component,
	// the key and the page's ID; never a value or a token. Nil discards.
	Log *slog.Logger
}

// Request is what a page asks the person for.
type Request struct {
	// ComponentID and Key name the secret; both must pass secretstore's checks.
	ComponentID, Key string
	// Description is what the component declares about the secret, if anything.
	Description string
	// Reason is the agent's explanation, shown as such; it may be empty.
	Reason string
}

// Outcome is what a stored submission reports: never the value.
type Outcome struct {
	// Masked is the stored value, masked by secretstore.Mask.
	Masked string
	// Replaced reports that the key had a value before.
	Replaced bool
}

// Server serves the pages. It is safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	srv    *http.Server
	ln     net.Listener
	port   string
	pages  map[[sha256.Size]byte]*Page // by the SHA-256 of the token
	closed bool
}

// New returns a Server; it listens from the first Request on.
func New(cfg Config) *Server {
	if cfg.ServerName == "" {
		cfg.ServerName = "wassette"
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, pages: map[[sha256.Size]byte]*Page{}}
}

// Expiry is how long the Server's pages stay valid.
func (s *Server) Expiry() time.Duration { return s.cfg.Expiry }

// Addr is the listener's address, or nil before the first Request.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Request returns a page that asks the person for r's secret, starting the listener if
// it is not running. While a page for the same component and key is still waiting, it
// is returned again (same URL, same expiry), so that asking twice does not leave two
// valid links.
func (s *Server) Request(r Request) (*Page, error) {
	if err := secretstore.ValidateID(r.ComponentID); err != nil {
		return nil, err
	}
	if err := secretstore.ValidateKey(r.Key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	pending := 0
	for _, p := range s.pages {
		if p.state != pending_ {
			continue
		}
		if p.req.ComponentID == r.ComponentID && p.req.Key == r.Key {
			return p, nil
		}
		pending++
	}
	if pending >= MaxPending {
		return nil, fmt.Errorf("%w (%d); let them expire or enter them first", ErrTooMany, pending)
	}
	if err := s.startLocked(); err != nil {
		return nil, err
	}
	s.pruneLocked()
	token, sum, err := newToken()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	p := &Page{
		s: s, req: r, id: "secret-" + hex.EncodeToString(id), token: token,
		url:     "http://" + net.JoinHostPort("127.0.0.1", s.port) + PathPrefix + token,
		expires: time.Now().Add(s.cfg.Expiry),
		done:    make(chan struct{}),
	}
	p.timer = time.AfterFunc(s.cfg.Expiry, func() { p.finish(expired, Outcome{}) })
	s.pages[sum] = p
	s.log.Info("secret page opened", "component", r.ComponentID, "key", r.Key, "page", p.id,
		"expires_in", s.cfg.Expiry.String())
	return p, nil
}

// startLocked starts the listener on loopback, once.
func (s *Server) startLocked() error {
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the secret page listener on 127.0.0.1: %w", err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPrefix+"{token}", s.get)
	mux.HandleFunc("POST "+PathPrefix+"{token}", s.post)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, PathPrefix) {
			w.Header().Set("Allow", "GET, POST")
			s.render(w, http.StatusMethodNotAllowed, messagePage{Title: "Not allowed", Text: "This page only accepts GET and POST."})
			return
		}
		s.render(w, http.StatusNotFound, notFound)
	})
	s.srv = &http.Server{
		Handler:           s.guard(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.ln, s.port = ln, port
	go func() { _ = s.srv.Serve(ln) }()
	s.log.Info("secret page listener started", "addr", ln.Addr().String())
	return nil
}

// pruneLocked forgets finished pages an hour after they finished, so that a used or
// expired link is still told apart from a wrong one for a while.
func (s *Server) pruneLocked() {
	for sum, p := range s.pages {
		if p.state != pending_ && time.Since(p.finished) > time.Hour {
			delete(s.pages, sum)
		}
	}
}

// Close withdraws every waiting page and stops the listener.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	pages := make([]*Page, 0, len(s.pages))
	for _, p := range s.pages {
		pages = append(pages, p)
	}
	srv := s.srv
	s.mu.Unlock()
	for _, p := range pages {
		p.finish(revoked, Outcome{})
	}
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

// lookup returns the page of token, or nil.
func (s *Server) lookup(token string) *Page {
	sum := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pages[sum]
}

func newToken() (string, [sha256.Size]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [sha256.Size]byte{}, err
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, sha256.Sum256([]byte(t)), nil
}

// state is where a page is in its life.
type state int

const (
	pending_ state = iota // waiting for a value
	storing               // a submission is being stored
	stored
	expired
	revoked
)

// Page is one secret-entry page.
type Page struct {
	s       *Server
	req     Request
	id      string
	token   string
	url     string
	expires time.Time
	timer   *time.Timer
	done    chan struct{}

	// guarded by s.mu
	state    state
	attempts int
	outcome  Outcome
	finished time.Time
}

// URL is the page's address, with its token: give it to the person only.
func (p *Page) URL() string { return p.url }

// ID identifies the page without its token (the MCP elicitation ID).
func (p *Page) ID() string { return p.id }

// Expires is when the page stops accepting a value.
func (p *Page) Expires() time.Time { return p.expires }

// Request is what the page asks for.
func (p *Page) Request() Request { return p.req }

// Done is closed when the page is finished: stored, expired or withdrawn.
func (p *Page) Done() <-chan struct{} { return p.done }

// Wait waits until a value is stored through the page and reports it, or returns
// ErrExpired, ErrRevoked or ctx's error. The page stays valid when ctx ends first.
func (p *Page) Wait(ctx context.Context) (Outcome, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	switch p.state {
	case stored:
		return p.outcome, nil
	case expired:
		return Outcome{}, ErrExpired
	}
	return Outcome{}, ErrRevoked
}

// Revoke withdraws the page if it is still waiting: its link stops working.
func (p *Page) Revoke() { p.finish(revoked, Outcome{}) }

// finish moves a waiting page to its final state, once.
func (p *Page) finish(st state, out Outcome) {
	p.s.mu.Lock()
	if p.state != pending_ && !(p.state == storing && st == stored) {
		p.s.mu.Unlock()
		return
	}
	p.state, p.outcome, p.finished = st, out, time.Now()
	p.s.mu.Unlock()
	p.timer.Stop()
	close(p.done)
	switch st {
	case expired:
		p.s.log.Info("secret page expired", "component", p.req.ComponentID, "key", p.req.Key, "page", p.id)
	case revoked:
		p.s.log.Info("secret page withdrawn", "component", p.req.ComponentID, "key", p.req.Key, "page", p.id)
	}
}

// guard sets the headers every response carries and refuses requests whose Host does not
// name the listener by a loopback name (DNS rebinding).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("Cache-Control", "no-store")
		h.Set("Pragma", "no-cache")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.ownHost(r.Host) {
			s.log.Warn("secret page refused a request for another host (DNS rebinding protection)",
				"host", clip(r.Host), "remote", r.RemoteAddr)
			s.render(w, http.StatusMisdirectedRequest, messagePage{Title: "Wrong address",
				Text: "Open the link exactly as it was given to you (it starts with http://127.0.0.1:)."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ownHost reports whether hostport is 127.0.0.1 or localhost with the listener's port.
func (s *Server) ownHost(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	s.mu.Lock()
	own := s.port
	s.mu.Unlock()
	return port == own && (host == "127.0.0.1" || strings.EqualFold(host, "localhost"))
}

func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
