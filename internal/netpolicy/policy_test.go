package netpolicy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func mustParseURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestPatterns(t *testing.T) {
	t.Parallel()
	type check struct {
		url  string
		want bool
	}
	tests := []struct {
		pattern string
		checks  []check
	}{
		{"api.example.com", []check{
			{"https://api.example.com/x", true},
			{"http://API.Example.COM.:8080/", true},
			{"https://example.com/", false},
			{"https://x.api.example.com/", false},
			{"https://api.example.com.evil.net/", false},
		}},
		{"API.Example.com.", []check{{"https://api.example.com/", true}}},
		{"api.example.com:443", []check{
			{"https://api.example.com/", true},
			{"http://api.example.com:443/", true},
			{"http://api.example.com:0443/", true},
			{"http://api.example.com/", false},
			{"https://api.example.com:8443/", false},
		}},
		{"api.example.com:0443", []check{{"https://api.example.com/", true}}},
		{"*.example.com", []check{
			{"https://api.example.com/", true},
			{"https://a.b.example.com:9000/", true},
			{"https://example.com/", false},
			{"https://badexample.com/", false},
			{"https://example.com.evil.net/", false},
		}},
		{"*.example.com:8443", []check{
			{"https://api.example.com:8443/", true},
			{"https://api.example.com/", false},
		}},
		{"127.0.0.1:8080", []check{
			{"http://127.0.0.1:8080/", true},
			{"http://[::ffff:127.0.0.1]:8080/", true},
			{"http://127.0.0.1:8081/", false},
			{"http://localhost:8080/", false},
		}},
		{"[::1]:8080", []check{
			{"http://[::1]:8080/", true},
			{"http://[0:0::1]:8080/", true},
			{"http://[::1]:80/", false},
		}},
		{"::1", []check{{"http://[::1]:1234/", true}}},
		{"[::1]", []check{{"http://[::1]/", true}}},
		{"::ffff:10.0.0.1", []check{{"http://10.0.0.1/", true}}},
	}
	for _, tt := range tests {
		p, err := New("c", []string{tt.pattern})
		if err != nil {
			t.Errorf("New(%q): %v", tt.pattern, err)
			continue
		}
		for _, c := range tt.checks {
			if got := p.Check(mustParseURL(t, c.url)) == nil; got != c.want {
				t.Errorf("grant %q, url %s: allowed = %v, want %v", tt.pattern, c.url, got, c.want)
			}
		}
	}

	for _, bad := range []string{"", " ", "*", "*.com", "*.", "a.*.com", "https://example.com", "example.com/path",
		"example.com:0", "example.com:99999", "example.com:http", "example.com:+80", "exa mple.com", "user@example.com",
		"*.127.0.0.1", "a..b", "[::1", "ex!ample.com", strings.Repeat("a", 64) + ".com", "[fe80::1%eth0]:80"} {
		if err := CheckPattern(bad); err == nil {
			t.Errorf("CheckPattern(%q) = nil, want an error", bad)
		}
		if _, err := New("c", []string{bad}); err == nil {
			t.Errorf("New(%q) succeeded", bad)
		}
	}
	p, _ := New("c", nil)
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/", "http:///path"} {
		if err := p.Check(mustParseURL(t, u)); err == nil {
			t.Errorf("Check(%s) = nil", u)
		}
	}
}

func TestRefusalMessage(t *testing.T) {
	t.Parallel()
	p, _ := New("weather", nil)
	for u, want := range map[string]string{
		"https://api.example.com/x?appid=SECRET": "network access to api.example.com is not granted to this component; to allow it run: wassette permission grant network weather api.example.com",
		"http://127.0.0.1:8080/":                 "wassette permission grant network weather 127.0.0.1:8080",
		"http://[::1]:8080/":                     "wassette permission grant network weather [::1]:8080",
	} {
		err := p.Check(mustParseURL(t, u))
		var denied *DeniedError
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: %v, want a *DeniedError saying %q", u, err, want)
		}
	}
	anon, _ := New("", nil)
	if err := anon.Check(mustParseURL(t, "https://x.org/")); err == nil || !strings.Contains(err.Error(), "<component-id>") {
		t.Errorf("without component ID: %v", err)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]string{
		"8.8.8.8":                   "",
		"1.1.1.1":                   "",
		"2606:4700:4700::1111":      "",
		"2001:4860:4860::8888":      "",
		"127.0.0.1":                 "loopback",
		"127.255.0.9":               "loopback",
		"::1":                       "loopback",
		"::ffff:127.0.0.1":          "loopback",
		"0.0.0.0":                   "unspecified",
		"0.1.2.3":                   "unspecified",
		"::":                        "unspecified",
		"10.1.2.3":                  "private",
		"172.16.0.1":                "private",
		"172.31.255.255":            "private",
		"172.32.0.1":                "",
		"192.168.1.1":               "private",
		"169.254.169.254":           "link-local",
		"::ffff:169.254.169.254":    "link-local",
		"64:ff9b::a9fe:a9fe":        "link-local", // NAT64 of 169.254.169.254
		"2002:a9fe:a9fe::1":         "link-local", // 6to4 of 169.254.169.254
		"64:ff9b::808:808":          "",           // NAT64 of 8.8.8.8
		"fe80::1":                   "link-local",
		"fd00:ec2::254":             "unique local", // AWS metadata over IPv6
		"fc00::1":                   "unique local",
		"100.64.0.1":                "shared (carrier-grade NAT)",
		"100.100.100.200":           "shared (carrier-grade NAT)", // Alibaba metadata
		"100.128.0.1":               "",
		"224.0.0.1":                 "multicast",
		"ff02::1":                   "multicast",
		"255.255.255.255":           "reserved",
		"240.0.0.1":                 "reserved",
		"::127.0.0.1":               "reserved",
		"192.0.2.1":                 "documentation",
		"2001:db8::1":               "documentation",
		"198.18.0.1":                "benchmarking",
		"fec0::1":                   "site-local",
		"64:ff9b:1::1":              "private",
		"100::1":                    "reserved",
		"2001:2::1":                 "benchmarking",
		"192.0.0.170":               "reserved",
		"192.88.99.1":               "reserved",
		"203.0.113.5":               "documentation",
		"198.51.100.1":              "documentation",
		"::ffff:8.8.8.8":            "",
		"2a00:1450:4001:80b::200e":  "",
		"2001:67c:2e8:22::c100:68b": "",
	} {
		if got := classify(netip.MustParseAddr(s)); got != want {
			t.Errorf("classify(%s) = %q, want %q", s, got, want)
		}
	}
}

// fakeDNS answers every A query with a4 and every AAAA query with a6 (when valid), so
// that tests can make names resolve to any address without touching the network.
func fakeDNS(t *testing.T, a4, a6 netip.Addr) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := dnsAnswer(buf[:n], a4, a6); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

func dnsAnswer(q []byte, a4, a6 netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i+1:])
	question := q[12 : i+5]
	var rdata []byte
	switch {
	case qtype == 1 && a4.IsValid():
		b := a4.As4()
		rdata = b[:]
	case qtype == 28 && a6.IsValid():
		b := a6.As16()
		rdata = b[:]
	}
	resp := append([]byte{}, q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0)
	if rdata != nil {
		resp[7] = 1
	}
	resp = append(resp, question...)
	if rdata != nil {
		resp = append(resp, 0xc0, 12) // the name of the question
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = append(resp, 0, 1, 0, 0, 0, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rdata)))
		resp = append(resp, rdata...)
	}
	return resp
}

func get(p *Policy, u string) (string, error) {
	client := &http.Client{Transport: p}
	resp, err := client.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestAddressesOfNamedHosts(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/to-localhost" {
			http.Redirect(w, r, "http://localhost:"+r.URL.Query().Get("port")+"/", http.StatusFound)
			return
		}
		fmt.Fprint(w, "local server")
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]

	// Granted literally: reached.
	p, _ := New("c", []string{"127.0.0.1:" + port})
	defer p.Close()
	if body, err := get(p, srv.URL+"/"); err != nil || body != "local server" {
		t.Fatalf("literal grant: %q, %v", body, err)
	}

	// Granted by name, resolving to loopback: refused before connecting.
	byName, _ := New("c", []string{"localhost"})
	defer byName.Close()
	before := hits.Load()
	_, err := get(byName, "http://localhost:"+port+"/?token=SECRET")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Kind != "loopback" {
		t.Fatalf("localhost by name: %v, want a refusal for a loopback address", err)
	}
	msg := denied.Error()
	if !strings.Contains(msg, "network access to localhost:"+port+" is refused") ||
		!strings.Contains(msg, "wassette permission grant network c 127.0.0.1:"+port) || strings.Contains(msg, "SECRET") {
		t.Errorf("message: %s", err)
	}
	if hits.Load() != before {
		t.Error("the refused request reached the server")
	}

	// Both grants: the address is granted literally, so the name may resolve to it.
	both, _ := New("c", []string{"localhost", "127.0.0.1", "::1"})
	defer both.Close()
	if body, err := get(both, "http://localhost:"+port+"/"); err != nil || body != "local server" {
		t.Errorf("name and address granted: %q, %v", body, err)
	}

	// A redirect from an allowed host to a refused one is refused: here to a server on
	// another port, by a name that resolves to loopback.
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { otherHits.Add(1) }))
	defer other.Close()
	otherPort := other.URL[strings.LastIndexByte(other.URL, ':')+1:]
	redir, _ := New("c", []string{"127.0.0.1:" + port, "localhost"})
	defer redir.Close()
	before = hits.Load()
	_, err = get(redir, srv.URL+"/to-localhost?port="+otherPort)
	if !errors.As(err, &denied) || denied.Kind != "loopback" {
		t.Errorf("redirect to localhost: %v, want a refusal by address", err)
	}
	if hits.Load() != before+1 || otherHits.Load() != 0 {
		t.Errorf("%d requests reached the first server and %d the second, want 1 and 0", hits.Load()-before, otherHits.Load())
	}
	redir2, _ := New("c", []string{"127.0.0.1:" + port})
	defer redir2.Close()
	_, err = get(redir2, srv.URL+"/to-localhost?port="+port)
	if !errors.As(err, &denied) || denied.Kind != "" || !strings.Contains(err.Error(), "is not granted") {
		t.Errorf("redirect to an ungranted host: %v", err)
	}
}

func TestMetadataByName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ a4, a6 string }{
		{"169.254.169.254", ""},
		{"", "::ffff:169.254.169.254"},
		{"", "fd00:ec2::254"},
		{"10.0.0.8", "fe80::1"},
		{"0.0.0.0", ""},
	} {
		var a4, a6 netip.Addr
		if tt.a4 != "" {
			a4 = netip.MustParseAddr(tt.a4)
		}
		if tt.a6 != "" {
			a6 = netip.MustParseAddr(tt.a6)
		}
		p, err := New("c", []string{"metadata.example"})
		if err != nil {
			t.Fatal(err)
		}
		p.resolver = fakeDNS(t, a4, a6)
		_, err = get(p, "http://metadata.example/latest/meta-data/")
		p.Close()
		var denied *DeniedError
		if !errors.As(err, &denied) || denied.Kind == "" {
			t.Errorf("metadata.example resolving to %s %s: %v, want a refusal by address", tt.a4, tt.a6, err)
		}
	}
}

func TestNoProxy(t *testing.T) {
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		fmt.Fprint(w, "through the proxy")
	}))
	defer proxy.Close()
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	p, _ := New("c", []string{"docs.example"})
	defer p.Close()
	p.resolver = fakeDNS(t, netip.MustParseAddr("192.0.2.10"), netip.Addr{})
	_, err := get(p, "http://docs.example/")
	var denied *DeniedError
	if !errors.As(err, &denied) || denied.Kind != "documentation" || proxied.Load() != 0 {
		t.Errorf("with a proxy in the environment: %v (proxied %d), want a direct connection refused by address", err, proxied.Load())
	}
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if d := connectTimeout(ctx); d != defaultConnectTimeout {
		t.Errorf("default: %v", d)
	}
	if d := connectTimeout(WithConnectTimeout(ctx, 0)); d != defaultConnectTimeout {
		t.Errorf("zero keeps the default: %v", d)
	}
	if d := connectTimeout(WithConnectTimeout(ctx, 1500*time.Millisecond)); d != 1500*time.Millisecond {
		t.Errorf("set: %v", d)
	}
}
