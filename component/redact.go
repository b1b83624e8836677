package component

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/secretstore"
)

// minRedact is the shortest value a redactor hides: shorter ones ("30", "true") are too
// common in ordinary output to be told apart from a secret.
const minRedact = 8

// A redactor hides, in what a call hands back (its output, its error message, the error
// of a crashed call), every value the component was given, whatever its source: secrets,
// policy values and host variables alike. It is the last line of defence, not the
// defence: a component can always encode what it holds in a way no filter knows. It
// catches the plain value, its JSON-escaped form, the value reversed, its hex form in
// either case, and its base64 forms (standard and URL alphabets, padded or not, at any
// of the three byte alignments, so also inside a longer encoded text).
type redactor struct {
	exact []string // matched as they are
	fold  []string // lower case; matched ignoring ASCII case (hex)
}

// newRedactor returns the redactor for a call whose environment is env.
func newRedactor(env envmerge.Env) *redactor {
	r := &redactor{}
	for _, v := range env {
		r.add(v.Value.Reveal())
	}
	slices.Sort(r.exact)
	r.exact = slices.Compact(r.exact)
	slices.Sort(r.fold)
	r.fold = slices.Compact(r.fold)
	return r
}

func (r *redactor) add(plain string) {
	if len(plain) < minRedact {
		return
	}
	r.exact = append(r.exact, plain)
	if q, _ := json.Marshal(plain); len(q) > 2 { // as a JSON string holds it
		js := string(q[1 : len(q)-1])
		r.exact = append(r.exact, js, strings.ReplaceAll(js, "/", `\/`)) // some encoders escape the slash
	}
	if rev := reverseRunes(plain); rev != plain {
		r.exact = append(r.exact, rev)
	}
	r.fold = append(r.fold, hex.EncodeToString([]byte(plain)))
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for shift := range 3 {
			p := base64Core(enc, []byte(plain), shift)
			r.exact = append(r.exact, p)
			if esc := strings.ReplaceAll(p, "/", `\/`); esc != p { // JSON may escape the slash
				r.exact = append(r.exact, esc)
			}
		}
	}
}

// base64Core returns the characters of the base64 form of b, preceded by shift other
// bytes, that depend on b's bits alone: wherever b sits in a longer encoded text, and
// whatever padding follows, these characters appear unchanged.
func base64Core(enc *base64.Encoding, b []byte, shift int) string {
	s := enc.EncodeToString(append(make([]byte, shift), b...))
	start := (8*shift + 5) / 6      // first character with no bit of the leading bytes
	end := 8 * (shift + len(b)) / 6 // characters before it hold no bit of what follows
	return s[start:end]
}

func reverseRunes(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// span is a byte range [from, to) of a text to hide.
type span struct{ from, to int }

// redact returns s with every match of r's patterns replaced by [REDACTED]; overlapping
// and adjacent matches become one.
func (r *redactor) redact(s string) string {
	if len(s) < minRedact || len(r.exact)+len(r.fold) == 0 {
		return s
	}
	var spans []span
	for _, p := range r.exact {
		spans = find(spans, s, p)
	}
	if len(r.fold) > 0 {
		lower := asciiLower(s)
		for _, p := range r.fold {
			spans = find(spans, lower, p)
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	b.Grow(len(s))
	at := 0
	for i := 0; i < len(spans); {
		from, to := spans[i].from, spans[i].to
		for i++; i < len(spans) && spans[i].from <= to; i++ {
			to = max(to, spans[i].to)
		}
		b.WriteString(s[at:from])
		b.WriteString(secretstore.Redacted)
		at = to
	}
	b.WriteString(s[at:])
	return b.String()
}

// find appends the spans of the occurrences of p in s. Occurrences may overlap (a
// periodic secret); for long patterns, where that cannot matter, the search skips ahead
// to keep the cost linear.
func find(spans []span, s, p string) []span {
	step := 1
	if len(p) > 256 {
		step = len(p)
	}
	for i := 0; i <= len(s)-len(p); {
		j := strings.Index(s[i:], p)
		if j < 0 {
			break
		}
		spans = append(spans, span{i + j, i + j + len(p)})
		i += j + step
	}
	return spans
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay those of s.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// redactError returns err with its message redacted by r. errors.Is still sees what err
// wraps; nothing else of err is reachable, as it may hold plaintext.
func (r *redactor) redactError(err error) error {
	msg := err.Error()
	if red := r.redact(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string        { return e.msg }
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }
