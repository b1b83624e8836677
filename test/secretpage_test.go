package test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wassette/wassette/secretstore"
)

var pageURLRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/secret/[A-Za-z0-9_-]+`)

// postValue submits value on the page at pageURL with the given Origin ("" for the page's
// own) and returns the status.
func postValue(t *testing.T, pageURL, origin, value string) int {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	if origin == "" {
		origin = "http://" + u.Host
	}
	form := url.Values{"token": {u.Path[strings.LastIndex(u.Path, "/")+1:]}, "value": {value}}
	req, _ := http.NewRequest("POST", pageURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func storedValue(t *testing.T, e *wassetteEnv, id, key string) (string, bool) {
	t.Helper()
	store, err := secretstore.Open(e.SecretsDir())
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := store.Lookup(id, key)
	if err != nil {
		t.Fatal(err)
	}
	return v.Reveal(), ok
}

// assertLoopbackOnly fails the test if the page's port answers on an address of this
// machine that is not loopback.
func assertLoopbackOnly(t *testing.T, pageURL string) {
	t.Helper()
	u, _ := url.Parse(pageURL)
	if h := u.Hostname(); h != "127.0.0.1" {
		t.Fatalf("the page is on %s, want 127.0.0.1", h)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		p, ok := a.(*net.IPNet)
		if !ok || p.IP.IsLoopback() || p.IP.IsLinkLocalUnicast() {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(p.IP.String(), u.Port()), 2*time.Second); err == nil {
			c.Close()
			t.Errorf("the page's port answers on %s, not only on loopback", p.IP)
		}
	}
}

// TestServeSecretPage drives request-secret of a running `wassette serve --stdio` with a
// client that has no URL-mode elicitation: the result gives the page; refused requests
// (wrong token, foreign Origin) change nothing; one submission stores the value, a second
// is refused; the page listens on loopback only; nothing of the value reaches stdout or
// stderr. A second server with a one-second expiry shows an expired page refusing.
func TestServeSecretPage(t *testing.T) {
	e := newEnv(t)
	secret := "sk-e2e-page-canary-5b1f0c7d9e2a4863"
	p := startServe(t, e, "serve", "--stdio")
	c := p.stdioClient(t)
	res := call(t, c, "request-secret", map[string]any{"component_id": "weather", "key": "API_KEY", "reason": "the forecast needs it"})
	var out struct {
		Set    bool   `json:"set"`
		Status string `json:"status"`
		URL    string `json:"url"`
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil || res.IsError || out.Status != "awaiting_person" || out.Set {
		t.Fatalf("request-secret: %s", resultText(res))
	}
	assertLoopbackOnly(t, out.URL)
	tok := out.URL[strings.LastIndex(out.URL, "/")+1:]
	if code := postValue(t, strings.TrimSuffix(out.URL, tok)+strings.Repeat("x", len(tok)), "", "sk-wrong-token-value-00000"); code != 404 {
		t.Errorf("wrong token: %d", code)
	}
	if code := postValue(t, out.URL, "https://evil.example", "sk-forged-value-0000000000"); code != 403 {
		t.Errorf("foreign Origin: %d", code)
	}
	if _, ok := storedValue(t, e, "weather", "API_KEY"); ok {
		t.Fatal("a refused request stored a value")
	}
	if code := postValue(t, out.URL, "", secret); code != 200 {
		t.Fatalf("submit: %d", code)
	}
	if code := postValue(t, out.URL, "", "sk-second-submission-00000"); code != 410 {
		t.Errorf("second submission: %d", code)
	}
	if v, _ := storedValue(t, e, "weather", "API_KEY"); v != secret {
		t.Fatal("the stored value is not the one submitted first")
	}
	if keys := listKeys(t, c, "weather"); len(keys) != 1 || keys[0] != "API_KEY="+secretstore.Mask(secret) {
		t.Fatalf("list-secrets: %v", keys)
	}
	c.Close()
	p.stdin.Close()
	if code := p.wait(t); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, p.stderr.String())
	}
	assertNoCanary(t, "stdout", p.stdout.Bytes(), secret)
	assertNoCanary(t, "stderr", p.stderr.Bytes(), secret)
	if !strings.Contains(p.stderr.String(), "secret stored from the secret page") {
		t.Errorf("stderr does not log the stored secret (without value):\n%s", p.stderr.String())
	}

	// Expiry.
	p2 := startServe(t, e, "serve", "--stdio", "--secret-page-expiry", "1s")
	c2 := p2.stdioClient(t)
	res = call(t, c2, "request-secret", map[string]any{"component_id": "weather", "key": "API_KEY"})
	b, _ = json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		resp, err := http.Get(out.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 410 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not expire: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := postValue(t, out.URL, "", "sk-after-expiry-value-000000"); code != 410 {
		t.Errorf("submission after expiry: %d", code)
	}
	if v, _ := storedValue(t, e, "weather", "API_KEY"); v != secret {
		t.Fatal("an expired page changed the secret")
	}
}

// TestSecretSetBrowser: `wassette secret set <id> <key> --browser` prints the page's URL,
// stores what is submitted there and exits 0 with the masked value; with a page that
// expires first it exits 1 and stores nothing.
func TestSecretSetBrowser(t *testing.T) {
	e := newEnv(t).With("BROWSER=true") // `true` stands in for the browser: it opens nothing
	secret := "sk-cli-browser-canary-90a1b2c3d4e5"
	run := func(expiry string, submit bool) (stdout, stderr string, code int) {
		cmd := e.Command(context.Background(), "secret", "set", "weather", "API_KEY", "--browser", "--expiry", expiry)
		errPipe, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var outb strings.Builder
		cmd.Stdout = &outb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var errb strings.Builder
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			errb.WriteString(sc.Text() + "\n")
			if m := pageURLRE.FindString(sc.Text()); m != "" && submit {
				assertLoopbackOnly(t, m)
				if code := postValue(t, m, "", secret); code != 200 {
					t.Errorf("submit: %d", code)
				}
			}
		}
		rest, _ := io.ReadAll(errPipe)
		errb.Write(rest)
		err = cmd.Wait()
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		}
		return outb.String(), errb.String(), code
	}
	stdout, stderr, code := run("1m", true)
	if code != 0 || !strings.Contains(stdout, "Secret 'API_KEY' set for component 'weather' ("+secretstore.Mask(secret)+")") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	assertNoCanary(t, "stdout", []byte(stdout), secret)
	assertNoCanary(t, "stderr", []byte(stderr), secret)
	if v, _ := storedValue(t, e, "weather", "API_KEY"); v != secret {
		t.Fatal("not stored")
	}
	stdout, stderr, code = run("1s", false)
	if code != 1 || !strings.Contains(stderr, "expired") {
		t.Fatalf("expiry: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if v, _ := storedValue(t, e, "weather", "API_KEY"); v != secret {
		t.Fatal("an expired page changed the secret")
	}
	if _, _, code := e.Run(t, "", "secret", "set", "weather", "API_KEY", "value", "--browser"); code != 2 {
		t.Errorf("--browser with a value: exit %d, want 2", code)
	}
}
