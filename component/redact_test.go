package component

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/wassette/wassette/envmerge"
	"github.com/wassette/wassette/secretstore"
)

func redactorFor(values ...string) *redactor {
	var env envmerge.Env
	for i, v := range values {
		env = append(env, envmerge.Var{Key: string(rune('A' + i)), Value: secretstore.NewValue(v), Source: envmerge.FromHost})
	}
	return newRedactor(env)
}

// TestRedactEncodings checks that a value is hidden in every form the redactor claims
// to catch, alone and inside a longer text, and that what remains cannot be decoded
// back to it.
func TestRedactEncodings(t *testing.T) {
	const secret = "canary-Secret/+value_42"
	r := redactorFor(secret)
	b := []byte(secret)
	var forms []string
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		for _, prefix := range []string{"", "x", "xy", "xyz"} { // every byte alignment
			forms = append(forms, enc.EncodeToString([]byte(prefix+secret+"tail")))
			forms = append(forms, enc.EncodeToString([]byte(prefix+secret)))
		}
	}
	h := hex.EncodeToString(b)
	forms = append(forms, h, strings.ToUpper(h), strings.ToUpper(h[:10])+h[10:], secret, reverseRunes(secret),
		`canary-Secret\/+value_42`)
	for _, form := range forms {
		for _, text := range []string{form, `{"leak":"` + form + `"}`, "before " + form + " after"} {
			got := r.redact(text)
			if !strings.Contains(got, secretstore.Redacted) {
				t.Errorf("%q: nothing redacted: %q", form, got)
			}
			if leaks(got, secret) {
				t.Errorf("%q: the secret is still recoverable from %q", form, got)
			}
		}
	}
}

// leaks reports whether text holds secret in a form that decodes to it.
func leaks(text, secret string) bool {
	if strings.Contains(text, secret) || strings.Contains(text, reverseRunes(secret)) ||
		strings.Contains(strings.ToLower(text), hex.EncodeToString([]byte(secret))) {
		return true
	}
	for _, field := range strings.FieldsFunc(text, func(r rune) bool { return strings.ContainsRune(` "{}:[]`, r) }) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if d, err := enc.DecodeString(field); err == nil && strings.Contains(string(d), secret) {
				return true
			}
		}
	}
	return false
}

func TestRedactLeavesOrdinaryText(t *testing.T) {
	r := redactorFor("short", "1234567", "sk-live-abcdefgh")
	for _, s := range []string{"", "short and 1234567 stay", `{"temp_c":21,"city":"Paris"}`, "sk-live-abcdefg (one byte short)"} {
		if got := r.redact(s); got != s {
			t.Errorf("redact(%q) = %q", s, got)
		}
	}
	if got := r.redact("a sk-live-abcdefghsk-live-abcdefgh b"); got != "a [REDACTED] b" {
		t.Errorf("adjacent matches: %q", got)
	}
	// A periodic value and overlapping matches: every byte of each match is hidden.
	r = redactorFor("abababab")
	if got := r.redact("xabababababx"); got != "x[REDACTED]x" {
		t.Errorf("overlapping matches: %q", got)
	}
	if got := redactorFor().redact("anything at all"); got != "anything at all" {
		t.Errorf("empty redactor changed the text: %q", got)
	}
}

func BenchmarkRedact(b *testing.B) {
	r := redactorFor("sk-live-0123456789abcdef", "https://api.weather.com/v1", "eu-central-1-region")
	out := strings.Repeat(`{"city":"Paris","temp_c":21,"conditions":"clear"},`, 200)
	b.SetBytes(int64(len(out)))
	for b.Loop() {
		r.redact(out)
	}
}
