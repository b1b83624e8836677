//go:build unix

package registry

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"syscall"
	"testing"

	"github.com/wassette/wassette/internal/crashpoint"
)

// The crash helper: when the test binary runs with these variables set, TestMain adds
// crashModule as component "c" to the registry in crashDirVar and kills itself with
// SIGKILL at the step named by crashStepVar.
const (
	crashDirVar  = "REGISTRY_CRASH_DIR"
	crashStepVar = "REGISTRY_CRASH_STEP"
)

var crashModule = append(append([]byte(nil), wasm...), 0xc2)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirVar); dir != "" {
		os.Exit(crashHelper(dir, os.Getenv(crashStepVar)))
	}
	os.Exit(m.Run())
}

func crashHelper(dir, step string) int {
	crashpoint.Set(func(s string) {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	})
	r, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := r.Add("c", crashModule, Metadata{Source: "new"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 3 // the step was never reached
}

// TestCrashAtEveryStep kills a process at each step of replacing a component and checks
// that the registry then holds the old component or the new one, whole, and no
// left-overs once opened again.
func TestCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		name   string
		wantV2 bool
	}{
		{"registry: new module written", false},
		{"registry: metadata switched", true},
		{"registry: old module removed", true},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			dir := tempDir(t)
			if err := open(t, dir).Add("c", wasm, Metadata{Source: "old"}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashDirVar+"="+dir, crashStepVar+"="+step.name)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("the helper was not killed at %q: %v\n%s", step.name, err, out)
			}

			r := open(t, dir) // as the next process would
			meta, err := r.Get("c")
			if err != nil {
				t.Fatal(err)
			}
			data, err := r.Wasm("c")
			if err != nil {
				t.Fatalf("after a crash at %q the component does not work: %v", step.name, err)
			}
			want, source := wasm, "old"
			if step.wantV2 {
				want, source = crashModule, "new"
			}
			if string(data) != string(want) || meta.Source != source {
				t.Errorf("after a crash at %q: module %q from %q, want %q from %q", step.name, data, meta.Source, want, source)
			}
			if got, want := names(t, dir), []string{".lock", "c.json", meta.Module}; !reflect.DeepEqual(got, want) {
				t.Errorf("after a crash at %q and a reopen the folder holds %v, want %v", step.name, got, want)
			}
		})
	}
}
