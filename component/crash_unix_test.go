//go:build unix

package component_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/wassette/wassette/component"
	"github.com/wassette/wassette/internal/crashpoint"
	"github.com/wassette/wassette/policy"
	"github.com/wassette/wassette/secretstore"
)

// The crash helper: the test binary, run with crashStepVar set, opens a Manager on the
// data folder crashRootVar, loads the module crashWasmVar there as component "svc" as a
// person does, and SIGKILLs itself at that step of the load.
const (
	crashStepVar  = "COMPONENT_CRASH_STEP"
	crashRootVar  = "COMPONENT_CRASH_ROOT"
	crashWasmVar  = "COMPONENT_CRASH_WASM"
	crashCacheVar = "COMPONENT_CRASH_CACHE"
)

func crashHelperRequested() bool { return os.Getenv(crashStepVar) != "" }

func crashHelper() int {
	step, root := os.Getenv(crashStepVar), os.Getenv(crashRootVar)
	crashpoint.Set(func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	m, err := openAt(root, os.Getenv(crashCacheVar))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := m.Load(context.Background(), os.Getenv(crashWasmVar), component.LoadOptions{ID: "svc", Approve: true}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 3 // the step was never reached
}

// openAt opens a Manager on the data folder root, laid out as the fixture lays it out.
func openAt(root, cache string) (*component.Manager, error) {
	secrets, err := secretstore.Open(filepath.Join(root, "secrets"))
	if err != nil {
		return nil, err
	}
	policies, err := policy.Open(filepath.Join(root, "components"))
	if err != nil {
		return nil, err
	}
	return component.Open(context.Background(), component.Config{
		Dir: filepath.Join(root, "components"), CacheDir: cache, Secrets: secrets, Policies: policies,
		Environ: []string{},
	})
}

// TestLoadCrashAtEveryStep replaces a component whose secrets a person set, in a helper
// process that is killed at each step of the load (the consent record's, and the
// registry's), and checks that the component then works as before or as new: its
// module runs, and it receives its secret.
func TestLoadCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	steps := []struct {
		name string
		tool string // the tool of the module that must be loaded after the crash
	}{
		{"component: new module approved", "env"},
		{"registry: new module written", "env"},
		{"registry: metadata switched", "twin_env"},
		{"registry: old module removed", "twin_env"},
		{"component: module registered", "twin_env"},
		{"component: approval narrowed", "twin_env"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.load(t, "echo", "svc")
			f.setSecrets(t, "svc", map[string]string{"TOKEN": "tok"})

			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashStepVar+"="+step.name, crashRootVar+"="+f.root,
				crashWasmVar+"="+wasmPath("envtwin"), crashCacheVar+"="+f.cacheDir)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper was not killed at %q: %v\n%s", step.name, err, out)
			}

			m, err := openAt(f.root, f.cacheDir) // the next process
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(context.Background())
			if got := toolNames(m); !slices.Contains(got, "svc/"+step.tool) {
				t.Fatalf("after a crash at %q the tools are %q, want those of the module with %s", step.name, got, step.tool)
			}
			_, env := callEnv(t, m, step.tool)
			wantEnv(t, "after a crash at "+step.name, env, map[string]string{"TOKEN": "tok"})
		})
	}
}
