package runtime

import (
	"errors"
	"testing"
)

func TestParseDescriptionSecrets(t *testing.T) {
	t.Parallel()
	const tools = `"tools":[{"name":"get","description":"d","inputSchema":{"type":"object"}},{"name":"ping","description":"d","inputSchema":{"type":"object"}}]`
	d, err := ParseDescription([]byte(`{` + tools + `,"secrets":[{"key":"API_KEY","description":"The API key","tools":["get"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tools) != 2 || len(d.Secrets) != 1 || d.Secrets[0].Key != "API_KEY" || !d.Secrets[0].NeededBy("get") || d.Secrets[0].NeededBy("ping") {
		t.Fatalf("ParseDescription = %+v", d)
	}
	if d, err := ParseDescription([]byte(`{` + tools + `}`)); err != nil || d.Secrets != nil {
		t.Fatalf("without secrets: %+v, %v", d, err)
	}
	for name, doc := range map[string]string{
		"unknown field":  `{` + tools + `,"secrets":[{"key":"A","description":"d","default":"x"}]}`,
		"unknown tool":   `{` + tools + `,"secrets":[{"key":"A","description":"d","tools":["nope"]}]}`,
		"bad key":        `{` + tools + `,"secrets":[{"key":"A B","description":"d"}]}`,
		"no description": `{` + tools + `,"secrets":[{"key":"A"}]}`,
		"not an array":   `{` + tools + `,"secrets":{}}`,
	} {
		if _, err := ParseDescription([]byte(doc)); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: error = %v, want ErrProtocol", name, err)
		}
	}
}
