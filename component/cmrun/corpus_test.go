package cmrun

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCorpusCompiles compiles every component of the corpus, each of which must
// import only what wassette provides and offer tools. .ci/run runs it alone, without
// the race detector, before the test suite: it fills the corpus's compilation
// cache, from which the suite's tests (compiled with -race) load machine code.
func TestCorpusCompiles(t *testing.T) {
	dir := filepath.Dir(corpusPath(t, "js-env"))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".wasm"); ok {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatalf("no components in %s", dir)
	}
	// Two at a time: the machine has two cores, and a JS component's engine module
	// takes about 240 MB to compile.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m, err := compileCorpus(filepath.Join(dir, name+".wasm"))
			if err != nil {
				t.Error(err)
				return
			}
			if len(m.Tools()) == 0 {
				t.Errorf("%s has no tools", name)
			}
		}()
	}
	wg.Wait()
}
