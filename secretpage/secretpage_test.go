package secretpage

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wassette/wassette/secretstore"
)

const canary = "sk-canary-0123456789abcdef-page"

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	s     *Server
	store *secretstore.Store
	logs  *syncBuffer
	seen  bytes.Buffer // every response body
}

func newFixture(t *testing.T, expiry time.Duration) *fixture {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	f := &fixture{store: store, logs: logs}
	f.s = New(Config{Store: store, ServerName: "wassette-test", Expiry: expiry,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() {
		f.s.Close()
		for _, form := range []string{canary, base64.StdEncoding.EncodeToString([]byte(canary)), hex.EncodeToString([]byte(canary))} {
			if strings.Contains(logs.String(), form) || strings.Contains(f.seen.String(), form) {
				t.Errorf("the value (or its encoding %q) appears in the logs or a response", form)
			}
		}
	})
	return f
}

func (f *fixture) request(t *testing.T, id, key string) *Page {
	t.Helper()
	p, err := f.s.Request(Request{ComponentID: id, Key: key, Reason: "The weather tool needs <b>it</b>.", Description: "API key for api.weather.com"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// do sends a request and returns the status and body.
func (f *fixture) do(t *testing.T, method, rawURL string, form url.Values, header map[string]string) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	f.seen.Write(b)
	for h, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s %s: header %s = %q, want %q", method, rawURL, h, got, want)
		}
	}
	if c := resp.Header.Get("Content-Security-Policy"); !strings.Contains(c, "default-src 'none'") || !strings.Contains(c, "frame-ancestors 'none'") || !strings.Contains(c, "form-action 'self'") {
		t.Errorf("CSP = %q", c)
	}
	return resp.StatusCode, string(b)
}

func origin(p *Page) string {
	u, _ := url.Parse(p.URL())
	return "http://" + u.Host
}

func (f *fixture) submit(t *testing.T, p *Page, value string) (int, string) {
	t.Helper()
	return f.do(t, "POST", p.URL(), url.Values{"token": {tokenOf(p)}, "value": {value}}, map[string]string{"Origin": origin(p)})
}

func tokenOf(p *Page) string { return p.URL()[strings.LastIndex(p.URL(), "/")+1:] }

func (f *fixture) stored(t *testing.T, id, key string) (string, bool) {
	t.Helper()
	v, ok, err := f.store.Lookup(id, key)
	if err != nil {
		t.Fatal(err)
	}
	return v.Reveal(), ok
}

func TestPageStoresOnce(t *testing.T) {
	f := newFixture(t, 0)
	if f.s.Addr() != nil {
		t.Fatal("listening before the first request")
	}
	p := f.request(t, "weather", "API_KEY")
	host, _, _ := net.SplitHostPort(f.s.Addr().String())
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Fatalf("listening on %s, want loopback", f.s.Addr())
	}
	if !strings.HasPrefix(p.URL(), "http://127.0.0.1:") || len(tokenOf(p)) < 43 {
		t.Fatalf("URL %s", p.URL())
	}
	if time.Until(p.Expires()) < 9*time.Minute {
		t.Errorf("default expiry: %v left", time.Until(p.Expires()))
	}
	if again := f.request(t, "weather", "API_KEY"); again != p {
		t.Error("a second request for the same key made a second page")
	}
	if other := f.request(t, "weather", "OTHER"); other == p || other.URL() == p.URL() {
		t.Error("another key got the same page")
	}

	code, body := f.do(t, "GET", p.URL(), nil, nil)
	if code != 200 {
		t.Fatalf("GET = %d", code)
	}
	for _, want := range []string{"weather", "API_KEY", "wassette-test", "The weather tool needs &lt;b&gt;it&lt;/b&gt;.",
		"API key for api.weather.com", `type="password"`, `name="token"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, external := range []string{"src=", "href=", "<script", "url("} {
		if strings.Contains(body, external) {
			t.Errorf("the page loads something (%q)", external)
		}
	}

	waited := make(chan Outcome, 1)
	go func() {
		out, err := p.Wait(context.Background())
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		waited <- out
	}()
	code, body = f.submit(t, p, canary)
	if code != 200 || !strings.Contains(body, "Secret stored") || !strings.Contains(body, secretstore.Mask(canary)) {
		t.Fatalf("submit = %d\n%s", code, body)
	}
	if out := <-waited; out.Masked != secretstore.Mask(canary) || out.Replaced {
		t.Fatalf("Wait = %+v", out)
	}
	if v, ok := f.stored(t, "weather", "API_KEY"); !ok || v != canary {
		t.Fatal("the value was not stored")
	}

	// A second submission, and a GET, are refused; the stored value stays.
	if code, body := f.submit(t, p, "sk-second-value-000000000"); code != http.StatusGone || !strings.Contains(body, "already used") {
		t.Fatalf("second submit = %d\n%s", code, body)
	}
	if code, _ := f.do(t, "GET", p.URL(), nil, nil); code != http.StatusGone {
		t.Fatalf("GET after use = %d", code)
	}
	if v, _ := f.stored(t, "weather", "API_KEY"); v != canary {
		t.Fatal("a second submission changed the secret")
	}
	if next := f.request(t, "weather", "API_KEY"); next == p {
		t.Fatal("a used page was handed out again")
	}
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, 0)
	if err := f.store.Set("weather", map[string]secretstore.Value{"API_KEY": secretstore.NewValue(canary)}); err != nil {
		t.Fatal(err)
	}
	p := f.request(t, "weather", "API_KEY")
	tok := tokenOf(p)
	base := strings.TrimSuffix(p.URL(), tok)
	cases := []struct {
		name   string
		method string
		url    string
		form   url.Values
		header map[string]string
		code   int
	}{
		{"wrong token GET", "GET", base + strings.Repeat("A", len(tok)), nil, nil, 404},
		{"wrong token POST", "POST", base + strings.Repeat("A", len(tok)), url.Values{"token": {tok}, "value": {"x-1"}}, map[string]string{"Origin": origin(p)}, 404},
		{"foreign Origin", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-2"}}, map[string]string{"Origin": "http://evil.example"}, 403},
		{"Origin of another port", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-3"}}, map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"null Origin", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-4"}}, map[string]string{"Origin": "null"}, 403},
		{"null Origin, cross-site", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-41"}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403},
		{"null Origin, no fetch metadata", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-42"}}, map[string]string{"Origin": "null", "Sec-Fetch-Site": "none"}, 403},
		{"own Origin, cross-site", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-43"}}, map[string]string{"Origin": origin(p), "Sec-Fetch-Site": "same-site"}, 403},
		{"no Origin", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-5"}}, nil, 403},
		{"cross-site fetch", "POST", p.URL(), url.Values{"token": {tok}, "value": {"x-6"}}, map[string]string{"Origin": origin(p), "Sec-Fetch-Site": "cross-site"}, 403},
		{"form without token", "POST", p.URL(), url.Values{"value": {"x-7"}}, map[string]string{"Origin": origin(p)}, 403},
		{"form with another token", "POST", p.URL(), url.Values{"token": {strings.Repeat("B", len(tok))}, "value": {"x-8"}}, map[string]string{"Origin": origin(p)}, 403},
		{"rebinding Host", "GET", p.URL(), nil, map[string]string{"Host": "evil.example:" + portOf(p)}, 421},
		{"other path", "GET", base + "../", nil, nil, 404},
		{"PUT", "PUT", p.URL(), nil, nil, 405},
	}
	for _, c := range cases {
		if code, _ := f.do(t, c.method, c.url, c.form, c.header); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
		}
	}
	// JSON instead of a form.
	req, _ := http.NewRequest("POST", p.URL(), strings.NewReader(`{"token":"`+tok+`","value":"x-9"}`))
	req.Header.Set("Origin", origin(p))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a JSON POST: %v %v", resp.StatusCode, err)
	}
	if v, _ := f.stored(t, "weather", "API_KEY"); v != canary {
		t.Fatal("a refused request changed the secret")
	}
	// What Chromium sends for the page's own form under its no-referrer policy.
	if code, _ := f.do(t, "POST", p.URL(), url.Values{"token": {tok}, "value": {"sk-the-real-one-00000000"}},
		map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); code != 200 {
		t.Fatalf("the page no longer works after refusals: %d", code)
	}
}

func portOf(p *Page) string {
	u, _ := url.Parse(p.URL())
	return u.Port()
}

func TestBadValues(t *testing.T) {
	f := newFixture(t, 0)
	p := f.request(t, "weather", "API_KEY")
	big := canary + strings.Repeat("x", secretstore.MaxValueLen)
	for name, v := range map[string]string{
		"empty":    "",
		"NUL":      canary + "\x00",
		"not UTF8": canary + "\xff",
		"too long": big,
	} {
		code, body := f.submit(t, p, v)
		if code != 400 && code != 413 {
			t.Errorf("%s: %d, want 400 or 413", name, code)
		}
		if !strings.Contains(body, "Nothing was stored") || !strings.Contains(body, `type="password"`) {
			t.Errorf("%s: the form is not shown again with the problem:\n%s", name, body)
		}
	}
	if _, ok := f.stored(t, "weather", "API_KEY"); ok {
		t.Fatal("a bad value was stored")
	}
	// The fifth refused submission withdraws the page.
	f.submit(t, p, "")
	if _, err := p.Wait(context.Background()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after %d refused submissions: %v", maxAttempts, err)
	}
	if code, _ := f.submit(t, p, "sk-good-value-0000000000"); code != http.StatusGone {
		t.Fatalf("a withdrawn page took a value: %d", code)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t, 200*time.Millisecond)
	p := f.request(t, "weather", "API_KEY")
	if _, err := p.Wait(context.Background()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Wait = %v, want ErrExpired", err)
	}
	if code, body := f.submit(t, p, canary); code != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("submit after expiry = %d\n%s", code, body)
	}
	if _, ok := f.stored(t, "weather", "API_KEY"); ok {
		t.Fatal("an expired page stored a value")
	}
}

func TestRevokeAndClose(t *testing.T) {
	f := newFixture(t, 0)
	p := f.request(t, "weather", "API_KEY")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a done context = %v", err)
	}
	p.Revoke()
	if _, err := p.Wait(context.Background()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Wait after Revoke = %v", err)
	}
	if code, _ := f.do(t, "GET", p.URL(), nil, nil); code != http.StatusGone {
		t.Fatalf("GET after Revoke = %d", code)
	}
	q := f.request(t, "weather", "OTHER")
	if err := f.s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Wait(context.Background()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Wait after Close = %v", err)
	}
	if _, err := f.s.Request(Request{ComponentID: "weather", Key: "K"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Request after Close = %v", err)
	}
	if _, err := New(Config{}).Request(Request{ComponentID: "", Key: "K"}); err == nil {
		t.Fatal("an invalid ID was accepted")
	}
}

func TestTooMany(t *testing.T) {
	f := newFixture(t, 0)
	for i := range MaxPending {
		f.request(t, "c", "K"+strings.Repeat("x", i))
	}
	if _, err := f.s.Request(Request{ComponentID: "c", Key: "ONE_MORE"}); !errors.Is(err, ErrTooMany) {
		t.Fatalf("request %d: %v", MaxPending+1, err)
	}
}

// TestConcurrentSubmissions: of many simultaneous valid submissions, exactly one is
// stored and the others are refused.
func TestConcurrentSubmissions(t *testing.T) {
	f := newFixture(t, 0)
	p := f.request(t, "weather", "API_KEY")
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"token": {tokenOf(p)}, "value": {"sk-concurrent-value-" + string(rune('a'+i))}}
			req, _ := http.NewRequest("POST", p.URL(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", origin(p))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		switch c {
		case 200:
			ok++
		case http.StatusGone:
		default:
			t.Errorf("status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d submissions were stored, want 1", ok)
	}
}
