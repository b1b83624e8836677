package cmrun

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the schema snapshots in testdata")

// TestToolSnapshots keeps what the model sees of the every-kind component (each
// tool's name, description and schemas) as a file, so that a change shows up as a
// diff. go test ./component/cmrun -update rewrites it.
func TestToolSnapshots(t *testing.T) {
	for _, name := range []string{"js-kinds", "js-iface"} {
		m := module(t, name)
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(struct {
			Tools []Tool `json:"tools"`
		}{m.Tools()}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name+".tools.json")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./component/cmrun -run TestToolSnapshots -update)", err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("the tools of %s differ from %s; if the change is intended, run go test ./component/cmrun -run TestToolSnapshots -update\n%s", name, path, b.String())
		}
	}
}
