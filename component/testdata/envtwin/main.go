// Command envtwin is a test component for the component tests: like
// examples/echo it reports its arguments and environment, but under other tool
// names, so that it can be loaded beside echo without a tool name clash. Its
// twin_crash tool writes its TOKEN to stderr and then traps, as a buggy module
// might.
//
//	GOOS=wasip1 GOARCH=wasm go build -o envtwin.wasm ./component/testdata/envtwin
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"unsafe"

	"github.com/wassette/wassette/guest"
)

func main() {
	guest.Run(
		guest.Tool{
			Name:        "twin_echo",
			Description: "Returns the call arguments unchanged.",
			Handler: func(args json.RawMessage) (any, error) {
				return args, nil
			},
		},
		guest.Tool{
			Name:        "twin_env",
			Description: "Returns the program arguments and the environment the component was started with.",
			Handler: func(json.RawMessage) (any, error) {
				env := os.Environ()
				if env == nil {
					env = []string{}
				}
				return map[string]any{"argv": os.Args, "env": env}, nil
			},
		},
		guest.Tool{
			Name:        "twin_crash",
			Description: "Writes its TOKEN to stderr, then accesses memory out of bounds (a WebAssembly trap).",
			Handler: func(json.RawMessage) (any, error) {
				fmt.Fprintln(os.Stderr, "about to crash with token", os.Getenv("TOKEN"))
				// Address 4 GiB - 16 is far beyond the linear memory: the access
				// traps rather than panics.
				p := (*byte)(unsafe.Add(unsafe.Pointer(nil), 0xFFFFFFF0))
				*p = 1
				return "not reached", nil
			},
		},
	)
}
