package cmrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wassette/wassette/component/runtime"
)

// api is a loopback weather API that records every request it receives.
type api struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newAPI(t testing.TB, h http.HandlerFunc) *api {
	t.Helper()
	a := &api{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.reqs = append(a.reqs, r)
		a.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

// requests returns the requests received so far.
func (a *api) requests() []*http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*http.Request(nil), a.reqs...)
}

// grant is the network grant for a: its loopback address and port.
func (a *api) grant() string { return strings.TrimPrefix(a.URL, "http://") }

// weather answers like the reference document's weather API.
func weather(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"city":%q,"temp_c":21.5}`, r.URL.Query().Get("q"))
}

const testKey = "sk-ref-0123456789abcdefXYZ"

func refOpts(a *api, key string, grants ...string) runtime.CallOptions {
	return runtime.CallOptions{ComponentID: "ref", Env: []string{"API_KEY=" + key, "ENDPOINT_URL=" + a.URL}, AllowedHosts: grants}
}

func fetchWeather(t testing.TB, m *Module, city string, opts runtime.CallOptions) (Result, error) {
	t.Helper()
	return m.Call(context.Background(), "fetch-weather", json.RawMessage(`{"city":`+fmt.Sprintf("%q", city)+`}`), opts)
}

// TestHTTPReferenceExample runs the reference document's JavaScript example,
// verbatim, against a loopback API: granted, it returns the API's answer and
// the API gets exactly the key; not granted, the call fails naming the host
// and the grant, and the API sees nothing; without a key, the component says
// so.
func TestHTTPReferenceExample(t *testing.T) {
	a := newAPI(t, weather)
	m := module(t, "ref-example")

	r, err := fetchWeather(t, m, "Paris", refOpts(a, testKey, a.grant()))
	if err != nil || r.IsError {
		t.Fatalf("granted call: %+v, %v", r, err)
	}
	if want := `{"ok":"{\"city\":\"Paris\",\"temp_c\":21.5}"}`; r.Text != want {
		t.Errorf("granted call returned %s, want %s", r.Text, want)
	}
	reqs := a.requests()
	if len(reqs) != 1 || reqs[0].URL.Path != "/weather" || reqs[0].URL.Query().Get("appid") != testKey || reqs[0].Method != "GET" {
		t.Fatalf("the API received %d requests: %v", len(reqs), reqs)
	}

	r, err = fetchWeather(t, m, "Paris", refOpts(a, testKey))
	if err != nil || !r.IsError {
		t.Fatalf("call without grant: %+v, %v", r, err)
	}
	want := "network access to " + a.grant() + " is not granted to this component; to allow it run: wassette permission grant network ref " + a.grant()
	if !strings.Contains(r.Text, want) {
		t.Errorf("call without grant: %q, want it to contain %q", r.Text, want)
	}
	if strings.Contains(r.Text, testKey) {
		t.Errorf("the error shows the key: %q", r.Text)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("the API received %d requests after a refused call, want still 1", n)
	}

	opts := refOpts(a, testKey, a.grant())
	opts.Env = []string{"ENDPOINT_URL=" + a.URL}
	r, err = fetchWeather(t, m, "Paris", opts)
	if err != nil || !r.IsError || r.Text != `API_KEY not configured` {
		t.Errorf("call without key: %+v, %v", r, err)
	}
}

// TestHTTPWeatherTwoRequests runs the weather-style component, which makes two
// requests of one API per call (geocoding, then the weather there).
func TestHTTPWeatherTwoRequests(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/geo/1.0/direct":
			fmt.Fprintf(w, `[{"name":%q,"country":"FR","lat":48.85,"lon":2.35}]`, r.URL.Query().Get("q"))
		case "/data/2.5/weather":
			fmt.Fprintf(w, `{"main":{"temp":18.25},"weather":[{"description":"light rain at %s,%s"}]}`, r.URL.Query().Get("lat"), r.URL.Query().Get("lon"))
		default:
			http.NotFound(w, r)
		}
	})
	m := module(t, "js-weather")
	opts := runtime.CallOptions{ComponentID: "weather", Env: []string{"API_KEY=" + testKey, "ENDPOINT_URL=" + a.URL}, AllowedHosts: []string{a.grant()}}
	r, err := m.Call(context.Background(), "get-weather", json.RawMessage(`{"city":"Paris"}`), opts)
	if err != nil || r.IsError {
		t.Fatalf("%+v, %v", r, err)
	}
	want := `{"ok":"{\"city\":\"Paris\",\"country\":\"FR\",\"lat\":48.85,\"lon\":2.35,\"temperature\":18.25,\"description\":\"light rain at 48.85,2.35\"}"}`
	if r.Text != want {
		t.Errorf("got %s\nwant %s", r.Text, want)
	}
	reqs := a.requests()
	if len(reqs) != 2 || reqs[0].URL.Path != "/geo/1.0/direct" || reqs[1].URL.Path != "/data/2.5/weather" {
		t.Fatalf("requests: %v", reqs)
	}
	for _, req := range reqs {
		if req.URL.Query().Get("appid") != testKey {
			t.Errorf("%s got key %q", req.URL.Path, req.URL.Query().Get("appid"))
		}
	}

	// The limit on requests per call: the second request is refused.
	rt, err := New(context.Background(), Config{CacheDir: filepath.Join(filepath.Dir(corpusPath(t, "js-weather")), ".wazero-cache"), MaxHTTPRequests: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	wasm := readFile(t, corpusPath(t, "js-weather"))
	m1, err := rt.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	r, err = m1.Call(context.Background(), "get-weather", json.RawMessage(`{"city":"Paris"}`), opts)
	if err != nil || !r.IsError || !strings.Contains(r.Text, "more than 1 HTTP requests in one call") {
		t.Errorf("past the request limit: %+v, %v", r, err)
	}
	if n := len(a.requests()); n != 3 {
		t.Errorf("the API received %d requests, want 3 (the refused one never left)", n)
	}
}

// TestHTTPFailures: a response past the cap, a server that never answers,
// one that trickles, a redirect to a host not granted: each ends the call
// with a clear error, the server's connection is released, and the next
// call works.
func TestHTTPFailures(t *testing.T) {
	other := newAPI(t, weather)
	var released sync.WaitGroup
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("q") {
		case "big": // past the cap, with Content-Length
			w.Header().Set("Content-Length", fmt.Sprint(5<<20))
			w.Write(bytes.Repeat([]byte(" "), 5<<20))
		case "big-chunked": // past the cap, without
			for range 6 {
				w.Write(bytes.Repeat([]byte(" "), 1<<20))
				w.(http.Flusher).Flush()
			}
		case "never":
			<-r.Context().Done()
			released.Done()
		case "trickle":
			w.Write([]byte("{"))
			w.(http.Flusher).Flush()
			for {
				select {
				case <-r.Context().Done():
					released.Done()
					return
				case <-time.After(200 * time.Millisecond):
					w.Write([]byte(" "))
					w.(http.Flusher).Flush()
				}
			}
		case "redirect":
			http.Redirect(w, r, other.URL+"/weather?q=elsewhere&appid="+r.URL.Query().Get("appid"), http.StatusFound)
		default:
			weather(w, r)
		}
	})
	m := module(t, "ref-example")
	next := func() {
		t.Helper()
		r, err := fetchWeather(t, m, "Oslo", refOpts(a, testKey, a.grant()))
		if err != nil || r.IsError || !strings.Contains(r.Text, "Oslo") {
			t.Errorf("the next call: %+v, %v", r, err)
		}
	}
	for _, tt := range []struct{ city, want string }{
		{"big", "the response body from http://" + a.grant() + " (5 MiB) is larger than the 4 MiB limit"},
		{"big-chunked", "the response body from http://" + a.grant() + " is larger than the 4 MiB limit"},
		{"redirect", "a redirect was refused: network access to " + other.grant() + " is not granted to this component; to allow it run: wassette permission grant network ref " + other.grant()},
	} {
		r, err := fetchWeather(t, m, tt.city, refOpts(a, testKey, a.grant()))
		if err != nil || !r.IsError || !strings.Contains(r.Text, tt.want) {
			t.Errorf("%s: %+v, %v; want an error containing %q", tt.city, r, err, tt.want)
		}
		if strings.Contains(r.Text, testKey) {
			t.Errorf("%s: the error shows the key", tt.city)
		}
		next()
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the host not granted received %d requests", n)
	}

	for _, city := range []string{"never", "trickle"} {
		released.Add(1)
		opts := refOpts(a, testKey, a.grant())
		opts.Limits.Timeout = 2 * time.Second
		_, err := fetchWeather(t, m, city, opts)
		want := "it ran longer than 2s (waiting for an HTTP response from http://" + a.grant() + ")"
		if !errors.Is(err, runtime.ErrTimeout) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want a timeout containing %q", city, err, want)
		}
		// The instance is gone: its request, which the component never
		// dropped, is released and the server sees the connection end.
		done := make(chan struct{})
		go func() { released.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
			t.Fatalf("%s: the server's request was not released after the call ended", city)
		}
		next()
	}
}

// TestHTTPResponseCap: the response cap is the call's HTTPResponseBytes.
func TestHTTPResponseCap(t *testing.T) {
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"pad":%q}`, strings.Repeat("x", 2000))
	})
	m := module(t, "ref-example")
	opts := refOpts(a, testKey, a.grant())
	opts.Limits.HTTPResponseBytes = 1024
	r, err := fetchWeather(t, m, "Paris", opts)
	if err != nil || !r.IsError || !strings.Contains(r.Text, "is larger than the 1 KiB limit") {
		t.Errorf("%+v, %v", r, err)
	}
	opts.Limits.HTTPResponseBytes = 4096
	if r, err := fetchWeather(t, m, "Paris", opts); err != nil || r.IsError {
		t.Errorf("under the cap: %+v, %v", r, err)
	}
}

// TestHTTPNoSecretInLogsOrErrors pushes a canary key through the URL's query
// and every failure path, with debug logs on, and looks for it, its base64
// and its hex in the logs, the errors and the results.
func TestHTTPNoSecretInLogsOrErrors(t *testing.T) {
	const canary = "CANARY-http-7f3a9c1e5b"
	var logs bytes.Buffer
	var mu sync.Mutex
	rt, err := New(context.Background(), Config{
		CacheDir: filepath.Join(filepath.Dir(corpusPath(t, "ref-example")), ".wazero-cache"),
		Logger:   slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	m, err := rt.Compile(context.Background(), readFile(t, corpusPath(t, "ref-example")))
	if err != nil {
		t.Fatal(err)
	}
	other := newAPI(t, weather)
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("q") {
		case "redirect":
			http.Redirect(w, r, other.URL+"/x?appid="+r.URL.Query().Get("appid"), http.StatusFound)
		case "big":
			w.Write(bytes.Repeat([]byte(" "), 5<<20))
		case "refused":
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
		default:
			weather(w, r)
		}
	})
	var seen bytes.Buffer
	for _, tt := range []struct {
		city  string
		grant []string
	}{{"ok", []string{a.grant()}}, {"denied", nil}, {"redirect", []string{a.grant()}}, {"big", []string{a.grant()}}, {"refused", []string{a.grant()}}} {
		r, err := m.Call(context.Background(), "fetch-weather", json.RawMessage(`{"city":"`+tt.city+`"}`), refOpts(a, canary, tt.grant...))
		fmt.Fprintf(&seen, "%s %s %s %v\n", r.Text, r.Stderr, r.Structured, err)
	}
	if n := len(a.requests()); n != 4 {
		t.Errorf("the API received %d requests, want 4", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "component http request") {
		t.Errorf("no request was logged:\n%s", logs.String())
	}
	for where, data := range map[string][]byte{"logs": logs.Bytes(), "results and errors": seen.Bytes()} {
		for form, s := range map[string]string{
			"plain": canary, "base64": base64.StdEncoding.EncodeToString([]byte(canary)),
			"base64url": base64.RawURLEncoding.EncodeToString([]byte(canary)), "hex": hex.EncodeToString([]byte(canary)),
		} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("the canary (%s) appears in the %s:\n%s", form, where, data)
			}
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
