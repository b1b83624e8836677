package loader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wasm is a module header: enough bytes for a loader, which never runs them.
var wasm = []byte("\x00asm\x01\x00\x00\x00")

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeWasm(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t *testing.T, err error, target error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substr)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %v", err, target)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Errorf("error %q does not contain %q", err, substr)
	}
}

func TestFetchFilePath(t *testing.T) {
	dir := t.TempDir()
	p := writeWasm(t, dir, "Time-Server.wasm", wasm)
	f, err := Fetch(context.Background(), p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Data) != string(wasm) {
		t.Errorf("data = %q", f.Data)
	}
	if f.ID != "Time-Server" {
		t.Errorf("ID = %q, want Time-Server", f.ID)
	}
	if want := "sha256:" + hexSum(wasm); f.Digest != want {
		t.Errorf("digest = %s, want %s", f.Digest, want)
	}
	if want := "file://" + filepath.ToSlash(p); f.Source != want {
		t.Errorf("source = %s, want %s", f.Source, want)
	}
}

func TestFetchRelativePathAndFileURI(t *testing.T) {
	dir := t.TempDir()
	writeWasm(t, dir, "a b.wasm", wasm)
	t.Chdir(dir)
	abs := filepath.Join(dir, "a b.wasm")
	want := "file://" + strings.ReplaceAll(filepath.ToSlash(abs), " ", "%20")
	for _, uri := range []string{
		"a b.wasm",
		"./a b.wasm",
		"file://a%20b.wasm",
		"file://" + strings.ReplaceAll(filepath.ToSlash(abs), " ", "%20"),
		"FILE://localhost" + strings.ReplaceAll(filepath.ToSlash(abs), " ", "%20"),
		"file://a%20b.wasm#sha256=" + hexSum(wasm),
	} {
		f, err := Fetch(context.Background(), uri, Options{})
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		if f.Source != want || f.ID != "a b" {
			t.Errorf("%s: source %s, ID %q; want %s, \"a b\"", uri, f.Source, f.ID, want)
		}
	}
}

func TestFetchFileErrors(t *testing.T) {
	dir := t.TempDir()
	p := writeWasm(t, dir, "big.wasm", make([]byte, 100))
	empty := writeWasm(t, dir, "empty.wasm", nil)
	ctx := context.Background()

	_, err := Fetch(ctx, p, Options{MaxBytes: 99})
	wantErr(t, err, ErrTooLarge, "100 bytes, over the 99-byte cap")

	_, err = Fetch(ctx, filepath.Join(dir, "missing.wasm"), Options{})
	wantErr(t, err, os.ErrNotExist, "no file at")

	_, err = Fetch(ctx, empty, Options{})
	wantErr(t, err, nil, "empty")

	_, err = Fetch(ctx, dir, Options{ID: "x"})
	wantErr(t, err, ErrUnsupported, "not a regular file")

	_, err = Fetch(ctx, "file://"+filepath.ToSlash(p)+"#sha256="+hexSum(wasm), Options{})
	wantErr(t, err, ErrDigestMismatch, "pinned sha256:"+hexSum(wasm))

	_, err = Fetch(ctx, p, Options{Digest: "sha256:" + hexSum(wasm)})
	wantErr(t, err, ErrDigestMismatch, "got sha256:")

	_, err = Fetch(ctx, "file://"+filepath.ToSlash(p)+"#md5=00", Options{})
	wantErr(t, err, nil, "#sha256=<64 hex digits>")

	_, err = Fetch(ctx, p, Options{Digest: "sha256:abc"})
	wantErr(t, err, nil, "want 64 hex digits")

	_, err = Fetch(ctx, "file://"+filepath.ToSlash(p)+"#sha256="+hexSum(wasm), Options{Digest: hexSum([]byte("x"))})
	wantErr(t, err, nil, "give one pin")
}

func TestFetchPins(t *testing.T) {
	p := writeWasm(t, t.TempDir(), "x.wasm", wasm)
	sum := hexSum(wasm)
	for _, d := range []string{sum, "sha256:" + sum, "SHA256:" + strings.ToUpper(sum)} {
		if _, err := Fetch(context.Background(), p, Options{Digest: d}); err != nil {
			t.Errorf("pin %s: %v", d, err)
		}
	}
	_, err := Fetch(context.Background(), p, Options{Digest: "sha512:" + sum})
	wantErr(t, err, nil, "only sha256")
}

func TestFetchIDs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p := writeWasm(t, dir, ".wasm", wasm)
	_, err := Fetch(ctx, p, Options{})
	wantErr(t, err, nil, "pass an explicit ID")
	f, err := Fetch(ctx, p, Options{ID: "chosen"})
	if err != nil || f.ID != "chosen" {
		t.Fatalf("explicit ID: %+v, %v", f, err)
	}
	long := writeWasm(t, dir, strings.Repeat("A", 130)+".wasm", wasm)
	_, err = Fetch(ctx, long, Options{})
	wantErr(t, err, nil, "pass an explicit ID")
	_, err = Fetch(ctx, long, Options{ID: "bad\x00id"})
	wantErr(t, err, nil, "explicit component ID")
	noext := writeWasm(t, dir, "tool", wasm)
	if f, err := Fetch(ctx, noext, Options{}); err != nil || f.ID != "tool" {
		t.Errorf("no extension: %+v, %v", f, err)
	}
}

func TestFetchSchemes(t *testing.T) {
	ctx := context.Background()
	_, err := Fetch(ctx, "ftp://example.com/x.wasm", Options{})
	wantErr(t, err, ErrUnsupported, "use a path, file://, https:// or oci://")
	_, err = Fetch(ctx, "", Options{})
	wantErr(t, err, nil, "no source given")
	_, err = Fetch(ctx, "http://127.0.0.1:1/x.wasm", Options{})
	wantErr(t, err, ErrUnsupported, "use https://")
	_, err = Fetch(ctx, "oci://nohost", Options{})
	wantErr(t, err, nil, "oci://registry/repository:tag")
	_, err = Fetch(ctx, "ftp://user:secret@example.com/x.wasm", Options{})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %v shows the password", err)
	}
}

func newTLS(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-client case logs a handshake error
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestFetchHTTPS(t *testing.T) {
	srv := newTLS(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/dl/fetch-tool.wasm":
			w.Write(wasm)
		case "/big.wasm":
			w.Write(make([]byte, 64))
		case "/chunked.wasm":
			w.Write(make([]byte, 32))
			w.(http.Flusher).Flush() // no Content-Length: the cap applies while reading
			w.Write(make([]byte, 32))
		case "/redirect-http.wasm":
			http.Redirect(w, r, "http://127.0.0.1:1/x.wasm", http.StatusFound)
		case "/slow.wasm":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			http.NotFound(w, r)
		}
	})
	ctx := context.Background()
	opts := Options{HTTPClient: srv.Client()}
	sum := hexSum(wasm)

	f, err := Fetch(ctx, srv.URL+"/dl/fetch-tool.wasm#sha256="+sum, opts)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != "fetch-tool" || f.Digest != "sha256:"+sum || string(f.Data) != string(wasm) || f.Source != srv.URL+"/dl/fetch-tool.wasm" {
		t.Errorf("got %+v", f)
	}

	pinned := opts
	pinned.Digest = sum
	if _, err := Fetch(ctx, srv.URL+"/dl/fetch-tool.wasm", pinned); err != nil {
		t.Errorf("option pin: %v", err)
	}

	_, err = Fetch(ctx, srv.URL+"/dl/fetch-tool.wasm#sha256="+hexSum([]byte("other")), opts)
	wantErr(t, err, ErrDigestMismatch, "the module changed or the pin is wrong")

	_, err = Fetch(ctx, srv.URL+"/missing.wasm", opts)
	wantErr(t, err, nil, "404 Not Found; check the URL")

	small := opts
	small.MaxBytes = 63
	_, err = Fetch(ctx, srv.URL+"/big.wasm", small)
	wantErr(t, err, ErrTooLarge, "64 bytes, over the 63-byte cap")
	_, err = Fetch(ctx, srv.URL+"/chunked.wasm", small)
	wantErr(t, err, ErrTooLarge, "over the 63-byte cap")
	if _, err := Fetch(ctx, srv.URL+"/chunked.wasm", opts); err != nil {
		t.Errorf("chunked under the cap: %v", err)
	}

	_, err = Fetch(ctx, srv.URL+"/redirect-http.wasm", opts)
	wantErr(t, err, ErrUnsupported, "not https://")

	quick := opts
	quick.Timeout = 50 * time.Millisecond
	_, err = Fetch(ctx, srv.URL+"/slow.wasm", quick)
	wantErr(t, err, context.DeadlineExceeded, "raise the timeout")

	_, err = Fetch(ctx, srv.URL+"/", opts)
	wantErr(t, err, nil, "pass an explicit ID")

	// The default client does not trust the test server's certificate.
	_, err = Fetch(ctx, srv.URL+"/dl/fetch-tool.wasm", Options{})
	wantErr(t, err, nil, "certificate")
}

func TestFetchHTTPAllowed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "me" || p != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write(wasm)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://me:pw@", 1) + "/m.wasm"
	f, err := Fetch(context.Background(), u, Options{AllowHTTP: true, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if f.Source != srv.URL+"/m.wasm" || f.ID != "m" {
		t.Errorf("got source %s, ID %s", f.Source, f.ID)
	}
	_, err = Fetch(context.Background(), srv.URL+"/m.wasm", Options{AllowHTTP: true, HTTPClient: srv.Client()})
	wantErr(t, err, nil, "401 Unauthorized; the server wants credentials")
}

func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }

// TestSourceKeepsNoQuerySecrets loads from a presigned-style URL and checks that the
// signature appears neither in the recorded source nor in any error.
func TestSourceKeepsNoQuerySecrets(t *testing.T) {
	const sig = "X-Amz-Signature=c4n4ry5ignature0123456789abcdef"
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/mod.wasm":
			w.Write(wasm)
		case "/down.wasm":
			http.Error(w, "no", http.StatusForbidden)
		case "/to-http.wasm":
			http.Redirect(w, r, "http://127.0.0.1:1/x.wasm?"+sig, http.StatusFound)
		}
	}))
	defer srv.Close()
	opts := Options{HTTPClient: srv.Client()}
	f, err := Fetch(context.Background(), srv.URL+"/mod.wasm?"+sig+"&X-Amz-Expires=60#sha256="+hexSum(wasm), opts)
	if err != nil {
		t.Fatal(err)
	}
	if f.Source != srv.URL+"/mod.wasm" {
		t.Errorf("source = %s, want scheme, host and path only", f.Source)
	}
	for _, path := range []string{"/down.wasm", "/to-http.wasm"} {
		_, err := Fetch(context.Background(), srv.URL+path+"?"+sig, opts)
		if err == nil || strings.Contains(err.Error(), "c4n4ry5ignature") {
			t.Errorf("%s: error %v", path, err)
		}
	}
	// A connection failure quotes the URL (net/url's error): without the query.
	_, err = Fetch(context.Background(), "https://127.0.0.1:1/x.wasm?"+sig, Options{Timeout: 5 * time.Second})
	if err == nil || strings.Contains(err.Error(), "c4n4ry5ignature") || !strings.Contains(err.Error(), "127.0.0.1:1/x.wasm") {
		t.Errorf("unreachable: error %v", err)
	}
	// Plain http:// is refused with the way to allow it, and without the query.
	_, err = Fetch(context.Background(), "http://127.0.0.1:1/x.wasm?"+sig, Options{})
	if !errors.Is(err, ErrPlainHTTP) || !strings.Contains(err.Error(), "--plain-http") || strings.Contains(err.Error(), "c4n4ry5ignature") {
		t.Errorf("plain http: %v", err)
	}
	for in, want := range map[string]string{
		"https://u:p@h.example/a/b.wasm?sig=1#frag": "https://h.example/a/b.wasm",
		"https://h.example?x=1":                     "https://h.example",
		"oci://ghcr.io/x/y:1":                       "oci://ghcr.io/x/y:1",
		"/plain/path?x.wasm":                        "/plain/path?x.wasm",
		"file:///a/b.wasm":                          "file:///a/b.wasm",
	} {
		if got := SafeSource(in); got != want {
			t.Errorf("SafeSource(%q) = %q, want %q", in, got, want)
		}
	}
}
