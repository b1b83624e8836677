package compid_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wassette/wassette/internal/compid"
)

func TestStem(t *testing.T) {
	for id, want := range map[string]string{
		"weather-component": "weather-component",
		"time_server.v2":    "time_server.v2",
		"Weather":           "%57eather",
		"a/b":               "a%2Fb",
		"a_b":               "a_b",
		"a%2Fb":             "a%252%46b",
		"..":                "%2E.",
		".hidden":           "%2Ehidden",
		"/abs":              "%2Fabs",
		`C:\x`:              "%43%3A%5Cx",
		"con":               "%63on",
		"CON":               "%43%4F%4E",
		"com1.txt":          "%63om1.txt",
		"lpt9":              "%6Cpt9",
		"console":           "console",
		"é":                 "%C3%A9",
		"a b":               "a%20b",
	} {
		got, err := compid.Stem(id)
		if err != nil || got != want {
			t.Errorf("Stem(%q) = %q, %v; want %q", id, got, err, want)
		}
		if back, ok := compid.Parse(got); !ok || back != id {
			t.Errorf("Parse(%q) = %q, %v; want %q", got, back, ok, id)
		}
	}
}

func TestStemRejects(t *testing.T) {
	for _, id := range []string{"", "a\x00b", "tab\there", "nl\n", "\x7f", "\xff\xfe", strings.Repeat("a", compid.MaxLen+1), strings.Repeat("a", 10_000), strings.Repeat("/", 80)} {
		_, err := compid.Stem(id)
		if !errors.Is(err, compid.ErrInvalid) {
			t.Errorf("Stem(%.30q) = %v, want ErrInvalid", id, err)
		}
		if err != nil && len(err.Error()) > 300 {
			t.Errorf("error for a long ID is %d bytes long", len(err.Error()))
		}
	}
}

func TestParseRejectsForeignNames(t *testing.T) {
	for _, name := range []string{"", "Weather", ".lock", ".c.yaml.tmp-1", "%2", "%zz", "%2f", "a%61", "con", "%2e."} {
		if id, ok := compid.Parse(name); ok {
			t.Errorf("Parse(%q) = %q, want no ID", name, id)
		}
	}
}

// FuzzStem checks the mapping's promises on any pair of IDs: a stem stays inside the
// folder, maps back to its ID, and differs from every other ID's stem even when letter
// case is ignored.
func FuzzStem(f *testing.F) {
	for _, s := range [][2]string{
		{"a/b", "a_b"}, {"A", "a"}, {"..", "."}, {"/abs", "abs"}, {"CON", "con"}, {"a%2Fb", "a/b"},
		{"é", "e\u0301"}, {"COM1", "com1"}, {strings.Repeat("x", 200), "x"}, {"\x00", ""}, {"ß", "SS"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		sa, errA := compid.Stem(a)
		sb, errB := compid.Stem(b)
		for _, c := range []struct {
			id, stem string
			err      error
		}{{a, sa, errA}, {b, sb, errB}} {
			if c.err != nil {
				continue
			}
			if c.stem == "" || c.stem == "." || c.stem == ".." || c.stem[0] == '.' ||
				strings.ContainsAny(c.stem, "/\\:\x00") || len(c.stem) > 200 {
				t.Fatalf("Stem(%q) = %q is not a safe file name", c.id, c.stem)
			}
			if filepath.Dir(filepath.Join("/data/secrets", c.stem+".yaml")) != "/data/secrets" {
				t.Fatalf("Stem(%q) = %q leaves the folder", c.id, c.stem)
			}
			if back, ok := compid.Parse(c.stem); !ok || back != c.id {
				t.Fatalf("Parse(Stem(%q)) = %q, %v", c.id, back, ok)
			}
		}
		if errA == nil && errB == nil && a != b && strings.EqualFold(sa, sb) {
			t.Fatalf("IDs %q and %q share the file name %q/%q", a, b, sa, sb)
		}
	})
}
