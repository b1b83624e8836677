//go:build linux

package test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// promptRun is `wassette secret set` prompting on a real pseudo-terminal.
type promptRun struct {
	cmd            *exec.Cmd
	ptmx, tty      *os.File
	shown          recorder // what the terminal displays (echo would land here)
	stdout, stderr recorder
	before         string // the terminal's settings before the command ran (stty -g)
	done           chan struct{}
}

// sttyState returns the settings of the terminal tty as `stty -g` prints them.
func sttyState(t *testing.T, tty *os.File) string {
	t.Helper()
	cmd := exec.Command("stty", "-g")
	cmd.Stdin = tty
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("stty cannot read the pseudo-terminal: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startPrompt starts wassette with args on a pseudo-terminal and waits until it has put
// the terminal in raw mode to read the hidden value.
func startPrompt(t *testing.T, e *wassetteEnv, args ...string) *promptRun {
	t.Helper()
	if _, err := exec.LookPath("stty"); err != nil {
		t.Skip("no stty")
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	r := &promptRun{ptmx: ptmx, tty: tty, done: make(chan struct{})}
	r.before = sttyState(t, tty)
	r.cmd = e.Command(t.Context(), args...)
	r.cmd.Stdin, r.cmd.Stdout, r.cmd.Stderr = tty, &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // record what the terminal shows; also keeps the child from blocking on it
		buf := make([]byte, 1024)
		for {
			n, err := ptmx.Read(buf)
			r.shown.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() { r.cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(60 * time.Second) // a hang guard
	for !strings.Contains(r.stderr.String(), "input hidden") || sttyState(t, tty) == r.before {
		select {
		case <-r.done:
			t.Fatalf("wassette exited before prompting: %s", r.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no hidden prompt; stderr: %s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

// finish waits for the command and returns its exit code; it fails the test unless the
// terminal's settings are back to what they were.
func (r *promptRun) finish(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
		r.cmd.Process.Kill()
		t.Fatalf("wassette did not exit; stderr: %s", r.stderr.String())
	}
	if after := sttyState(t, r.tty); after != r.before {
		t.Errorf("the terminal was left changed: stty -g %s, was %s", after, r.before)
	}
	return r.cmd.ProcessState.ExitCode() // -1 if a signal ended it: the terminal was not restored
}

func TestPromptStoresWithoutEcho(t *testing.T) {
	e := newEnv(t)
	const secret = "typed-canary-2718281828"
	r := startPrompt(t, e, "secret", "set", "c", "TYPED")
	r.ptmx.Write([]byte(secret + "x\x7f\r")) // a Backspace removes the x
	if code := r.finish(t); code != 0 {
		t.Fatalf("exit %d; stderr %s", code, r.stderr.String())
	}
	for where, b := range map[string][]byte{"the terminal": r.shown.Bytes(), "stdout": r.stdout.Bytes(), "stderr": r.stderr.Bytes()} {
		assertNoCanary(t, where, b, secret)
	}
	if out, _ := must(t, e, 0, "", "secret", "list", "c", "--show-values", "--yes"); out != "TYPED: "+secret+"\n" {
		t.Errorf("stored %q", out)
	}
}

// TestPromptCancelRestoresTheTerminal cancels the prompt every way a person can, and by
// signals from elsewhere: nothing is stored, the exit code says how it ended, and the
// terminal is as it was (echo on).
func TestPromptCancelRestoresTheTerminal(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		cancel func(r *promptRun)
		code   int
	}{
		{"Ctrl-C", func(r *promptRun) { r.ptmx.Write([]byte("half-typed\x03")) }, 130},
		{"Ctrl-D", func(r *promptRun) { r.ptmx.Write([]byte("\x04")) }, 1},
		{"Ctrl-D after text", func(r *promptRun) { r.ptmx.Write([]byte("half\x04")) }, 1},
		{"SIGTERM", func(r *promptRun) { r.cmd.Process.Signal(syscall.SIGTERM) }, 128 + int(syscall.SIGTERM)},
		{"SIGINT", func(r *promptRun) { r.cmd.Process.Signal(syscall.SIGINT) }, 130},
		{"SIGHUP", func(r *promptRun) { r.cmd.Process.Signal(syscall.SIGHUP) }, 128 + int(syscall.SIGHUP)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startPrompt(t, e, "secret", "set", "c", "CANCELLED")
			tc.cancel(r)
			if code := r.finish(t); code != tc.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.code, r.stderr.String())
			}
			if !strings.Contains(r.stderr.String(), "nothing was stored") {
				t.Errorf("stderr does not say nothing was stored: %s", r.stderr.String())
			}
			if bytes.Contains(r.shown.Bytes(), []byte("half")) {
				t.Errorf("the terminal echoed the typed text: %q", r.shown.Bytes())
			}
		})
	}
	if out, _ := must(t, e, 0, "", "secret", "list", "c"); out != "" {
		t.Errorf("a cancelled prompt stored %q", out)
	}
}

// TestPromptRefusesEmpty: Enter on an empty line stores nothing, unless --allow-empty.
func TestPromptRefusesEmpty(t *testing.T) {
	e := newEnv(t)
	r := startPrompt(t, e, "secret", "set", "c", "EMPTY")
	r.ptmx.Write([]byte("\r"))
	if code := r.finish(t); code != 2 || !strings.Contains(r.stderr.String(), "--allow-empty") {
		t.Errorf("empty at the prompt: exit %d, stderr %s", code, r.stderr.String())
	}
	r = startPrompt(t, e, "secret", "set", "--allow-empty", "c", "EMPTY")
	r.ptmx.Write([]byte("\r"))
	if code := r.finish(t); code != 0 {
		t.Errorf("empty with --allow-empty: exit %d, stderr %s", code, r.stderr.String())
	}
	if out, _ := must(t, e, 0, "", "secret", "list", "c", "-o", "json"); !strings.Contains(out, `"key": "EMPTY"`) {
		t.Errorf("--allow-empty stored nothing: %s", out)
	}
}
