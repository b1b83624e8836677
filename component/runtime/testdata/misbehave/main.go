// Command misbehave is a test component for the runtime tests: it keeps state
// in a global, touches the file system, calls the network and misbehaves on
// request (loops forever, calls the host forever, allocates without bound,
// floods stdout or stderr, tries to escape its file grants: see escape.go).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/wassette/wassette/guest"
)

var counter int

type fileArgs struct {
	Path string `json:"path"`
	Data string `json:"data"`
	URL  string `json:"url"`
}

func parse(raw json.RawMessage) (fileArgs, error) {
	var a fileArgs
	err := json.Unmarshal(raw, &a)
	return a, err
}

var sink [][]byte

func main() {
	guest.Run(
		guest.Tool{Name: "count", Description: "Increments a global counter and returns it.", Handler: func(json.RawMessage) (any, error) {
			counter++
			return counter, nil
		}},
		guest.Tool{Name: "read", Description: "Reads a file.", Handler: func(raw json.RawMessage) (any, error) {
			a, err := parse(raw)
			if err != nil {
				return nil, err
			}
			b, err := os.ReadFile(a.Path)
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}},
		guest.Tool{Name: "write", Description: "Writes a file.", Handler: func(raw json.RawMessage) (any, error) {
			a, err := parse(raw)
			if err != nil {
				return nil, err
			}
			return "ok", os.WriteFile(a.Path, []byte(a.Data), 0o644)
		}},
		guest.Tool{Name: "list", Description: "Lists a directory.", Handler: func(raw json.RawMessage) (any, error) {
			a, err := parse(raw)
			if err != nil {
				return nil, err
			}
			ents, err := os.ReadDir(a.Path)
			if err != nil {
				return nil, err
			}
			names := []string{}
			for _, e := range ents {
				names = append(names, e.Name())
			}
			return names, nil
		}},
		guest.Tool{Name: "fetch", Description: "GETs a URL and returns status and body.", Handler: func(raw json.RawMessage) (any, error) {
			a, err := parse(raw)
			if err != nil {
				return nil, err
			}
			resp, err := guest.HTTPGet(a.URL)
			if err != nil {
				return nil, err
			}
			return map[string]any{"status": resp.StatusCode, "body": string(resp.Body), "type": resp.HeaderValue("content-type")}, nil
		}},
		guest.Tool{Name: "loop", Description: "Loops forever.", Handler: func(json.RawMessage) (any, error) {
			for i := 0; ; i++ {
				if i < 0 {
					return nil, errors.New("unreachable")
				}
			}
		}},
		guest.Tool{Name: "spin", Description: "Writes an empty file at path (if given), then calls the host (clock, file status) forever.", Handler: func(raw json.RawMessage) (any, error) {
			a, err := parse(raw)
			if err != nil {
				return nil, err
			}
			if a.Path != "" {
				if err := os.WriteFile(a.Path, nil, 0o644); err != nil {
					return nil, err
				}
			}
			for {
				time.Now()
				os.Stdin.Stat()
			}
		}},
		guest.Tool{Name: "sleep", Description: "Sleeps for an hour.", Handler: func(json.RawMessage) (any, error) {
			time.Sleep(time.Hour)
			return "woke", nil
		}},
		guest.Tool{Name: "alloc", Description: "Allocates memory without bound, touching every page.", Handler: func(json.RawMessage) (any, error) {
			// No collections: every byte allocated stays live anyway, and a
			// collector scanning a growing heap would only slow the run down.
			debug.SetGCPercent(-1)
			for {
				b := make([]byte, 1<<20)
				for i := 0; i < len(b); i += 4096 { // one byte per host page commits it
					b[i] = 1
				}
				sink = append(sink, b)
			}
		}},
		guest.Tool{Name: "flood", Description: "Writes to stdout forever.", Handler: func(json.RawMessage) (any, error) {
			line := strings.Repeat("x", 1023) + "\n"
			for {
				fmt.Print(line)
			}
		}},
		guest.Tool{Name: "flood_stderr", Description: "Writes to stderr forever.", Handler: func(json.RawMessage) (any, error) {
			line := strings.Repeat("y", 1023) + "\n"
			for {
				fmt.Fprint(os.Stderr, line)
			}
		}},
		escapeTool,
		guest.Tool{Name: "fail", Description: "Fails with a message.", Handler: func(json.RawMessage) (any, error) {
			return nil, errors.New("this tool always fails")
		}},
	)
}
