package secretpage

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Browse is the page for a person at a terminal (`wassette secret set <id> <key>
// --browser`): it serves one page for r in this process, writes its URL and expiry to
// w, tries to open it in the person's browser, and waits until a value is stored through
// it. It returns ErrExpired if the page expires first, and ctx's error if ctx ends
// first; nothing is stored then. The listener is gone when Browse returns.
//
// The browser is $BROWSER if set (a command that takes the URL as its argument), else
// xdg-open, open or start for the platform; if it cannot be started, the URL printed on
// w is the way in, and Browse does not fail.
func Browse(ctx context.Context, cfg Config, r Request, w io.Writer) (Outcome, error) {
	s := New(cfg)
	defer s.Close()
	p, err := s.Request(r)
	if err != nil {
		return Outcome{}, err
	}
	fmt.Fprintf(w, "Open this page in a browser on this computer to enter %s for component %q:\n\n  %s\n\n"+
		"It works once and expires at %s (in %s). Waiting for the value (Ctrl-C to give up)...\n",
		r.Key, r.ComponentID, p.URL(), p.Expires().Format(time.Kitchen), s.Expiry().Round(time.Second))
	if err := openBrowser(p.URL()); err != nil {
		fmt.Fprintf(w, "(Could not open a browser: %v. Open the link yourself.)\n", err)
	}
	return p.Wait(ctx)
}

// openBrowser starts the person's browser on url without waiting for it. The URL holds
// the page's token, which lets its holder set this one secret once; it is no secret value.
func openBrowser(url string) error {
	var name string
	var args []string
	if b := strings.TrimSpace(os.Getenv("BROWSER")); b != "" {
		name = b
	} else {
		switch runtime.GOOS {
		case "darwin":
			name = "open"
		case "windows":
			name, args = "rundll32", []string{"url.dll,FileProtocolHandler"}
		default:
			name = "xdg-open"
		}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	cmd := exec.Command(path, append(args, url)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }() // reap it; its exit status does not matter
	return nil
}
