package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/wassette/wassette/secretstore"
)

// exitError ends the process with a code of its own (a cancelled prompt: 130 for
// Ctrl-C, 128+n for signal n).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// errNoTerminal is returned by promptHidden when stdin is not a terminal.
var errNoTerminal = errors.New("stdin is not a terminal")

// promptHidden asks on stderr for a value typed on the terminal at stdin, without echo.
// The terminal is put in raw mode for the read and restored on every way out: Enter,
// Ctrl-C (exit 130), Ctrl-D (cancel, exit 1), and SIGINT, SIGTERM, SIGHUP or SIGQUIT
// from elsewhere (exit 128+n). Backspace and Ctrl-U edit the line.
func (a *app) promptHidden(prompt string) (string, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errNoTerminal
	}
	fd := int(f.Fd())
	// Catch the signals before the terminal changes, so that none of them can end the
	// process with the terminal still raw.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	fmt.Fprint(a.stderr, prompt)
	old, err := term.MakeRaw(fd)
	if err != nil {
		signal.Stop(sigs)
		fmt.Fprintln(a.stderr)
		return "", fmt.Errorf("prepare the terminal: %w", err)
	}
	restore := sync.OnceFunc(func() {
		_ = term.Restore(fd, old)
		signal.Stop(sigs)
		fmt.Fprintln(a.stderr)
	})
	defer restore()

	type result struct {
		value string
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := readHiddenLine(f)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.value, r.err
	case sig := <-sigs:
		restore()
		code := 1
		if s, ok := sig.(syscall.Signal); ok {
			code = 128 + int(s)
		}
		return "", exitError{code, fmt.Errorf("cancelled by %v; nothing was stored", sig)}
	}
}

// readHiddenLine reads one line from a terminal in raw mode.
func readHiddenLine(r io.Reader) (string, error) {
	var line []byte
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 0 {
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return "", exitError{1, errors.New("cancelled; nothing was stored")}
			}
			return "", fmt.Errorf("read from the terminal: %w", err)
		}
		switch c := b[0]; c {
		case '\r', '\n':
			return string(line), nil
		case 3: // Ctrl-C
			return "", exitError{130, errors.New("cancelled (Ctrl-C); nothing was stored")}
		case 4: // Ctrl-D
			return "", exitError{1, errors.New("cancelled (Ctrl-D); nothing was stored")}
		case 0x7f, '\b': // Backspace: drop the last character, not just its last byte
			if len(line) > 0 {
				_, size := utf8.DecodeLastRune(line)
				line = line[:len(line)-size]
			}
		case 0x15: // Ctrl-U: clear the line
			line = line[:0]
		default:
			if len(line) > secretstore.MaxValueLen {
				return "", usagef("the value typed is over %d bytes; pass a long value on stdin ('-')", secretstore.MaxValueLen)
			}
			line = append(line, c)
		}
	}
}
