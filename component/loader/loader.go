// Package loader fetches a component's WebAssembly bytes from the place a user names.
//
// A source is one of:
//
//   - a plain path, absolute or relative ("./tools/fetch.wasm", "/opt/x.wasm"), read as
//     given: no percent-decoding, and '#' is part of the name;
//   - a file:// URI ("file:///opt/x.wasm", "file://tools/fetch.wasm" for a path relative
//     to the working folder), percent-decoded as URIs are;
//   - an https:// URL; plain http:// only when [Options.AllowHTTP] is set;
//   - an oci:// reference, "oci://ghcr.io/microsoft/time-server-js:latest" or
//     "oci://host/repo@sha256:<hex>", whose manifest has exactly one WebAssembly layer.
//     A reference without a tag or digest means ":latest".
//
// Every load is capped in size ([DefaultMaxBytes] unless [Options.MaxBytes] says
// otherwise) and network loads in time ([DefaultTimeout]).
//
// A load may be pinned to the SHA-256 digest of the module's bytes, either with
// [Options.Digest] or by ending a URI (not a plain path) with the fragment
// "#sha256=<64 hex digits>". If both are given they must agree. A pinned load whose
// bytes have another digest fails with [ErrDigestMismatch], and nothing is returned.
package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wassette/wassette/internal/compid"
)

// DefaultMaxBytes is the size cap of a load when Options.MaxBytes is zero.
const DefaultMaxBytes int64 = 100 << 20

// DefaultTimeout bounds a network load when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Minute

// Errors wrapped by Fetch, for callers that must tell failures apart.
var (
	// ErrDigestMismatch is wrapped when the fetched bytes do not have the pinned
	// SHA-256 digest, or not the digest their OCI manifest lists.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge is wrapped when the module is larger than the size cap.
	ErrTooLarge = errors.New("component too large")
	// ErrUnsupported is wrapped when the URI scheme, or what the URI names, is not
	// something Fetch can load.
	ErrUnsupported = errors.New("unsupported source")
	// ErrPlainHTTP is wrapped (with ErrUnsupported) when an http:// URL is refused
	// because Options.AllowHTTP is off.
	ErrPlainHTTP = errors.New("plain http:// refused")
)

var errPlainHTTP = fmt.Errorf("%w: %w: anyone on the network path could swap the module; use https://, "+
	"or allow plain HTTP for a server on this machine (wassette component load --plain-http)", ErrUnsupported, ErrPlainHTTP)

// Options adjust one Fetch. The zero value is ready to use.
type Options struct {
	// ID, if set, is the component ID to return instead of one derived from the
	// source. It must pass compid's rules.
	ID string

	// Digest pins the module's bytes: "sha256:<hex>" or bare hex. Empty means no pin
	// unless the URI carries a "#sha256=<hex>" fragment.
	Digest string

	// MaxBytes caps the module's size; zero means DefaultMaxBytes.
	MaxBytes int64

	// Timeout bounds an https://, http:// or oci:// load; zero means DefaultTimeout.
	Timeout time.Duration

	// HTTPClient sends https://, http:// and oci:// requests; nil means a default
	// client. Tests pass the client of an httptest server.
	HTTPClient *http.Client

	// AllowHTTP accepts http:// URLs and redirects to them. Off by default: plain HTTP
	// lets anyone on the path swap the module.
	AllowHTTP bool

	// OCIPlainHTTP talks to OCI registries over plain HTTP instead of HTTPS, as for a
	// local test registry.
	OCIPlainHTTP bool

	// RegistryAuth, if set, is sent to the OCI registry named in the reference.
	RegistryAuth *BasicAuth
}

// BasicAuth is a user name and password (or token) for an OCI registry.
type BasicAuth struct {
	// Username is the account name.
	Username string
	// Password is the password or access token.
	Password string
}

// Fetched is a loaded module and what is known about where it came from.
type Fetched struct {
	// Data is the module's bytes.
	Data []byte
	// Source is the canonical form of the URI it came from: "file://" plus an absolute
	// path for files, the URL's scheme, host and path for https:// and http:// (no user
	// info, query or fragment, which may hold credentials),
	// "oci://registry/repo:tag" or "oci://registry/repo@sha256:..." for OCI.
	Source string
	// Digest is "sha256:<hex>" of Data.
	Digest string
	// ID is Options.ID if set, else the ID derived from the source: the file name
	// without ".wasm" for paths and URLs, the last element of the repository for OCI.
	ID string
}

// Fetch loads the module that uri names. See the package documentation for the forms
// of uri and the pin syntax.
func Fetch(ctx context.Context, uri string, opts Options) (Fetched, error) {
	f, err := fetch(ctx, uri, opts)
	if err != nil {
		return Fetched{}, fmt.Errorf("load %s: %w", SafeSource(uri), err)
	}
	return f, nil
}

// source is a parsed uri, ready to be read.
type source struct {
	canonical string // Fetched.Source
	baseName  string // name the ID is derived from
	pin       string // lower-case hex from the fragment, or ""
	read      func(ctx context.Context, max int64) ([]byte, error)
}

func fetch(ctx context.Context, uri string, opts Options) (Fetched, error) {
	if opts.MaxBytes < 0 {
		return Fetched{}, fmt.Errorf("size cap %d is negative", opts.MaxBytes)
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout < 0 {
		return Fetched{}, fmt.Errorf("timeout %v is negative", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	optPin, err := parseDigest(opts.Digest)
	if err != nil {
		return Fetched{}, err
	}

	src, err := parse(uri, &opts)
	if err != nil {
		return Fetched{}, err
	}
	pin := optPin
	if src.pin != "" {
		if pin != "" && pin != src.pin {
			return Fetched{}, fmt.Errorf("the URI pins sha256:%s but the digest option pins sha256:%s; give one pin", src.pin, pin)
		}
		pin = src.pin
	}

	id := opts.ID
	if id != "" {
		if _, err := compid.Stem(id); err != nil {
			return Fetched{}, fmt.Errorf("explicit component ID: %w", err)
		}
	} else if id, err = deriveID(src.baseName); err != nil {
		return Fetched{}, err
	}

	data, err := src.read(ctx, opts.MaxBytes)
	if err != nil {
		return Fetched{}, err
	}
	if len(data) == 0 {
		return Fetched{}, errors.New("the module is empty (0 bytes); check the source")
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if pin != "" && got != pin {
		return Fetched{}, fmt.Errorf("%w: pinned sha256:%s, got sha256:%s; the module changed or the pin is wrong", ErrDigestMismatch, pin, got)
	}
	return Fetched{Data: data, Source: src.canonical, Digest: "sha256:" + got, ID: id}, nil
}

// parse recognises the scheme of uri and prepares the matching reader.
func parse(uri string, opts *Options) (source, error) {
	if strings.TrimSpace(uri) == "" {
		return source{}, errors.New("no source given; pass a path, file://, https:// or oci:// URI")
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return fileSource(uri, "")
	}
	body, frag, hasFrag := strings.Cut(rest, "#")
	var pin string
	if hasFrag {
		var err error
		if pin, err = parseFragment(frag); err != nil {
			return source{}, err
		}
	}
	switch strings.ToLower(scheme) {
	case "file":
		return fileURISource(body, pin)
	case "https":
		return httpSource(strings.ToLower(scheme)+"://"+body, pin, opts)
	case "http":
		if !opts.AllowHTTP {
			return source{}, errPlainHTTP
		}
		return httpSource(strings.ToLower(scheme)+"://"+body, pin, opts)
	case "oci":
		return ociSource(body, pin, opts)
	}
	return source{}, fmt.Errorf("%w: scheme %q; use a path, file://, https:// or oci://", ErrUnsupported, scheme)
}

// validScheme reports whether s is a URI scheme (RFC 3986, section 3.1). A Windows path
// such as C:\x never reaches here, as it has no "://".
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// parseFragment reads the pin fragment "sha256=<hex>".
func parseFragment(frag string) (string, error) {
	v, ok := strings.CutPrefix(frag, "sha256=")
	if !ok {
		return "", fmt.Errorf("unknown URI fragment %q; the only one understood is #sha256=<64 hex digits>", frag)
	}
	return parseHex(v)
}

// parseDigest reads Options.Digest.
func parseDigest(d string) (string, error) {
	if d == "" {
		return "", nil
	}
	if algo, v, ok := strings.Cut(d, ":"); ok {
		if !strings.EqualFold(algo, "sha256") {
			return "", fmt.Errorf("digest %q: only sha256 pins are supported", d)
		}
		d = v
	}
	return parseHex(d)
}

func parseHex(v string) (string, error) {
	v = strings.ToLower(v)
	if len(v) != 2*sha256.Size {
		return "", fmt.Errorf("sha256 pin %q: want %d hex digits, got %d", v, 2*sha256.Size, len(v))
	}
	if _, err := hex.DecodeString(v); err != nil {
		return "", fmt.Errorf("sha256 pin %q: not hexadecimal", v)
	}
	return v, nil
}

// deriveID turns the last element of a source into a component ID.
func deriveID(base string) (string, error) {
	id := base
	if len(id) >= len(".wasm") && strings.EqualFold(id[len(id)-len(".wasm"):], ".wasm") {
		id = id[:len(id)-len(".wasm")]
	}
	if id == "" || id == "." || id == ".." || id == "/" {
		return "", fmt.Errorf("cannot derive a component ID from the source; pass an explicit ID")
	}
	if _, err := compid.Stem(id); err != nil {
		return "", fmt.Errorf("cannot use %s as a component ID (%v); pass an explicit ID", compid.Quote(id), err)
	}
	return id, nil
}

// capError is the ErrTooLarge error for a module of size bytes ("over max" if size < 0).
func capError(size, max int64) error {
	if size < 0 {
		return fmt.Errorf("%w: the module is over the %d-byte cap; raise the cap if it is expected", ErrTooLarge, max)
	}
	return fmt.Errorf("%w: the module is %d bytes, over the %d-byte cap; raise the cap if it is expected", ErrTooLarge, size, max)
}

// SafeSource returns uri as it may be stored, logged and shown: for a URL, its scheme,
// host and path, without user info, query or fragment (a presigned URL's signature, a
// token, a password). Anything else is returned unchanged. Sources recorded by earlier
// versions pass through it when they are shown.
func SafeSource(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok || !validScheme(scheme) {
		return uri
	}
	// Cut at the query or fragment first: what follows may not even parse.
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	// User info ends at the last '@' before the path.
	end := strings.IndexByte(rest, '/')
	if end < 0 {
		end = len(rest)
	}
	if at := strings.LastIndexByte(rest[:end], '@'); at >= 0 {
		rest = rest[at+1:]
	}
	return scheme + "://" + rest
}
