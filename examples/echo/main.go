// Command echo is a tiny wassette component that reports what it sees: its
// arguments, its environment and the JSON arguments of the call. It is handy
// to check what a component is given (isolation, secrets) and is used by the
// runtime tests.
//
//	GOOS=wasip1 GOARCH=wasm go build -o echo.wasm ./examples/echo
package main

import (
	"encoding/json"
	"os"

	"github.com/wassette/wassette/guest"
)

func main() {
	guest.Run(
		guest.Tool{
			Name:        "echo",
			Description: "Returns the call arguments unchanged.",
			Handler: func(args json.RawMessage) (any, error) {
				return args, nil
			},
		},
		guest.Tool{
			Name:        "env",
			Description: "Returns the program arguments and the environment the component was started with.",
			Handler: func(json.RawMessage) (any, error) {
				env := os.Environ()
				if env == nil {
					env = []string{}
				}
				return map[string]any{"argv": os.Args, "env": env}, nil
			},
		},
	)
}
