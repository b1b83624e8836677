// Package cmtest gives tests wassette's corpus of WASI 0.2 components, built from the sources
// in testdata/components with pinned tools, and the jco reference host ("oracle") that
// differential tests compare wassette's results against. It is imported only by tests.
//
// A test asks for a component by name:
//
//	wasm := cmtest.Path(t, "js-kinds")
//
// The corpus is the folder named by $WASSETTE_CORPUS_DIR when that is set (CI builds it once
// per run with .ci/corpus.sh); otherwise it is built on first use into the user's cache folder,
// keyed by a hash of the sources, under a file lock so that parallel test binaries build it
// once. Without Node.js and npm the corpus cannot be built: a test then fails, or is skipped
// when $CI is unset.
package cmtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofrs/flock"
)

// EnvCorpusDir names the environment variable that points at a built corpus.
const EnvCorpusDir = "WASSETTE_CORPUS_DIR"

// names lists the components of the corpus (see testdata/components/README.md).
var names = []string{
	"c-adapter",
	"c-direct",
	"fs-list",
	"js-env",
	"js-iface",
	"js-kinds",
	"js-limits",
	"js-weather",
	"ref-example",
}

// Names returns the names of the corpus's components, sorted.
func Names() []string { return slices.Clone(names) }

var (
	once      sync.Once
	corpusDir string
	corpusErr error

	// The cache folder is read once, before any test can change $XDG_CACHE_HOME or $HOME
	// for itself.
	userCache, userCacheErr = os.UserCacheDir()
)

// errNoTools marks a corpus that cannot be built here because Node.js or npm is missing.
var errNoTools = errors.New("cmtest: the component corpus needs Node.js (20 or later), npm, bash, and Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32")

// Dir returns the folder that holds the built corpus: <name>.wasm and <name>.wit for each
// component, and corpus.json.
func Dir(t testing.TB) string {
	t.Helper()
	once.Do(func() { corpusDir, corpusErr = locate() })
	if corpusErr != nil {
		if errors.Is(corpusErr, errNoTools) && os.Getenv("CI") == "" {
			t.Skipf("%v (set %s to a corpus built with .ci/corpus.sh, or install them)", corpusErr, EnvCorpusDir)
		}
		t.Fatal(corpusErr)
	}
	return corpusDir
}

// Path returns the path of the component called name ("js-env", "js-kinds", ...).
func Path(t testing.TB, name string) string {
	t.Helper()
	if !slices.Contains(names, name) {
		t.Fatalf("cmtest: no component %q in the corpus; it has %s", name, strings.Join(names, ", "))
	}
	p := filepath.Join(Dir(t), name+".wasm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("cmtest: component %q is missing from the corpus: %v", name, err)
	}
	return p
}

// SourceDir returns testdata/components of this repository.
func SourceDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "components")
}

func repoRoot() string { return filepath.Join(SourceDir(), "..", "..") }

func locate() (string, error) {
	if d := os.Getenv(EnvCorpusDir); d != "" {
		if err := complete(d); err != nil {
			return "", fmt.Errorf("cmtest: %s=%s is not a built corpus: %v (build it with: bash .ci/corpus.sh %s)", EnvCorpusDir, d, err, d)
		}
		return d, nil
	}
	for _, tool := range []string{"node", "npm", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("%w: %s not found", errNoTools, tool)
		}
	}
	if userCacheErr != nil {
		return "", fmt.Errorf("cmtest: no cache folder for the corpus: %v (set %s)", userCacheErr, EnvCorpusDir)
	}
	hash, err := sourceHash()
	if err != nil {
		return "", err
	}
	root := filepath.Join(userCache, "wassette", "corpus")
	dir := filepath.Join(root, hash)
	if complete(dir) == nil {
		markUsed(dir)
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("cmtest: %v", err)
	}
	lock := flock.New(filepath.Join(root, "build.lock"))
	if err := lock.Lock(); err != nil {
		return "", fmt.Errorf("cmtest: lock %s: %v", lock.Path(), err)
	}
	defer lock.Unlock()
	if complete(dir) == nil { // another test binary built it while we waited
		return dir, nil
	}
	tmp := fmt.Sprintf("%s.tmp-%d", dir, os.Getpid())
	os.RemoveAll(tmp)
	cmd := exec.Command("bash", filepath.Join(repoRoot(), ".ci", "corpus.sh"), tmp)
	cmd.Dir = repoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) && ee.ExitCode() == 3 {
			return "", fmt.Errorf("%w: %s", errNoTools, strings.TrimSpace(string(out)))
		}
		return "", fmt.Errorf("cmtest: building the component corpus failed (bash .ci/corpus.sh): %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("cmtest: %v", err)
	}
	prune(root, dir)
	return dir, nil
}

// staleAfter is how long a corpus built from other sources is kept unused.
const staleAfter = 72 * time.Hour

// markUsed records that dir is in use, so that prune keeps it.
func markUsed(dir string) {
	now := time.Now()
	os.Chtimes(filepath.Join(dir, "corpus.json"), now, now)
}

// prune removes corpora built from other sources that no test has used for staleAfter
// (each is about 100 MB). The caller holds the build lock.
func prune(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if !e.IsDir() || dir == keep || strings.Contains(e.Name(), ".tmp-") {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, "corpus.json"))
		if err == nil && time.Since(fi.ModTime()) > staleAfter {
			os.RemoveAll(dir)
		}
	}
}

// complete reports whether dir holds every component of the corpus.
func complete(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "corpus.json"))
	if err != nil {
		return err
	}
	var m struct {
		Components map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("corpus.json: %v", err)
	}
	for _, n := range names {
		if _, ok := m.Components[n]; !ok {
			return fmt.Errorf("corpus.json lists no %q", n)
		}
	}
	return nil
}

// sourceHash hashes what the corpus is built from: testdata/components (without node_modules,
// build output and Markdown) and .ci/corpus.sh, so that a changed source builds a new corpus.
func sourceHash() (string, error) {
	h := sha256.New()
	add := func(path, name string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", name)
		_, err = io.Copy(h, f)
		h.Write([]byte{0})
		return err
	}
	src := SourceDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			if rel == "node_modules" || rel == "out" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(path, ".md") {
			return nil // documentation does not change what is built
		}
		return add(path, filepath.ToSlash(rel))
	})
	if err == nil {
		err = add(filepath.Join(repoRoot(), ".ci", "corpus.sh"), ".ci/corpus.sh")
	}
	if err != nil {
		return "", fmt.Errorf("cmtest: hashing the corpus sources: %v", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}
