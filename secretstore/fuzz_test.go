package secretstore

import (
	"strings"
	"testing"

	"github.com/wassette/wassette/internal/strictyaml/yamltest"
)

// FuzzParse feeds arbitrary bytes to the secrets-file reader: it must not panic, whatever
// it accepts must survive a rewrite unchanged, and no error may quote a value (the seeds
// mark theirs with SECRET, and the check follows that mark through the fuzzer's changes).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"A: *SECRETalias\n", "A: &SECRETanchor v\nB: *SECRETanchor\n", "PASSWORD: !SECRETtag\n",
		"TOKEN: &SECRET1 rest\n", "A: ! SECRET2\n", "A: !!str SECRET3\n", "A: !<tag:SECRET,2000:x> y\n",
		"<<: *SECRET4\n", "<<: {A: SECRET5}\n", "A: x\n<<: [{B: SECRET6}]\n", "&SECRET7 A: b\n",
		"*SECRET8: b\n", "A: [*SECRET9]\n", "%TAG !e! tag:SECRET,2000:\n---\nA: !e!x y\n",
		"A: \"SECRET\\q\"\n", "A: \"SECRET\n", "A: SECRET: x\n", "A: @SECRET\n", "\"A SECRET\": x\n",
		"A: b\n---\nB: SECRET\n",
		"", "# only a comment\n", "A: b\n", "TIMEOUT: 30\nFLAG: on\nEMPTY:\nT: ~\n",
		"PEM: |\n  -----BEGIN-----\n  x\n", "A: [1]\n", "A:\n  b: c\n", "A: 1\nA: 2\n",
		"- x\n", "A: &x y\nB: *x\n", "\"A B\": c\n", "A: \"\\0\"\n", "A: \xff\n", "{A: b}\n",
		"A: 'it''s'\n", "A: \"\\u2028\\t\"\n", "---\nA: b\n...\n", "A: !!binary aGk=\n",
		"<<: {a: b}\n", "? A\n: b\n", "%YAML 1.2\n---\nA: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMap("f.yaml", data)
		if err != nil {
			if v, ok := yamltest.Leak(err.Error(), yamltest.Case{Data: data, Marker: "SECRET"}); ok {
				t.Fatalf("the error quotes %q: %v", v, err)
			}
			return
		}
		out := encode(header(data), m)
		m2, err := parseMap("f.yaml", out)
		if err != nil {
			t.Fatalf("rewrite of an accepted file does not parse: %v\n%s", err, out)
		}
		if len(m) != len(m2) {
			t.Fatalf("rewrite changed the key count: %d -> %d", len(m), len(m2))
		}
		for k, v := range m {
			if m2[k] != v {
				t.Fatalf("rewrite changed %q: %q -> %q", k, v, m2[k])
			}
		}
	})
}

// FuzzKeyValue checks that any key and value the store accepts are written so that they
// read back byte for byte, and that a rejection never quotes the value.
func FuzzKeyValue(f *testing.F) {
	for _, s := range [][2]string{
		{"API_KEY", "sk-123"}, {"on", "yes"}, {"a:b", "c: d # e"}, {"K", "line\nline\r\n"},
		{"K", "\"quoted\" and \\back"}, {"K", "\u2028\u0085\ufeff\x7f\x1b"}, {"#K", "&anchor *alias"},
		{"K=V", "x"}, {"K V", "x"}, {"K", "nul\x00"}, {"K", "\xff"}, {"-", "- item"}, {"null", "~"},
		{"K", " leading and trailing "}, {"K", "🙂 \U0001F600"}, {"K", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		kerr, verr := ValidateKey(k), ValidateValue(v)
		if verr != nil && len(v) >= 8 && strings.Contains(verr.Error(), v) {
			t.Fatalf("value error quotes the value: %v", verr)
		}
		if kerr != nil || verr != nil {
			return
		}
		hdr := newHeader("fuzz", false)
		m, err := parseMap("f.yaml", encode(hdr, map[string]string{k: v}))
		if err != nil {
			t.Fatalf("encoded %q: %q does not parse: %v", k, v, err)
		}
		if got, ok := m[k]; !ok || got != v || len(m) != 1 {
			t.Fatalf("round trip of %q: %q gave %q", k, v, m)
		}
	})
}
