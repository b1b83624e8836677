package secretstore

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Redacted is what a Value prints as, in every format.
const Redacted = "[REDACTED]"

// Value is a secret value. It prints as [REDACTED] through fmt (every verb), log/slog,
// JSON, YAML and text marshalling, so a Value that reaches a log line or an error by
// mistake shows nothing. Reveal returns the plaintext, for the one place that needs it.
//
// The plaintext sits behind a pointer so that even fmt's printing of a struct with an
// unexported Value field, which bypasses the methods, shows an address, not the text.
// Compare Values by their Reveal results, not with ==.
type Value struct {
	p *string
}

// NewValue wraps s as a secret Value.
func NewValue(s string) Value { return Value{p: &s} }

// Reveal returns the plaintext.
func (v Value) Reveal() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// Masked returns the value masked by Mask.
func (v Value) Masked() string { return Mask(v.Reveal()) }

// String returns [REDACTED].
func (v Value) String() string { return Redacted }

// GoString returns [REDACTED], for %#v.
func (v Value) GoString() string { return Redacted }

// Format writes [REDACTED] for every verb, so %x, %q and %d show nothing either.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue makes log/slog print [REDACTED].
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON encodes the value as the JSON string "[REDACTED]".
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText encodes the value as [REDACTED].
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalYAML encodes the value as [REDACTED].
func (v Value) MarshalYAML() (any, error) { return Redacted, nil }

// maskShowMin is the length, in characters, from which a masked value shows its ends.
const maskShowMin = 20

// Mask returns the form in which a value may be shown: a value of 20 characters or more
// shows its first 3 and last 3 around "***" ("sk-abc***xyz"); a shorter one is "***".
// Control characters among the shown ones print as '?', so a mask fits on one line. This
// is the one masking rule of the CLI and the MCP tools.
func Mask(s string) string {
	if utf8.RuneCountInString(s) < maskShowMin {
		return "***"
	}
	r := []rune(s)
	shown := func(rs []rune) string {
		return strings.Map(func(c rune) rune {
			if unicode.IsControl(c) {
				return '?'
			}
			return c
		}, string(rs))
	}
	return shown(r[:3]) + "***" + shown(r[len(r)-3:])
}
