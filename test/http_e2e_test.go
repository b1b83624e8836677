package test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/client"

	"github.com/wassette/wassette/internal/cmtest"
)

// The reference document's JavaScript example (testdata/components/ref-example, the
// document's text verbatim, built with componentize-js) and a weather-style component
// that makes two requests per call (js-weather), run end to end through the binary:
// the CLI, and MCP clients over stdio and streamable HTTP.

// httpEnv is a hermetic environment whose compiled-code cache is shared by this file's
// tests, so that the 12 MB JS components are compiled once per corpus, not per test.
func httpEnv(t *testing.T) *wassetteEnv {
	t.Helper()
	e := newEnv(t)
	cache := filepath.Join(cmtest.Dir(t), ".e2e-xdg-cache")
	for i, v := range e.Vars {
		if strings.HasPrefix(v, "XDG_CACHE_HOME=") {
			e.Vars[i] = "XDG_CACHE_HOME=" + cache
		}
	}
	return e
}

// weatherAPI is a loopback stand-in for a weather API with the endpoints of both
// components: /weather (the reference example), /geo/1.0/direct and /data/2.5/weather
// (js-weather). It records the path and key of every request.
type weatherAPI struct {
	*httptest.Server
	mu   sync.Mutex
	seen []apiRequest
}

type apiRequest struct{ path, key string }

func newWeatherAPI(t *testing.T) *weatherAPI {
	a := &weatherAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		a.mu.Lock()
		a.seen = append(a.seen, apiRequest{r.URL.Path, q.Get("appid")})
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/weather":
			fmt.Fprintf(w, `{"city":%q,"temp_c":21.5}`, q.Get("q"))
		case "/geo/1.0/direct":
			fmt.Fprintf(w, `[{"name":%q,"country":"NO","lat":59.91,"lon":10.75}]`, q.Get("q"))
		case "/data/2.5/weather":
			fmt.Fprint(w, `{"main":{"temp":3.5},"weather":[{"description":"snow"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *weatherAPI) requests() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apiRequest(nil), a.seen...)
}

func (a *weatherAPI) host() string { return strings.TrimPrefix(a.URL, "http://") }

// lastKey fails the test unless the API received n requests, and returns the last key.
func (a *weatherAPI) lastKey(t *testing.T, n int) string {
	t.Helper()
	reqs := a.requests()
	if len(reqs) != n {
		t.Fatalf("the API received %d requests, want %d: %v", len(reqs), n, reqs)
	}
	if n == 0 {
		return ""
	}
	return reqs[n-1].key
}

// TestHTTPReferenceExampleCLI is acceptance 1 of issue 10 through the CLI: the
// reference example loaded, its key set with `wassette secret set`, its endpoint a
// loopback API, network granted to that address; without the grant, an error naming
// the host and nothing reaching the API; a rotated key used at the next call; a policy
// value winning over the secret; a key only in the process environment not reaching it.
func TestHTTPReferenceExampleCLI(t *testing.T) {
	const (
		key1 = "sk-cli-one-0123456789abcdef"
		key2 = "sk-cli-two-ABCDEFGHIJKLMNOP"
		key3 = "sk-cli-policy-zyxwvutsrq987"
	)
	a := newWeatherAPI(t)
	e := httpEnv(t)
	must(t, e, 0, "", "component", "load", cmtest.Path(t, "ref-example"))
	cliSet(t, e, "ref-example", "API_KEY", key1)
	cliSet(t, e, "ref-example", "ENDPOINT_URL", a.URL)
	invoke := func(want int) (string, string) {
		t.Helper()
		return must(t, e, want, "", "tool", "invoke", "fetch-weather", "--args", `{"city":"Paris"}`)
	}

	_, stderr := invoke(1)
	grant := "wassette permission grant network ref-example " + a.host()
	if !strings.Contains(stderr, "network access to "+a.host()+" is not granted") || !strings.Contains(stderr, grant) {
		t.Errorf("without a grant: %s", stderr)
	}
	a.lastKey(t, 0)

	must(t, e, 0, "", "permission", "grant", "network", "ref-example", a.host())
	out, _ := invoke(0)
	var res map[string]string
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["ok"] != `{"city":"Paris","temp_c":21.5}` {
		t.Errorf("granted: %q (%v)", out, err)
	}
	if k := a.lastKey(t, 1); k != key1 {
		t.Errorf("the API got the key %q, want %q", k, key1)
	}

	cliSet(t, e, "ref-example", "API_KEY", key2)
	invoke(0)
	if k := a.lastKey(t, 2); k != key2 {
		t.Errorf("after rotation the API got %q, want %q", k, key2)
	}

	must(t, e, 0, key3, "permission", "grant", "environment-variable", "ref-example", "API_KEY", "--value-stdin")
	invoke(0)
	if k := a.lastKey(t, 3); k != key3 {
		t.Errorf("with a policy value the API got %q, want %q", k, key3)
	}

	// A key only in the process environment, not granted: the component has none.
	h := httpEnv(t).With("API_KEY=sk-host-only-0123456789")
	must(t, h, 0, "", "component", "load", cmtest.Path(t, "ref-example"))
	cliSet(t, h, "ref-example", "ENDPOINT_URL", a.URL)
	must(t, h, 0, "", "permission", "grant", "network", "ref-example", a.host())
	_, stderr = must(t, h, 1, "", "tool", "invoke", "fetch-weather", "--args", `{"city":"Paris"}`)
	if !strings.Contains(stderr, "API_KEY not configured") {
		t.Errorf("key only on the host: %s", stderr)
	}
	a.lastKey(t, 3)
}

// TestHTTPServeFlows is acceptance 1, 2, 3 and 5 of issue 10 with a real MCP client, over
// stdio and streamable HTTP: the reference example and the weather component answer
// through the loopback API, a rotated key is sent at the next call, a revoked grant is
// an error naming the host, and 16 concurrent calls of the two components each send
// their own component's key. No key appears on stdout or stderr.
func TestHTTPServeFlows(t *testing.T) {
	for _, transport := range []string{"--stdio", "--streamable-http"} {
		t.Run(strings.TrimPrefix(transport, "--"), func(t *testing.T) {
			const (
				refKey     = "sk-ref-serve-0123456789abcdef"
				refKey2    = "sk-ref-rotated-ABCDEFGHIJKLMN"
				weatherKey = "sk-weather-serve-qrstuvwxyz98"
			)
			a := newWeatherAPI(t)
			e := httpEnv(t)
			for _, name := range []string{"ref-example", "js-weather"} {
				must(t, e, 0, "", "component", "load", cmtest.Path(t, name))
				cliSet(t, e, name, "ENDPOINT_URL", a.URL)
				must(t, e, 0, "", "permission", "grant", "network", name, a.host())
			}
			cliSet(t, e, "ref-example", "API_KEY", refKey)
			cliSet(t, e, "js-weather", "API_KEY", weatherKey)

			var p *serveProc
			var c *client.Client
			if transport == "--stdio" {
				p = startServe(t, e, "serve", "--stdio", "--timeout", "120s")
				c = p.stdioClient(t)
			} else {
				p = startServe(t, e, "serve", "--streamable-http", "--bind", "127.0.0.1:0", "--timeout", "120s")
				c = httpClient(t, transport, p.addr(t), nil)
			}

			res := mustOK(t, c, "fetch-weather", map[string]any{"city": "Paris"})
			if want := `{"ok":"{\"city\":\"Paris\",\"temp_c\":21.5}"}`; resultText(res) != want {
				t.Errorf("fetch-weather: %s, want %s", resultText(res), want)
			}
			if k := a.lastKey(t, 1); k != refKey {
				t.Errorf("fetch-weather sent %q", k)
			}
			res = mustOK(t, c, "get-weather", map[string]any{"city": "Oslo"})
			if !strings.Contains(resultText(res), `\"city\":\"Oslo\"`) || !strings.Contains(resultText(res), `\"description\":\"snow\"`) {
				t.Errorf("get-weather: %s", resultText(res))
			}
			reqs := a.requests()
			if len(reqs) != 3 || reqs[1] != (apiRequest{"/geo/1.0/direct", weatherKey}) || reqs[2] != (apiRequest{"/data/2.5/weather", weatherKey}) {
				t.Errorf("get-weather's requests: %v", reqs)
			}

			cliSet(t, e, "ref-example", "API_KEY", refKey2)
			mustOK(t, c, "fetch-weather", map[string]any{"city": "Paris"})
			if k := a.lastKey(t, 4); k != refKey2 {
				t.Errorf("after rotation fetch-weather sent %q", k)
			}

			// Isolation under load: 16 calls at once, 8 of each component.
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tool := "get-weather"
					if i%2 == 0 {
						tool = "fetch-weather"
					}
					if res := call(t, c, tool, map[string]any{"city": fmt.Sprint("c", i)}); res.IsError {
						t.Errorf("%s: %s", tool, resultText(res))
					}
				}()
			}
			wg.Wait()
			reqs = a.requests()[4:]
			if len(reqs) != 8+16 {
				t.Errorf("16 concurrent calls made %d requests, want 24", len(reqs))
			}
			for _, r := range reqs {
				want := weatherKey
				if r.path == "/weather" {
					want = refKey2
				}
				if r.key != want {
					t.Errorf("a request to %s carried %q, want %q", r.path, r.key, want)
				}
			}

			must(t, e, 0, "", "permission", "revoke", "network", "ref-example", a.host())
			res = call(t, c, "fetch-weather", map[string]any{"city": "Paris"})
			if !res.IsError || !strings.Contains(resultText(res), "wassette permission grant network ref-example "+a.host()) {
				t.Errorf("after revoke: %v %s", res.IsError, resultText(res))
			}
			if n := len(a.requests()); n != 28 {
				t.Errorf("the API received %d requests, want 28 (none after the revoke)", n)
			}

			c.Close()
			p.stop(t)
			for _, key := range []string{refKey, refKey2, weatherKey} {
				assertNoCanary(t, "stdout", p.stdout.Bytes(), key)
				assertNoCanary(t, "stderr", p.stderr.Bytes(), key)
			}
		})
	}
}
