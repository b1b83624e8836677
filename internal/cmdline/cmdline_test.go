package cmdline

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"weather":            "weather",
		"fs:///home/me/data": "fs:///home/me/data",
		"":                   "''",
		"my tool":            "'my tool'",
		"it's":               `'it'\''s'`,
		"$HOME;rm":           "'$HOME;rm'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Wassette("component", "approve", "my tool"); got != "wassette component approve 'my tool'" {
		t.Errorf("Wassette = %s", got)
	}
}

// TestQuoteRoundTrip checks with a real shell that a quoted argument reads back as itself.
func TestQuoteRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, s := range []string{"a b", "it's", `"\$x`, "tab\there", "ünï", "*?[x]"} {
		out, err := exec.Command(sh, "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh read %q back as %q (%v)", s, out, err)
		}
	}
}
