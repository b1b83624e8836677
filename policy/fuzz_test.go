package policy_test

import (
	"reflect"
	"testing"

	"github.com/wassette/wassette/internal/strictyaml/yamltest"
	"github.com/wassette/wassette/policy"
)

// FuzzParse feeds arbitrary bytes to the policy reader: it must not panic, whatever it
// accepts must survive a rewrite unchanged, and no error may quote a value (the seeds mark
// theirs with SECRET, and the check follows that mark through the fuzzer's changes).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", wassetteExample, "version: \"1.0\"\n", "permissions: {netwrk: {}}\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: *SECRETalias\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: &SECRETanchor x\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: !SECRETtag\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: ! SECRET1\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: !!str SECRET2\n",
		"permissions:\n  <<: *SECRET3\n", "permissions:\n  <<: {network: {allow: [{host: SECRET4}]}}\n",
		"base: &SECRET5 {}\npermissions: *SECRET5\n",
		"permissions:\n  network:\n    allow:\n      - host: \"SECRET:99999\"\n",
		"permissions:\n  storage:\n    allow:\n      - uri: SECRET6\n        access: [SECRET7]\n",
		"permissions:\n  resources:\n    limits:\n      memory: SECRET8\n      timeout: SECRET9\n",
		"version: SECRET\n", "description: [SECRET]\n", "permissions:\n  network:\n    allow: SECRET\n",
		"permissions:\n  environment:\n    allow:\n      - key: \"SECRET KEY\"\n",
		"permissions:\n  environment:\n    allow:\n      - key: A\n        value: \"SECRET\\0\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse("f.yaml", data)
		if err != nil {
			if v, ok := yamltest.Leak(err.Error(), yamltest.Case{Data: data, Marker: "SECRET"}); ok {
				t.Fatalf("the error quotes %q: %v", v, err)
			}
			return
		}
		out, err := p.Marshal()
		if err != nil {
			t.Fatalf("an accepted policy does not marshal: %v", err)
		}
		p2, err := policy.Parse("again", out)
		if err != nil {
			t.Fatalf("the rewrite of an accepted policy does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(p, p2) {
			t.Fatalf("the rewrite changed the policy:\n%+v\n%+v\n%s", p, p2, out)
		}
	})
}
