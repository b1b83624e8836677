// Command named is a test component whose tool name is written into its binary: a
// test replaces the marker's digits, so that one build gives many distinct
// components (different bytes, different tool names), as many users' tools would be.
// It links what a typical tool links (regular expressions, templates, hashing, URL
// and time handling), so that its compiled code weighs what a real tool's does. Its
// tool returns its name and a digest of the arguments it was given.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/wassette/wassette/guest"
)

// name is the marker a test rewrites: same length, digits only.
var name = "named_tool_00000000000000000000"

var (
	word = regexp.MustCompile(`[\p{L}\p{N}]+`)
	tmpl = template.Must(template.New("t").Parse(`{{.Tool}}: {{len .Words}} words`))
)

func main() {
	guest.Run(guest.Tool{
		Name:        name,
		Description: "Returns its name and a digest of its arguments.",
		Handler: func(args json.RawMessage) (any, error) {
			var summary strings.Builder
			words := word.FindAllString(string(args), -1)
			if err := tmpl.Execute(&summary, map[string]any{"Tool": name, "Words": words}); err != nil {
				return nil, err
			}
			sum := sha256.Sum256(args)
			return map[string]any{
				"tool":    name,
				"summary": summary.String(),
				"sha256":  hex.EncodeToString(sum[:]),
				"query":   url.Values{"n": words}.Encode(),
				"epoch":   time.Unix(0, 0).UTC().Format(time.RFC3339),
			}, nil
		},
	})
}
