// Command needskey is a test component that declares the secret its tool needs: its
// tool "needs_key" reports whether API_KEY is set (never its value), and "no_key"
// needs nothing.
package main

import (
	"encoding/json"
	"os"

	"github.com/wassette/wassette/guest"
)

func main() {
	guest.Component{
		Secrets: []guest.Secret{{
			Key:         "API_KEY",
			Description: "API key for the test service; any non-empty text works.",
			Tools:       []string{"needs_key"},
		}},
		Tools: []guest.Tool{
			{Name: "needs_key", Description: "Reports whether API_KEY is set.", Handler: func(json.RawMessage) (any, error) {
				return map[string]bool{"api_key_set": os.Getenv("API_KEY") != ""}, nil
			}},
			{Name: "no_key", Description: "Needs no secret.", Handler: func(json.RawMessage) (any, error) {
				return map[string]bool{"ok": true}, nil
			}},
		},
	}.Run()
}
