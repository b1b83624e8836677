package sdkclient

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// refExample is the reference document's JavaScript Example, built verbatim with
// componentize-js into the test corpus (testdata/components/ref-example), which CI
// builds once per run and names in WASSETTE_CORPUS_DIR.
func refExample(t *testing.T) (wasm, corpus string) {
	t.Helper()
	corpus = os.Getenv("WASSETTE_CORPUS_DIR")
	wasm = filepath.Join(corpus, "ref-example.wasm")
	if _, err := os.Stat(wasm); corpus == "" || err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the test corpus is missing (WASSETTE_CORPUS_DIR=%q): build it with bash .ci/corpus.sh DIR", corpus)
		}
		t.Skip("set WASSETTE_CORPUS_DIR to a corpus built with bash .ci/corpus.sh DIR to run this test")
	}
	return wasm, corpus
}

// cli runs the wassette CLI in vars with stdin, as a person would at a terminal.
func cli(t *testing.T, vars []string, stdin string, args ...string) {
	t.Helper()
	cmd := exec.Command(wassette, args...)
	cmd.Env, cmd.Stdin = vars, strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wassette %s: %v\n%s", args[0]+" "+args[1], err, out)
	}
}

// TestGoSDKReferenceExample runs the reference document's JavaScript example with the
// official Go SDK over stdio and streamable HTTP: the person loads it and sets its key
// and endpoint with the CLI; the model's call is refused until the network is granted,
// then returns the API's answer, and the API received exactly the key; a key rotated
// with the CLI while the server runs is the one the next call sends. The key appears in
// no message and not in the server's log, in any encoding.
func TestGoSDKReferenceExample(t *testing.T) {
	wasm, corpus := refExample(t)
	for _, transport := range []string{"stdio", "streamable-http"} {
		t.Run(transport, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var keys []string
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				keys = append(keys, r.URL.Query().Get("appid"))
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"city":%q,"temp_c":21.5}`, r.URL.Query().Get("q"))
			}))
			defer api.Close()
			seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), keys...) }
			host := strings.TrimPrefix(api.URL, "http://")

			key1 := "sk-sdk-" + transport + "-one-0123456789"
			key2 := "sk-sdk-" + transport + "-two-ABCDEFGHIJ"
			vars := env(t)
			// The 12 MB JavaScript engine is compiled once per corpus, not per test.
			for i, v := range vars {
				if strings.HasPrefix(v, "XDG_CACHE_HOME=") {
					vars[i] = "XDG_CACHE_HOME=" + filepath.Join(corpus, ".e2e-xdg-cache")
				}
			}
			cli(t, vars, "", "component", "load", wasm)
			cli(t, vars, key1, "secret", "set", "ref-example", "API_KEY", "-")
			cli(t, vars, api.URL, "secret", "set", "ref-example", "ENDPOINT_URL", "-")

			cs, stderr, _ := connectEnv(t, transport, vars)
			var transcript strings.Builder
			call := func() string {
				t.Helper()
				res := callTool(t, cs, "fetch-weather", map[string]any{"city": "Paris"})
				out := text(res)
				fmt.Fprintf(&transcript, "%v %s\n", res.IsError, out)
				return out
			}

			if out := call(); !strings.Contains(out, "network access to "+host+" is not granted") ||
				!strings.Contains(out, "grant-network-permission") {
				t.Errorf("without a grant: %s", out)
			}
			if k := seen(); len(k) != 0 {
				t.Fatalf("the API was reached without a grant: %d requests", len(k))
			}
			cli(t, vars, "", "permission", "grant", "network", "ref-example", host)
			if out := call(); !strings.Contains(out, `{\"city\":\"Paris\",\"temp_c\":21.5}`) {
				t.Errorf("granted: %s", out)
			}
			if k := seen(); len(k) != 1 || k[0] != key1 {
				t.Errorf("the API got %d requests, the last with the wrong key", len(k))
			}
			cli(t, vars, key2, "secret", "set", "ref-example", "API_KEY", "-")
			call()
			if k := seen(); len(k) != 2 || k[1] != key2 {
				t.Errorf("after rotation the API got %d requests, the last with the wrong key", len(k))
			}
			if err := cs.Ping(context.Background(), nil); err != nil {
				t.Errorf("ping: %v", err)
			}
			cs.Close()
			for _, key := range []string{key1, key2} {
				for _, form := range []string{key, base64.StdEncoding.EncodeToString([]byte(key)), hex.EncodeToString([]byte(key))} {
					if strings.Contains(transcript.String(), form) || strings.Contains(stderr.String(), form) {
						t.Errorf("a key is in a tool result or the server's log")
					}
				}
			}
		})
	}
}
