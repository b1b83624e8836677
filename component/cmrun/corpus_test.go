package cmrun

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/wassette/wassette/internal/cmtest"
)

// TestCorpusCompiles compiles every component of the corpus, each of which must
// import only what wassette provides and offer tools. .ci/run runs it alone, without
// the race detector, before the test suite: it fills the corpus's compilation
// cache, from which the suite's tests (compiled with -race) load machine code.
func TestCorpusCompiles(t *testing.T) {
	dir := cmtest.Dir(t)
	names := cmtest.Names()
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
