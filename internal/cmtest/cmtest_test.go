package cmtest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/wassette/wassette/internal/cmtest"
)

// Every component is in the corpus, is a component binary, and is what corpus.json says.
func TestCorpusHasEveryComponent(t *testing.T) {
	dir := cmtest.Dir(t)
	b, err := os.ReadFile(filepath.Join(dir, "corpus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Components map[string]struct {
			SHA256 string `json:"sha256"`
		} `json:"components"`
		Tools map[string]string `json:"tools"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, name := range cmtest.Names() {
		wasm, err := os.ReadFile(cmtest.Path(t, name))
		if err != nil {
			t.Fatal(err)
		}
		// A component's preamble: \0asm, version 0x0d, layer 1.
		if !bytes.HasPrefix(wasm, []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}) {
			t.Errorf("%s: not a component binary (preamble % x)", name, wasm[:min(8, len(wasm))])
		}
		sum := sha256.Sum256(wasm)
		if got, want := hex.EncodeToString(sum[:]), m.Components[name].SHA256; got != want {
			t.Errorf("%s: sha256 %s, corpus.json says %s", name, got, want)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".wit")); err != nil {
			t.Errorf("%s: its WIT is missing: %v", name, err)
		}
	}
	for _, tool := range []string{"@bytecodealliance/componentize-js", "@bytecodealliance/jco", "@bytecodealliance/preview2-shim", "@bytecodealliance/wizer", "clang"} {
		if m.Tools[tool] == "" {
			t.Errorf("corpus.json records no version of %s", tool)
		}
	}
}

// The reference document's JavaScript Example is in the corpus byte for byte.
func TestReferenceExampleIsVerbatim(t *testing.T) {
	doc := referenceDoc(t)
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(text, []byte("\n### JavaScript Example\n"))
	if at < 0 {
		t.Fatalf("%s has no JavaScript Example section", doc)
	}
	m := regexp.MustCompile("(?s)```javascript\n(.*?)```").FindSubmatch(text[at:])
	if m == nil {
		t.Fatalf("%s: no javascript code block under the JavaScript Example heading", doc)
	}
	ours, err := os.ReadFile(filepath.Join(cmtest.SourceDir(), "ref-example", "component.js"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, m[1]) {
		t.Fatalf("testdata/components/ref-example/component.js differs from the JavaScript Example of %s", doc)
	}
}

// referenceDoc finds the reference document as testdata/components/lib/reference.mjs does.
func referenceDoc(t *testing.T) string {
	if p := os.Getenv("WASSETTE_REFERENCE_DOC"); p != "" {
		return p
	}
	root := filepath.Join(cmtest.SourceDir(), "..", "..")
	for _, up := range []string{"..", filepath.Join("..", "..")} {
		p := filepath.Join(root, up, "shared", "reference", "secret-management.md")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("the reference document (shared/reference/secret-management.md) is not beside the repository")
	}
	t.Skip("the reference document (shared/reference/secret-management.md) is not beside the repository")
	return ""
}

// check runs calls through one oracle and compares each outcome with want: a result's JSON
// text (compact), "trap:<substring>" or "error:<substring>".
func check(t *testing.T, o *cmtest.Oracle, calls []cmtest.Call, want []string) []cmtest.Outcome {
	t.Helper()
	outs, err := o.CallAll(calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, out := range outs {
		w := want[i]
		switch {
		case strings.HasPrefix(w, "trap:"):
			if out.Trap == "" || !strings.Contains(out.Trap, strings.TrimPrefix(w, "trap:")) {
				t.Errorf("%s %s: want a trap with %q, got %+v", calls[i].Tool, calls[i].Args, w[5:], out)
			}
		case strings.HasPrefix(w, "error:"):
			if out.Error == "" || !strings.Contains(out.Error, strings.TrimPrefix(w, "error:")) {
				t.Errorf("%s %s: want an error with %q, got %+v", calls[i].Tool, calls[i].Args, w[6:], out)
			}
		case w == "":
			if out.Result != nil || out.Trap != "" || out.Error != "" {
				t.Errorf("%s %s: want no result, got %+v", calls[i].Tool, calls[i].Args, out)
			}
		default:
			if string(out.Result) != w {
				t.Errorf("%s %s:\n got %s (trap %q, error %q, stderr %q)\nwant %s", calls[i].Tool, calls[i].Args, out.Result, out.Trap, out.Error, out.Stderr, w)
			}
		}
	}
	return outs
}

func call(component, tool, args string) cmtest.Call {
	return cmtest.Call{Component: component, Tool: tool, Args: json.RawMessage(args)}
}

func TestOracleEveryKind(t *testing.T) {
	o := cmtest.StartOracle(t)
	k := cmtest.Path(t, "js-kinds")
	every := `{"name":"n","initial":"é","small":-128,"big":18446744073709551615,"ratio":3.4028235e+38,` +
		`"tags":["x",""],"bytes":[0,255],"pair":[65535,-9223372036854775808],"maybe":null,` +
		`"maybe-maybe":{"some":null},"outcome":{"err":"no"},"color":"blue-ish","perms":["read","set-uid"],` +
		`"shape":{"tag":"rect","val":{"x":-1,"y":2147483647}},"points":[]}`
	calls := []cmtest.Call{
		call(k, "echo-u64", `{"v":18446744073709551615}`),
		call(k, "echo-s64", `{"v":9223372036854775807}`),
		call(k, "echo-f32", `{"v":0.1}`),
		call(k, "echo-f64", `{"v":"-Infinity"}`),
		call(k, "echo-f64", `{"v":-0}`),
		call(k, "echo-char", `{"v":"😀"}`),
		call(k, "echo-nested-lists", `{"v":[[],["a"],[]]}`),
		call(k, "echo-everything", `{"v":`+every+`}`),
		call(k, "echo-option-option", `{"v":{"some":null}}`),
		call(k, "echo-option-option", `{"v":{"some":7}}`),
		call(k, "echo-option-option", `{"v":null}`),
		call(k, "echo-perms", `{"v":["exec","read"]}`),
		call(k, "echo-shape", `{"v":{"tag":"nothing"}}`),
		call(k, "fallible", `{"fail":true,"message":"nope"}`),
		call(k, "fallible", `{"fail":false,"message":"nope"}`),
		call(k, "noop", `{}`),
		call(k, "add-u8", `{"a":200,"b":100}`),
		call(k, "echo-u8", `{"v":256}`),
		call(k, "echo-shape", `{"v":{"tag":"rect","val":{"x":1,"y":"2"}}}`),
		call(k, "no-such-tool", `{}`),
		// componentize-js 0.23 traps on a negative s64 passed or returned flat (it is fine
		// inside a list or record): a fact of the component, which wassette sees too.
		call(k, "echo-s64", `{"v":-1}`),
		call(k, "echo-f32", `{"v":16777217}`),
		call(k, "echo-f32", `{"v":1e-7}`),
		call(k, "echo-f32", `{"v":"NaN"}`),
		call(k, "echo-f64", `{"v":1e21}`),
		call(k, "echo-char", `{"v":"ab"}`),
		call(k, "echo-perms", `{"v":["read","read"]}`),
		call(k, "echo-shape", `{"v":{"tag":"nothing","val":1}}`),
		call(k, "echo-point", `{"v":{"x":1,"y":2,"z":3}}`),
		call(k, "echo-u32", `{"v":1.0}`),
	}
	want := []string{
		`18446744073709551615`,
		`9223372036854775807`,
		`0.1`,
		`"-Infinity"`,
		`-0`,
		`"😀"`,
		`[[],["a"],[]]`,
		every,
		`{"some":null}`,
		`{"some":7}`,
		`null`,
		`["read","exec"]`,
		`{"tag":"nothing"}`,
		`{"err":"nope"}`,
		`{"ok":null}`,
		``,
		`44`,
		`error:v: u8 out of range`,
		`error:v.val.y: expected an integer`,
		`error:no tool "no-such-tool"`,
		`trap:unreachable`,
		`16777216`,
		`1e-7`,
		`"NaN"`,
		`1e+21`,
		`error:v: expected a string of one character`,
		`error:v[1]: "read" given twice`,
		`error:v: unexpected key "val"`,
		`error:v: unknown field "z"`,
		`error:v: expected an integer`,
	}
	check(t, o, calls, want)

	tools, err := o.Tools(k)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, tool := range tools {
		names[tool.Name] = true
	}
	for _, n := range []string{"echo-bool", "describe", "wassette_kinds_counters_0_1_0_make"} {
		if !names[n] {
			t.Errorf("tool %s missing from the oracle's list", n)
		}
	}
}

func TestOracleEnvAndConfig(t *testing.T) {
	o := cmtest.StartOracle(t)
	env := map[string]string{"API_KEY": "sk-env-canary", "OTHER": "x"}
	var calls []cmtest.Call
	for _, name := range []string{"js-env", "c-direct"} {
		for _, tool := range []string{"get-env", "get-config"} {
			c := call(cmtest.Path(t, name), tool, `{"key":"API_KEY"}`)
			c.Env = env
			calls = append(calls, c)
		}
	}
	// Nothing of the oracle's own environment reaches a component.
	calls = append(calls, call(cmtest.Path(t, "js-env"), "get-env", `{"key":"PATH"}`))
	listed := call(cmtest.Path(t, "js-env"), "list-config", `{}`)
	listed.Env = map[string]string{"A": "1"}
	calls = append(calls, listed)
	adapter := call(cmtest.Path(t, "c-adapter"), "get-env", `{"key":"API_KEY"}`)
	adapter.Env = env
	calls = append(calls, adapter)
	check(t, o, calls, []string{
		`"sk-env-canary"`, `"sk-env-canary"`,
		`"sk-env-canary"`, `{"ok":"sk-env-canary"}`,
		`null`,
		`[["A","1"]]`,
		`"sk-env-canary"`,
	})
}

func TestOracleInterfaceAndC(t *testing.T) {
	o := cmtest.StartOracle(t)
	iface := cmtest.Path(t, "js-iface")
	outs := check(t, o, []cmtest.Call{
		call(iface, "wassette_time-server-js_time_greet", `{"name":"Ada"}`),
		call(iface, "wassette_time-server-js_time_add", `{"a":2147483647,"b":1}`),
		call(cmtest.Path(t, "c-direct"), "say", `{"text":"héllo"}`),
		call(cmtest.Path(t, "c-adapter"), "shout", `{"text":"abc"}`),
		call(cmtest.Path(t, "js-limits"), "ping", `{}`),
	}, []string{`"Hello, Ada!"`, `-2147483648`, `7`, `"ABC"`, `"pong"`})
	if outs[2].Stdout != "héllo\n" || outs[3].Stdout != "shout: abc\n" {
		t.Errorf("stdout: c-direct %q, c-adapter %q", outs[2].Stdout, outs[3].Stdout)
	}
}

func TestOracleFilesystem(t *testing.T) {
	o := cmtest.StartOracle(t)
	host := t.TempDir()
	if err := os.MkdirAll(filepath.Join(host, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(host, "a.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsl := cmtest.Path(t, "fs-list")
	pre := map[string]string{"/data": host}
	calls := []cmtest.Call{
		call(fsl, "preopens", `{}`),
		call(fsl, "list-dir", `{"dir":"/data","path":"."}`),
		call(fsl, "read-file", `{"dir":"/data","path":"a.txt"}`),
		call(fsl, "write-file", `{"dir":"/data","path":"sub/b.txt","contents":"written"}`),
		call(fsl, "read-file", `{"dir":"/data","path":"missing.txt"}`),
		call(cmtest.Path(t, "c-adapter"), "count-entries", `{"path":"/data"}`),
	}
	for i := range calls {
		calls[i].Preopens = pre
	}
	check(t, o, calls, []string{
		`["/data"]`,
		`{"ok":["a.txt","sub"]}`,
		`{"ok":"hello\n"}`,
		`{"ok":null}`,
		`{"err":"no-entry"}`,
		`{"ok":2}`,
	})
	if b, err := os.ReadFile(filepath.Join(host, "sub", "b.txt")); err != nil || string(b) != "written" {
		t.Errorf("write-file wrote %q, %v", b, err)
	}
}

// The reference example and the weather component reach a loopback API through wasi:http
// (jco's preview2-shim runs it), with the key from wasi:config/store.
func TestOracleHTTP(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		keys = append(keys, r.URL.Path+" "+q.Get("appid"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/weather":
			json.NewEncoder(w).Encode(map[string]any{"city": q.Get("q"), "temp": 21.5})
		case "/geo/1.0/direct":
			json.NewEncoder(w).Encode([]map[string]any{{"name": q.Get("q"), "country": "FR", "lat": 48.85, "lon": 2.35}})
		case "/data/2.5/weather":
			json.NewEncoder(w).Encode(map[string]any{"main": map[string]any{"temp": 21.5}, "weather": []map[string]any{{"description": "clear sky"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()

	o := cmtest.StartOracle(t)
	env := map[string]string{"API_KEY": "sk-http-canary", "ENDPOINT_URL": api.URL}
	ref := call(cmtest.Path(t, "ref-example"), "fetch-weather", `{"city":"Paris"}`)
	ref.Env = env
	weather := call(cmtest.Path(t, "js-weather"), "get-weather", `{"city":"Paris"}`)
	weather.Env = env
	noKey := call(cmtest.Path(t, "ref-example"), "fetch-weather", `{"city":"Paris"}`)
	check(t, o, []cmtest.Call{ref, weather, noKey}, []string{
		`{"ok":"{\"city\":\"Paris\",\"temp\":21.5}"}`,
		`{"ok":"{\"city\":\"Paris\",\"country\":\"FR\",\"lat\":48.85,\"lon\":2.35,\"temperature\":21.5,\"description\":\"clear sky\"}"}`,
		`{"err":"API_KEY not configured"}`,
	})
	mu.Lock()
	defer mu.Unlock()
	want := []string{"/weather sk-http-canary", "/geo/1.0/direct sk-http-canary", "/data/2.5/weather sk-http-canary"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("the API saw %q, want %q", keys, want)
	}
}

// BenchmarkOracleCall measures one warm call through the oracle: a fresh instance of the
// every-kind component, one echo, the JSON both ways.
func BenchmarkOracleCall(b *testing.B) {
	o := cmtest.StartOracle(b)
	c := call(cmtest.Path(b, "js-kinds"), "echo-string", `{"v":"hello"}`)
	if _, err := o.Call(c); err != nil { // transpile and compile once
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		out, err := o.Call(c)
		if err != nil || string(out.Result) != `"hello"` {
			b.Fatalf("%+v %v", out, err)
		}
	}
}
