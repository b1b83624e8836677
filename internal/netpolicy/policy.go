// Package netpolicy is wassette's network policy for components: which hosts one call
// may reach, and which addresses a host may resolve to. Both of wassette's hosts use
// it: the WASI preview1 host's wassette_http module and the component-model host's
// wasi:http.
//
// A call's grants are host patterns (see CheckPattern). A request is allowed when its
// URL's host and port match a grant; then, for a host granted by name, every address
// the connection is actually made to must be on the public internet: a name that
// resolves to a loopback, private, link-local, unspecified, shared (100.64.0.0/10),
// multicast or otherwise special address is refused unless a grant names that address
// itself (so granting "127.0.0.1:8080" reaches a local test server, while granting
// "localhost" does not). The address is checked on the socket being connected, after
// name resolution, so a name cannot resolve to one address for the check and another
// for the connection. Redirects are requests like any other: each one is checked.
//
// Requests never go through a proxy from the environment (HTTP_PROXY and the like):
// a proxy would make the connection on the component's behalf, out of reach of the
// address check.
//
// Refusals are *DeniedError values, whose message names the host and the grant that
// would allow it. No error of this package contains a URL's query or a header value.
package netpolicy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// Policy is the network access of one call. It is safe for concurrent use. Close it
// when the call ends.
type Policy struct {
	grants      []pattern
	componentID string
	transport   *http.Transport
	resolver    *net.Resolver // nil: net.DefaultResolver; tests set a fake one
}

// New returns the policy that allows grants (each checked by CheckPattern; none
// means no network). componentID names the component in refusal messages.
func New(componentID string, grants []string) (*Policy, error) {
	p := &Policy{componentID: componentID}
	for _, g := range grants {
		pt, err := parsePattern(g)
		if err != nil {
			return nil, err
		}
		p.grants = append(p.grants, pt)
	}
	p.transport = &http.Transport{
		Proxy:                 nil, // see the package documentation
		DialContext:           p.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          16,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return p, nil
}

// Close closes the policy's idle connections.
func (p *Policy) Close() { p.transport.CloseIdleConnections() }

// Check reports whether a request to u is allowed by the grants: nil, a *DeniedError,
// or an error for a URL that is not absolute http or https. It checks the host by
// name; the addresses it resolves to are checked when connecting (RoundTrip).
func (p *Policy) Check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("unsupported URL scheme %q: only http and https are allowed", u.Scheme)
	}
	if u.Hostname() == "" {
		return errors.New("the URL has no host")
	}
	host, port := hostPort(u)
	if p.granted(host, port) {
		return nil
	}
	return &DeniedError{ComponentID: p.componentID, Host: host, Port: port, Grant: grantFor(u.Scheme, host, port)}
}

// RoundTrip implements http.RoundTripper: it checks req.URL, then sends the request
// over a connection made only to allowed addresses. Use it as the Transport of an
// http.Client, so that every redirect is checked too.
func (p *Policy) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := p.Check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return p.transport.RoundTrip(req)
}

func (p *Policy) granted(host, port string) bool {
	for _, g := range p.grants {
		if g.matches(host, port) {
			return true
		}
	}
	return false
}

// literal reports whether a grant names the address a itself, on port.
func (p *Policy) literal(a netip.Addr, port string) bool {
	for _, g := range p.grants {
		if g.addr.IsValid() && g.addr == a && (g.port == "" || g.port == port) {
			return true
		}
	}
	return false
}

// dial connects to addr ("host:port", as the URL names it), checking each address it
// resolves to just before connecting to it.
func (p *Policy) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	named := true
	if a, err := netip.ParseAddr(host); err == nil {
		named = false
		host = a.Unmap().String()
	}
	if !p.granted(host, port) {
		// RoundTrip checked the URL; this guards other uses of the transport.
		return nil, &DeniedError{ComponentID: p.componentID, Host: host, Port: port, Grant: net.JoinHostPort(host, port)}
	}
	d := net.Dialer{
		Timeout:   connectTimeout(ctx),
		KeepAlive: 30 * time.Second,
		Resolver:  p.resolver,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			a := ap.Addr().Unmap()
			if !named {
				return nil // the grant names this very address
			}
			if kind := classify(a); kind != "" && !p.literal(a, port) {
				return &DeniedError{ComponentID: p.componentID, Host: host, Port: port, Addr: a, Kind: kind,
					Grant: net.JoinHostPort(a.String(), port)}
			}
			return nil
		},
	}
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		var denied *DeniedError
		if errors.As(err, &denied) {
			return nil, denied // without the *net.OpError around it
		}
	}
	return conn, err
}

// defaultConnectTimeout bounds making a connection (name resolution included).
const defaultConnectTimeout = 30 * time.Second

type connectTimeoutKey struct{}

// WithConnectTimeout returns a context whose requests give up making a connection
// (resolving the name, connecting, not the TLS handshake) after d instead of the
// default 30 seconds. A d of zero or less keeps the default. The context's own
// deadline, if sooner, still wins.
func WithConnectTimeout(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, connectTimeoutKey{}, d)
}

func connectTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok {
		return d
	}
	return defaultConnectTimeout
}

// DeniedError is a request the policy refused: a host no grant names, or a host
// granted by name that resolved to a special address (Addr and Kind set).
type DeniedError struct {
	ComponentID string     // the component, as given to New
	Host, Port  string     // what the request asked for, normalized
	Addr        netip.Addr // the refused address, for a refusal by address
	Kind        string     // its kind ("loopback", "private", ...), for a refusal by address
	Grant       string     // the grant that would allow the request
}

// Error is the one place refusal messages are written.
func (e *DeniedError) Error() string {
	id := e.ComponentID
	if id == "" {
		id = "<component-id>"
	}
	if e.Kind != "" {
		return fmt.Sprintf("network access to %s is refused: it resolves to %s, a %s address, which a grant by host name does not cover; "+
			"to allow that address, a person can grant it itself: wassette permission grant network %s %s",
			net.JoinHostPort(e.Host, e.Port), e.Addr, e.Kind, id, e.Grant)
	}
	return fmt.Sprintf("network access to %s is not granted to this component; to allow it run: wassette permission grant network %s %s",
		e.Grant, id, e.Grant)
}
