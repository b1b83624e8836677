package cmrun

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wassette/wassette/internal/cmtest"
)

// BenchmarkHTTPCall compares, in one run and against one loopback API, the reference
// document's JavaScript example's call through wassette (a fresh instance, wasi:http on
// net/http through the network policy, JSON both ways), the same call through the jco
// reference host (Node and preview2-shim), and a bare Go http.Get of the same URL.
func BenchmarkHTTPCall(b *testing.B) {
	a := newAPI(b, weather)
	const want = `{"ok":"{\"city\":\"Paris\",\"temp_c\":21.5}"}`
	args := json.RawMessage(`{"city":"Paris"}`)
	b.Run("wassette", func(b *testing.B) {
		m := module(b, "ref-example")
		opts := refOpts(a, testKey, a.grant())
		for b.Loop() {
			if r, err := m.Call(context.Background(), "fetch-weather", args, opts); err != nil || r.Text != want {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("jco", func(b *testing.B) {
		o := cmtest.StartOracle(b)
		c := cmtest.Call{Component: cmtest.Path(b, "ref-example"), Tool: "fetch-weather", Args: args,
			Env: map[string]string{"API_KEY": testKey, "ENDPOINT_URL": a.URL}}
		if _, err := o.Call(c); err != nil { // transpiles once
			b.Fatal(err)
		}
		for b.Loop() {
			out, err := o.Call(c)
			if err != nil || !strings.Contains(string(out.Result), `Paris`) {
				b.Fatal(string(out.Result), err)
			}
		}
	})
	b.Run("http.Get", func(b *testing.B) {
		url := a.URL + "/weather?q=Paris&appid=" + testKey
		for b.Loop() {
			resp, err := http.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !strings.Contains(string(body), "Paris") {
				b.Fatal(string(body), err)
			}
		}
	})
}
