package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// hiddenMemoryModule is a 43-byte command whose one memory, not exported, asks for
// 65,536 pages (4 GiB) at start.
const hiddenMemoryModule = "\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
	"\x03\x02\x01\x00" + // function section
	"\x05\x05\x01\x00\x80\x80\x04" + // memory section: min 65,536 pages
	"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start only
	"\x0a\x04\x01\x02\x00\x0b" // code section

// TestHiddenMemoryRefusedAtLoad loads the hidden-memory module with the process's
// address space capped at 3.5 GB (ulimit -v), less than the 4 GiB the module asks
// for: a host that allocated the memory before checking it would die ("fatal error:
// out of memory"); wassette refuses the module with a message naming the size and
// the limit. Loading and calling an ordinary component under the same cap shows the
// cap leaves room for normal work.
func TestHiddenMemoryRefusedAtLoad(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("ulimit -v is a Linux test here")
	}
	e := newEnv(t)
	wasm := filepath.Join(t.TempDir(), "hidden.wasm")
	if err := os.WriteFile(wasm, []byte(hiddenMemoryModule), 0o644); err != nil {
		t.Fatal(err)
	}
	capped := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(context.Background(), "sh", append([]string{"-c", `ulimit -v 3500000 && exec "$0" "$@"`, e.Bin}, args...)...)
		cmd.Env, cmd.Dir = e.Vars, e.Home
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if exit, ok := err.(*exec.ExitError); ok {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	out, code := capped("component", "load", wasm)
	if code != 1 || !strings.Contains(out, "the module needs 4 GiB of memory to start") || !strings.Contains(out, "more than the 256 MiB limit") {
		t.Errorf("load of the hidden-memory module: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "fatal error") || strings.Contains(out, "goroutine ") {
		t.Errorf("the process crashed:\n%s", out)
	}
	if out, code := capped("component", "load", exampleWasm(t, "echo")); code != 0 {
		t.Fatalf("loading echo under the same cap: exit %d\n%s", code, out)
	}
	if out, code := capped("tool", "invoke", "echo", "--args", `{"under":"cap"}`); code != 0 || !strings.Contains(out, `"under":"cap"`) {
		t.Errorf("calling echo under the same cap: exit %d\n%s", code, out)
	}
}
