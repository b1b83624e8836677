package secretstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/secretstore"
)

const canary = "canary-7f3a9c1e5b2d8f4a6c0e"

func TestValueNeverPrintsPlaintext(t *testing.T) {
	v := secretstore.NewValue(canary)
	type holder struct {
		Public  secretstore.Value
		private secretstore.Value
		Ptr     *secretstore.Value
	}
	h := holder{Public: v, private: v, Ptr: &v}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(verb, v), fmt.Sprintf(verb, h), fmt.Sprintf(verb, &h))
	}
	outs = append(outs, fmt.Sprint(v), fmt.Sprintln(v, h), v.String(), v.GoString())
	outs = append(outs, fmt.Errorf("wrapped: %v", v).Error())

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("msg", "v", v, "h", h, "any", any(v))
		l.Info("group", slog.Group("g", "v", v))
	}
	outs = append(outs, logs.String())

	for _, x := range []any{v, h, map[string]secretstore.Value{"k": v}} {
		j, err := json.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j), string(y))
	}
	txt, _ := v.MarshalText()
	outs = append(outs, string(txt))

	for _, o := range outs {
		if strings.Contains(o, canary) || strings.Contains(o, fmt.Sprintf("%x", canary)) {
			t.Errorf("plaintext leaked: %s", o)
		}
	}
	if got := v.Reveal(); got != canary {
		t.Errorf("Reveal() = %q", got)
	}
	if got := (secretstore.Value{}).Reveal(); got != "" {
		t.Errorf("zero Value reveals %q", got)
	}
	if !strings.Contains(fmt.Sprint(v), secretstore.Redacted) {
		t.Errorf("fmt shows %q, want %s", fmt.Sprint(v), secretstore.Redacted)
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "***"},
		{"short", "***"},
		{"nineteen-characters", "***"},          // 19
		{"twenty-characters-xx", "twe***-xx"},   // 20
		{"sk-1234567890abcdefxyz", "sk-***xyz"}, // the reference's example
		{"ünïcödé-välüé-ünïcödé", "ünï***ödé"},  // counted in characters, not bytes
		{"-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "---***--?"},
	} {
		if got := secretstore.Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if got := secretstore.NewValue(tc.in).Masked(); got != tc.want {
			t.Errorf("Masked() of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, k := range []string{"API_KEY", "api_key", "a", "Ключ", "a.b-c:d", strings.Repeat("K", secretstore.MaxKeyLen)} {
		if err := secretstore.ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
	for _, k := range []string{"", "A=B", "A B", "A\tB", "A\x00", "A\nB", "\x7f", "A\u00a0B", "\xff", strings.Repeat("K", secretstore.MaxKeyLen+1)} {
		if err := secretstore.ValidateKey(k); !errors.Is(err, secretstore.ErrInvalidKey) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	for _, v := range []string{"", "x", "line1\nline2", "tab\tand=equals", strings.Repeat("v", secretstore.MaxValueLen)} {
		if err := secretstore.ValidateValue(v); err != nil {
			t.Errorf("ValidateValue(len %d) = %v", len(v), err)
		}
	}
	for _, v := range []string{canary + "\x00", canary + "\xff", canary + strings.Repeat("v", secretstore.MaxValueLen)} {
		err := secretstore.ValidateValue(v)
		if !errors.Is(err, secretstore.ErrInvalidValue) {
			t.Errorf("ValidateValue(bad) = %v, want ErrInvalidValue", err)
		}
		if err != nil && strings.Contains(err.Error(), "canary") {
			t.Errorf("error echoes the value: %v", err)
		}
	}
	for _, id := range []string{"weather", "Weather", "a/b", "a_b", "../x", "/abs", "CON", "é"} {
		if err := secretstore.ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", "a\x00b", "a\nb", "\xff", strings.Repeat("x", 10000), strings.Repeat("/", 100)} {
		if err := secretstore.ValidateID(id); !errors.Is(err, secretstore.ErrInvalidID) {
			t.Errorf("ValidateID(%.20q) = %v, want ErrInvalidID", id, err)
		}
	}
}
