package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/wassette/wassette/secretstore"
	"github.com/wassette/wassette/tools"
)

func TestCheckBind(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
		want        string
	}{
		{"127.0.0.1:9001", "", true, ""},
		{"127.0.0.2:0", "", true, ""},
		{"localhost:9001", "", true, ""},
		{"[::1]:9001", "", true, ""},
		{"0.0.0.0:9001", "", false, "without a bearer token"},
		{":9001", "", false, "every interface"},
		{"192.168.1.10:9001", "", false, "WASSETTE_AUTH_TOKEN"},
		{"example.com:9001", "", false, "loopback"},
		{"0.0.0.0:9001", "tok", true, ""},
		{"127.0.0.1", "", false, "host:port"},
	} {
		err := CheckBind(tc.addr, tc.token)
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckBind(%q, token=%v) = %v", tc.addr, tc.token != "", err)
		}
	}
}

// TestGuard checks the Host, Origin and token rules on a handler bound to 127.0.0.1:9001.
func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	bound := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9001}
	for _, tc := range []struct {
		name, bind, token, host, origin, auth string
		want                                  int
	}{
		{"loopback ip", "127.0.0.1:9001", "", "127.0.0.1:9001", "", "", http.StatusTeapot},
		{"localhost", "127.0.0.1:9001", "", "localhost:9001", "", "", http.StatusTeapot},
		{"LOCALHOST", "127.0.0.1:9001", "", "LOCALHOST:9001", "", "", http.StatusTeapot},
		{"ipv6 loopback", "127.0.0.1:9001", "", "[::1]:9001", "", "", http.StatusTeapot},
		{"foreign host", "127.0.0.1:9001", "", "evil.example:9001", "", "", http.StatusForbidden},
		{"rebinding name", "127.0.0.1:9001", "", "127.0.0.1.evil.example:9001", "", "", http.StatusForbidden},
		{"wrong port", "127.0.0.1:9001", "", "localhost:9002", "", "", http.StatusForbidden},
		{"no port", "127.0.0.1:9001", "", "localhost", "", "", http.StatusForbidden},
		{"empty host", "127.0.0.1:9001", "", "", "", "", http.StatusForbidden},
		{"same origin", "127.0.0.1:9001", "", "localhost:9001", "http://localhost:9001", "", http.StatusTeapot},
		{"foreign origin", "127.0.0.1:9001", "", "localhost:9001", "http://evil.example", "", http.StatusForbidden},
		{"origin other port", "127.0.0.1:9001", "", "localhost:9001", "http://localhost:8080", "", http.StatusForbidden},
		{"null origin", "127.0.0.1:9001", "", "localhost:9001", "null", "", http.StatusForbidden},
		{"file origin", "127.0.0.1:9001", "", "localhost:9001", "file://", "", http.StatusForbidden},
		{"bind host", "192.168.7.7:9001", "tok-xyz", "192.168.7.7:9001", "http://192.168.7.7:9001", "Bearer tok-xyz", http.StatusTeapot},
		{"bind name", "myhost.lan:9001", "tok-xyz", "MyHost.lan:9001", "", "Bearer tok-xyz", http.StatusTeapot},
		{"other lan host", "192.168.7.7:9001", "tok-xyz", "192.168.7.8:9001", "", "Bearer tok-xyz", http.StatusForbidden},
		{"token ok", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "Bearer s3cret", http.StatusTeapot},
		{"token scheme case", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "bearer s3cret", http.StatusTeapot},
		{"token missing", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "", http.StatusUnauthorized},
		{"token wrong", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "Bearer s3cre", http.StatusUnauthorized},
		{"token longer", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "Bearer s3cretX", http.StatusUnauthorized},
		{"token basic", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "Basic s3cret", http.StatusUnauthorized},
		{"token bare", "127.0.0.1:9001", "s3cret", "localhost:9001", "", "s3cret", http.StatusUnauthorized},
		{"foreign host before token", "127.0.0.1:9001", "s3cret", "evil.example:9001", "", "", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &strings.Builder{}
			g, err := newGuard(ok, tc.bind, bound, tc.token, slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("{}"))
			r.Host = tc.host
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			g.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d (%s)", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.token != "" && strings.Contains(logs.String(), tc.token) {
				t.Errorf("the token was logged: %s", logs)
			}
		})
	}
}

// startHTTP serves a server with the secret tools on a free loopback port and returns
// its base URL and the secrets store. The server stops at the end of the test, and the
// test checks that it stopped cleanly.
func startHTTP(t *testing.T, tr Transport, token string) (string, *secretstore.Store) {
	t.Helper()
	store, err := secretstore.Open(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	s := New("test", nil)
	tools.RegisterSecrets(s, store, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, s, HTTPConfig{Transport: tr, AuthToken: token}, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(2 * ShutdownTimeout):
			t.Error("Serve did not return after its context was cancelled")
		}
	})
	return "http://" + ln.Addr().String(), store
}

func connect(t *testing.T, tr Transport, base string, headers map[string]string) *client.Client {
	t.Helper()
	var c *client.Client
	var err error
	if tr == SSE {
		c, err = client.NewSSEMCPClient(base+SSEPath, transport.WithHeaders(headers))
	} else {
		c, err = client.NewStreamableHttpClient(base+StreamableHTTPPath, transport.WithHTTPHeaders(headers))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	var init mcp.InitializeRequest
	init.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "server-test", Version: "0"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if res.ServerInfo.Name != Name || res.Instructions != Instructions {
		t.Errorf("server info %+v, instructions %q", res.ServerInfo, res.Instructions)
	}
	return c
}

func TestHTTPTransports(t *testing.T) {
	for _, tr := range []Transport{SSE, StreamableHTTP} {
		t.Run(tr.String(), func(t *testing.T) {
			base, store := startHTTP(t, tr, "tok")
			c := connect(t, tr, base, map[string]string{"Authorization": "Bearer tok"})
			tl, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
			if err != nil || len(tl.Tools) != 3 {
				t.Fatalf("tools/list: %v %v", tl, err)
			}
			var req mcp.CallToolRequest
			req.Params.Name = tools.SetSecretTool
			req.Params.Arguments = map[string]any{"component_id": "c", "key": "K", "value": "v"}
			res, err := c.CallTool(context.Background(), req)
			if err != nil || res.IsError {
				t.Fatalf("set-secret: %v %v", res, err)
			}
			if v, ok, _ := store.Lookup("c", "K"); !ok || v.Reveal() != "v" {
				t.Error("secret not stored")
			}

			get := func(path string, header http.Header) int {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				req.Header = header
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}
			if code := get(HealthPath, http.Header{"Authorization": {"Bearer tok"}}); code != http.StatusOK {
				t.Errorf("healthz: %d", code)
			}
			if code := get(HealthPath, nil); code != http.StatusUnauthorized {
				t.Errorf("healthz without token: %d", code)
			}
			if code := get(HealthPath, http.Header{"Authorization": {"Bearer tok"}, "Origin": {"https://evil.example"}}); code != http.StatusForbidden {
				t.Errorf("foreign origin: %d", code)
			}
		})
	}
}

// TestHTTPBodyLimit posts a body over MaxMessageBytes: it is refused, and the server
// keeps serving.
func TestHTTPBodyLimit(t *testing.T) {
	base, _ := startHTTP(t, StreamableHTTP, "")
	body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", MaxMessageBytes) + `"}}`
	req, _ := http.NewRequest(http.MethodPost, base+StreamableHTTPPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && !strings.Contains(string(b), "error") {
		t.Errorf("oversize body accepted: %d %.200s", resp.StatusCode, b)
	}
	c := connect(t, StreamableHTTP, base, nil)
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("ping after an oversize body: %v", err)
	}
}

// TestHTTPShutdownWithOpenStream cancels the server while an SSE stream is open: Serve
// must still return promptly (checked by startHTTP's cleanup).
func TestHTTPShutdownWithOpenStream(t *testing.T) {
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after startHTTP's cleanup has stopped the server
	base, _ := startHTTP(t, SSE, "")
	wg.Add(1)
	resp, err := http.Get(base + SSEPath)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wg.Done()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
}

// TestSSEKeepAlive checks that an idle SSE stream gets keep-alive pings.
func TestSSEKeepAlive(t *testing.T) {
	s := New("test", nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, s, HTTPConfig{Transport: SSE, KeepAlive: 20 * time.Millisecond}, ln) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + ln.Addr().String() + SSEPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"method":"ping"`) {
			return
		}
	}
	t.Fatalf("the stream ended without a ping: %v", sc.Err())
}
