package strictyaml_test

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/strictyaml"
	"github.com/wassette/wassette/internal/strictyaml/yamltest"
)

const secret = "sk-live-4f9a2c7e1b8d"

func TestRefusedConstructs(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"API_KEY: *" + secret[:7] + "x\n", "line 1, column 10: a YAML alias (*name)"},
		{"A: b\nB: *one\nC: *two\n", "line 2, column 4: a YAML alias (*name)"},
		{"%YAML 1.1\n---\nA: *nope\n", "line 3, column 4: a YAML alias (*name)"},
		{"# comment\n---\nA: b\nB: [x, *nope]\n", "line 4, column 8: a YAML alias (*name)"},
		{"TOKEN: &abc123 rest\n", "line 1, column 8: a YAML anchor (&name)"},
		{"&a KEY: x\n", "line 1, column 1: a YAML anchor (&name)"},
		{"A: &a [x]\n", "line 1, column 4: a YAML anchor (&name)"},
		{"A: x\nPASSWORD: !Sup3rS3cret\n", "line 2, column 11: a YAML tag (!name)"},
		{"A: ! 123\n", "line 1, column 4: a YAML tag (!name)"},
		{"A: !!str 123\n", "line 1, column 4: a YAML tag (!name)"},
		{"A: !<tag:x,2000:y> 1\n", "line 1, column 4: a YAML tag (!name)"},
		{"A: [1, ! 2]\n", "line 1, column 8: a YAML tag (!name)"},
		{"! A: b\n", "line 1, column 1: a YAML tag (!name)"},
		{"--- !map\nA: b\n", "line 1, column 5: a YAML tag (!name)"},
		{"A: !\n  x\n", "line 1, column 4: a YAML tag (!name)"},
		{"<<: {a: b}\n", "line 1, column 1: a YAML merge key (<<)"},
		{"A:\n  x: 1\n  <<: {y: 2}\n", "line 3, column 3: a YAML merge key (<<)"},
		{"A: b\n---\nC: d\n", "line 2: a second YAML document"},
		{"A: b\n---\nC: *x\n", "line 3, column 4: a YAML alias"},
		{"A: \x07\n", "line 1, column 4: the control character U+0007"},
		{"A: é\xff\n", "line 1, column 5: not valid UTF-8"},
		// Columns count characters, and lines break as YAML breaks them.
		{"\ufeffA: b\nB: ! x\n", "line 2, column 4: a YAML tag"},
		{"A: \"é🙂\"\nB: ! x\n", "line 2, column 4: a YAML tag"},
		{"É: 🙂 ! x\nB: ! x\n", "line 2, column 4: a YAML tag"},
		{"A: b\r\nC: ! d\r\n", "line 2, column 4: a YAML tag"},
		{"A: b\rC: ! d\r", "line 2, column 4: a YAML tag"},
		{"A: \"b\u2028\"\nC: ! d\n", "line 3, column 4: a YAML tag"},
	} {
		_, err := strictyaml.Parse([]byte(tc.src))
		var e *strictyaml.Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// What the readers accept reads as its text: the characters the refused constructs use
// are fine inside quoted and block scalars, and in the middle of plain ones.
func TestAccepted(t *testing.T) {
	for src, want := range map[string]string{
		"A: \"*alias &anchor !tag\"\n": "*alias &anchor !tag",
		"A: 'a ! b'\n":                 "a ! b",
		"A: |\n  !x\n  *y\n":           "!x\n*y\n",
		"A: x!y&z*w\n":                 "x!y&z*w",
		"\"<<\": x\n":                  "x",
		"A: 30\n":                      "30",
		"A: ~\n":                       "~",
		"%YAML 1.1\n---\nA: b\n":       "b",
		"A: b\n...\n":                  "b",
	} {
		n, err := strictyaml.Parse([]byte(src))
		if err != nil || n == nil || n.Kind != yaml.MappingNode || n.Content[1].Value != want {
			t.Errorf("Parse(%q) = %v, %v; want the value %q", src, n, err, want)
		}
	}
	for _, src := range []string{"", "# only\n# comments\n", "---\n", "--- ~\n"} {
		if n, err := strictyaml.Parse([]byte(src)); n != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want no document", src, n, err)
		}
	}
}

// The YAML library's messages are never passed on, since some quote the input: every
// syntax error is worded by this package and has a line.
func TestSyntaxErrorsAreOurs(t *testing.T) {
	for _, src := range []string{
		"A: \"" + secret + "\\q\"\n", "A: \"" + secret + "\n", "A: [" + secret + "\n", "A: {" + secret + "\n",
		"A: " + secret + ": x\n", "A: @" + secret + "\n", "A: `" + secret + "\n", "A:\n\t- " + secret + "\n",
		"A: *" + secret + "...\n", "A: &" + secret + "...\n", "A: !<" + secret + "\n", "A: !e!" + secret + " x\n",
		"%TAG !e! tag:" + secret + ",2000:\n%TAG !e! x\n---\nA: b\n", "%" + secret + "\n", "A: |0\n  " + secret + "\n",
		"A: \"\\u" + secret + "\"\n", "A:\n  b: " + secret + "\n c: d\n", "- a\nb: " + secret + "\n",
		"A: 'x' " + secret + "\n", "A: |x\n  " + secret + "\n", "A:\n  - " + secret + "\n  b: x\n",
		"A: " + strings.Repeat("[", 10001) + "\n",
	} {
		_, err := strictyaml.Parse([]byte(src))
		var e *strictyaml.Error
		if !errors.As(err, &e) || e.Line < 1 {
			t.Errorf("Parse(%q) = %v, want an error with a line", src, err)
			continue
		}
		if v, ok := yamltest.Leak(e.Error(), yamltest.Case{Data: []byte(src), Values: []string{secret}}); ok {
			t.Errorf("Parse(%q): the error %q quotes %q", src, e, v)
		}
		if strings.Contains(e.Msg, "yaml:") || strings.Contains(e.Msg, "while ") {
			t.Errorf("Parse(%q): the library's message passed through: %q", src, e.Msg)
		}
	}
}

// Parse against the YAML library alone, on a file of the largest size the readers take
// with all its nodes on one line: finding each node's place in the text must cost the
// same however long its line, so the ratio stays near 1.
func BenchmarkParseOneLongLine(b *testing.B) {
	var buf strings.Builder
	buf.WriteString("A: [")
	for buf.Len() < 4<<20 {
		buf.WriteString("é, ")
	}
	buf.WriteString("x]\n")
	data := []byte(buf.String())
	b.Run("yaml.v3", func(b *testing.B) {
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(data, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strictyaml", func(b *testing.B) {
		for b.Loop() {
			if _, err := strictyaml.Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
