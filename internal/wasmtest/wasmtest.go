// Package wasmtest builds wassette's example and test components for WASI preview1, for
// tests: each Go package once per test binary, into a temporary folder that Cleanup
// removes. It is imported only by tests.
package wasmtest

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{} // package -> .wasm path
)

// Build returns the module built from each package, given as a path relative to the
// module root ("examples/weather"), as <folder>/<last element>.wasm; packages not built
// yet are built in one go build.
func Build(pkgs ...string) ([]string, error) {
	mu.Lock()
	defer mu.Unlock()
	var missing []string
	for _, p := range pkgs {
		if _, ok := built[p]; !ok && !slices.Contains(missing, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		if err := build(missing); err != nil {
			return nil, err
		}
	}
	paths := make([]string, len(pkgs))
	for i, p := range pkgs {
		paths[i] = built[p]
	}
	return paths, nil
}

func build(pkgs []string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "wassette-wasm-"); err != nil {
			return err
		}
	}
	// go build -o <folder>/ names each module after its package's last path element;
	// a folder per batch keeps names from different batches apart.
	out := filepath.Join(dir, fmt.Sprint(len(built)))
	args := []string{"build", "-o", out + string(filepath.Separator)}
	for _, p := range pkgs {
		args = append(args, "./"+path.Clean(p))
	}
	cmd := exec.Command(goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %v for wasip1: %v\n%s", pkgs, err, msg)
	}
	for _, p := range pkgs {
		// Named like a user's module, <name>.wasm, so that IDs derive as they would.
		wasm := filepath.Join(out, path.Base(p)+".wasm")
		if err := os.Rename(filepath.Join(out, path.Base(p)), wasm); err != nil {
			return err
		}
		built[p] = wasm
	}
	return nil
}

// BuildNamed builds the packages of names (name -> package, as for Build) in one go
// build and returns name -> module path.
func BuildNamed(names map[string]string) (map[string]string, error) {
	keys := slices.Sorted(maps.Keys(names))
	pkgs := make([]string, len(keys))
	for i, k := range keys {
		pkgs[i] = names[k]
	}
	paths, err := Build(pkgs...)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(keys))
	for i, k := range keys {
		out[k] = paths[i]
	}
	return out, nil
}

// Cleanup removes every module Build made.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
		dir, built = "", map[string]string{}
	}
}

// moduleRoot finds go.mod above the working directory (go test runs in the package's
// folder).
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("wasmtest: no go.mod above the working directory")
		}
		d = parent
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
