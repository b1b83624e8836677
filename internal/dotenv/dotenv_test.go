package dotenv_test

import (
	"strings"
	"testing"

	"github.com/wassette/wassette/internal/dotenv"
)

func TestParse(t *testing.T) {
	src := "# comment\n\n" +
		"API_KEY=sk-123\n" +
		"export ENDPOINT = https://api.example.com/v1?a=b  # trailing comment\n" +
		"HASH=abc#def\n" +
		"EMPTY=\n" +
		"DQ=\"line1\\nline2\\t\\\"q\\\" \\\\ \\$HOME # kept\"\n" +
		"SQ='C:\\path #1 \\n'\n" +
		"MULTI=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\n" +
		"SQMULTI='a\nb'  # after\r\n" +
		"LAST=no-newline"
	got, err := dotenv.Parse("x.env", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []dotenv.Entry{
		{"API_KEY", "sk-123", 3},
		{"ENDPOINT", "https://api.example.com/v1?a=b", 4},
		{"HASH", "abc#def", 5},
		{"EMPTY", "", 6},
		{"DQ", "line1\nline2\t\"q\" \\ $HOME # kept", 7},
		{"SQ", `C:\path #1 \n`, 8},
		{"MULTI", "-----BEGIN KEY-----\nabc\n-----END KEY-----", 9},
		{"SQMULTI", "a\nb", 12},
		{"LAST", "no-newline", 14},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries: %+v", len(got), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseErrors(t *testing.T) {
	const secret = "s3cr3t-value"
	for _, tc := range []struct{ src, want string }{
		{"JUSTAKEY\n", "x.env: line 1: expected KEY=VALUE"},
		{"\n=" + secret + "\n", "x.env: line 2: expected KEY=VALUE"},
		{"A=\"" + secret + "\n", "x.env: line 1: the value of A has no closing \""},
		{"A='" + secret + "\nmore\n", "x.env: line 1: the value of A has no closing '"},
		{"A=\"" + secret + "\" junk\n", "line 1: unexpected text after the closing quote of A"},
		{"A=\"" + secret + "\\q\"\n", "line 1: value of A: unknown escape"},
		{"A=1\nB=2\nA=" + secret + "\n", "line 3: A is assigned twice (first on line 1)"},
	} {
		_, err := dotenv.Parse("x.env", tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error quotes a value: %v", err)
		}
	}
}

// FuzzParse: no input panics, errors never quote a value, and every entry's value is one
// that the file really holds somewhere.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"A=b\n", "export A=b # c\n", "A=\"x\\ny\"\n", "A='x\ny'\n", "A=\"unterminated\n", "=x\n",
		"A=1\nA=2\n", "A=\"\\\n\"", "\uFEFFA=b\r\n", "A=\"a\" # c", "A='a' b", "#only\n", "",
		"A=\"\\", "A= \t spaced \t ", "A=\"x\\q\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		entries, err := dotenv.Parse("f.env", src)
		if err != nil {
			return
		}
		for _, e := range entries {
			if e.Key == "" || strings.Contains(e.Key, "=") {
				t.Fatalf("bad key %q", e.Key)
			}
			if e.Line < 1 || e.Line > strings.Count(src, "\n")+1 {
				t.Fatalf("line %d out of range", e.Line)
			}
		}
	})
}
