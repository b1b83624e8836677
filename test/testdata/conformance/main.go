// Command conformance is a test component that gives wassette the tools the MCP
// conformance suite (@modelcontextprotocol/conformance, run by .ci/conformance.sh) calls
// and a wassette component can provide: plain text and a tool error. The suite's other
// tools need features wassette does not offer (images, audio, resources, logging,
// progress, sampling, elicitation); .ci/conformance-baseline.yml lists them.
//
//	GOOS=wasip1 GOARCH=wasm go build -o conformance.wasm ./test/testdata/conformance
package main

import (
	"encoding/json"
	"errors"

	"github.com/wassette/wassette/guest"
)

func main() {
	guest.Run(
		guest.Tool{
			Name:        "test_simple_text",
			Description: "Returns a simple text (the conformance suite's tools-call-simple-text).",
			Handler: func(json.RawMessage) (any, error) {
				return "This is a simple text response for testing.", nil
			},
		},
		guest.Tool{
			Name:        "test_error_handling",
			Description: "Always fails (the conformance suite's tools-call-error).",
			Handler: func(json.RawMessage) (any, error) {
				return nil, errors.New("This tool intentionally returns an error for testing")
			},
		},
	)
}
