package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// The binary is built once per test process, into a folder TestMain removes.
var build struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildWassette builds the wassette binary once per test process and returns its path.
// Set WASSETTE_BIN to test a binary built elsewhere instead.
func buildWassette(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		if p := os.Getenv("WASSETTE_BIN"); p != "" {
			build.path, build.err = filepath.Abs(p)
			return
		}
		build.dir, build.err = os.MkdirTemp("", "wassette-e2e-")
		if build.err != nil {
			return
		}
		name := "wassette"
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		build.path = filepath.Join(build.dir, name)
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		cmd := exec.Command(goTool, "build", "-o", build.path, ".")
		cmd.Dir = ".." // the module root: go test runs in the package folder
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = errors.New("go build failed: " + err.Error() + "\n" + string(out))
		}
	})
	if build.err != nil {
		t.Fatalf("building wassette: %v", build.err)
	}
	return build.path
}

// removeBuild deletes the built binary; TestMain calls it after the tests.
func removeBuild() {
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
}

// wassetteEnv is a hermetic environment for running the binary: HOME, the XDG folders
// and WASSETTE_DATA_DIR all point into a temporary folder of the test, and no other
// WASSETTE_ variable of the caller leaks in.
type wassetteEnv struct {
	Bin     string   // the binary
	Home    string   // HOME, also holding the XDG folders
	DataDir string   // WASSETTE_DATA_DIR
	Vars    []string // the whole environment, KEY=VALUE; add to it before running
}

func newEnv(t testing.TB) *wassetteEnv {
	t.Helper()
	home := t.TempDir()
	e := &wassetteEnv{Bin: buildWassette(t), Home: home, DataDir: filepath.Join(home, "wassette-data")}
	e.Vars = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state"),
		"WASSETTE_DATA_DIR=" + e.DataDir,
		"TMPDIR=" + os.TempDir(),
	}
	if runtime.GOOS == "windows" {
		e.Vars = append(e.Vars, "APPDATA="+filepath.Join(home, "AppData"), "SystemRoot="+os.Getenv("SystemRoot"))
	}
	return e
}

// SecretsDir is where the binary keeps secrets in this environment.
func (e *wassetteEnv) SecretsDir() string { return filepath.Join(e.DataDir, "secrets") }

// With returns a copy of e with extra environment variables (KEY=VALUE).
func (e *wassetteEnv) With(vars ...string) *wassetteEnv {
	c := *e
	c.Vars = append(append([]string(nil), e.Vars...), vars...)
	return &c
}

// Command returns the binary as a command with args, in this environment.
func (e *wassetteEnv) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Bin, args...)
	cmd.Env = e.Vars
	cmd.Dir = e.Home
	return cmd
}

// Run runs the binary to completion with stdin and returns its output and exit code.
func (e *wassetteEnv) Run(t testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := e.Command(context.Background(), args...)
	cmd.Stdin = bytes.NewBufferString(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("running wassette %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}
