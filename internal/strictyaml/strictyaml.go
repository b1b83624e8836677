// Package strictyaml reads the YAML of wassette's hand-editable files (secrets and
// policies) so that every value reads as the text that was written, and so that no error
// ever quotes the input.
//
// A file holds at most one YAML document of plain data. Anchors (&name), aliases (*name),
// tags (!name, !!str, the bare !) and merge keys (<<) are refused: each can make a value
// read as something other than its text (an alias reads as another value, a tag as "" or
// as a converted value), and the YAML library's own messages about them quote the names,
// which a person may have typed a secret into. Parse returns the document's node tree for
// the caller to interpret; every error is an *Error whose message this package or its
// caller wrote from positions, never from the parser's text.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Error is a problem at a place in the input. Line and Column count from 1 (Column counts
// characters, as an editor does); either is 0 when the place is not known. The message
// never contains text of the input.
type Error struct {
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// At returns an Error at the position of n. The caller's format and arguments must not
// carry text of the input.
func At(n *yaml.Node, format string, args ...any) *Error {
	return &Error{Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads data, which must be UTF-8 text holding at most one YAML document. It returns
// the document's root node (a mapping, sequence or scalar), or nil when data holds no
// document (it is empty or only comments). Anchors, aliases, tags, merge keys and a
// second document are refused with an *Error that names the construct and where it is.
func Parse(data []byte) (*yaml.Node, error) {
	src := newSource(data)
	if err := src.checkText(); err != nil {
		return nil, err
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, src.translate(err)
	}
	if err := src.check(&doc); err != nil {
		return nil, err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, src.translate(err)
	default:
		line := next.Line
		if line <= 1 && len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		return nil, &Error{Line: line, Msg: "a second YAML document (after ---); this file holds one document"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || IsNull(doc.Content[0]) {
		return nil, nil // no document, or an empty one ("---" alone)
	}
	return doc.Content[0], nil
}

// IsNull reports whether n is YAML's null written plainly: nothing at all, "~" or "null"
// (any case YAML allows). Quoted text is never null.
func IsNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Style == 0 && n.Tag == "!!null"
}

// source is the input, with what is needed to turn a node's line and column back into a
// byte offset.
type source struct {
	data  []byte
	lines []int         // byte offset of the start of each line, by YAML's rules for line breaks
	ascii []bool        // whether each line is ASCII, so that a column is a byte count
	runes map[int][]int // for other lines, built when needed: the byte offset of each character
}

func newSource(data []byte) *source {
	data = bytes.TrimPrefix(data, []byte("\ufeff")) // the reader skips a byte order mark
	s := &source{data: data, lines: []int{0}, ascii: []bool{true}}
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == '\r' && i+1 < len(data) && data[i+1] == '\n':
			n = 2
			fallthrough
		case r == '\r', r == '\n', r == '\u0085', r == '\u2028', r == '\u2029':
			s.lines = append(s.lines, i+n)
			s.ascii = append(s.ascii, true)
		case r >= utf8.RuneSelf:
			s.ascii[len(s.ascii)-1] = false
		}
		i += n
	}
	return s
}

// at returns the byte offset of line and column (both from 1), or -1.
func (s *source) at(line, col int) int {
	if line < 1 || line > len(s.lines) || col < 1 {
		return -1
	}
	off := s.lines[line-1] + col - 1
	if !s.ascii[line-1] {
		idx, ok := s.runes[line-1]
		if !ok {
			end := len(s.data)
			if line < len(s.lines) {
				end = s.lines[line]
			}
			for i := s.lines[line-1]; i < end; {
				idx = append(idx, i)
				_, n := utf8.DecodeRune(s.data[i:end])
				i += n
			}
			if s.runes == nil {
				s.runes = map[int][]int{}
			}
			s.runes[line-1] = idx
		}
		if col > len(idx) {
			return -1
		}
		off = idx[col-1]
	}
	if off >= len(s.data) {
		return -1
	}
	return off
}

// position returns the line and column (from 1) of byte offset off.
func (s *source) position(off int) (line, col int) {
	for line = len(s.lines); line > 1 && s.lines[line-1] > off; line-- {
	}
	return line, 1 + utf8.RuneCount(s.data[s.lines[line-1]:off])
}

// checkText refuses what the YAML reader refuses before it looks at the structure
// (invalid UTF-8, control characters), so that the error can say where.
func (s *source) checkText() *Error {
	for i := 0; i < len(s.data); {
		r, n := utf8.DecodeRune(s.data[i:])
		if r == utf8.RuneError && n <= 1 {
			line, col := s.position(i)
			return &Error{Line: line, Column: col, Msg: "not valid UTF-8; the file must be UTF-8 text"}
		}
		if !(r == '\t' || r == '\n' || r == '\r' || 0x20 <= r && r <= 0x7E || r == 0x85 ||
			0xA0 <= r && r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF) {
			line, col := s.position(i)
			return &Error{Line: line, Column: col, Msg: fmt.Sprintf(
				"the control character %U, which YAML does not allow in a file; in a double-quoted value write it as \\u%04X", r, r)}
		}
		i += n
	}
	return nil
}

// check walks the document in order and refuses the first anchor, alias, tag or merge key.
func (s *source) check(n *yaml.Node) *Error {
	if n.Kind == yaml.AliasNode {
		return At(n, "a YAML alias (*name), which wassette does not read; write the value itself (in double quotes if it starts with *)")
	}
	if n.Anchor != "" {
		return At(n, "a YAML anchor (&name), which wassette does not read; remove it, or put the value in double quotes if it starts with &")
	}
	if n.Kind != yaml.DocumentNode {
		// A tag is in the node's style, except the bare "!" (the non-specific tag), which
		// the reader drops without a trace but in the text: no node starts with '!'
		// unless a tag stands there.
		if n.Style&yaml.TaggedStyle != 0 || s.startsWith(n, '!') {
			return At(n, "a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !")
		}
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Tag == "!!merge" && k.Style == 0 {
				return At(k, "a YAML merge key (<<), which wassette does not read; write each key itself")
			}
		}
	}
	for _, c := range n.Content {
		if err := s.check(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *source) startsWith(n *yaml.Node, c byte) bool {
	off := s.at(n.Line, n.Column)
	return off >= 0 && s.data[off] == c
}

// yamlLine finds the line number at the start of the YAML library's messages.
var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): `)

// translate turns an error of the YAML library into an *Error with a message of our own.
// The library's messages can quote the input (an undefined alias is reported with its
// name), so none is passed on: a known problem gets its own wording, any other a generic
// one, both with the line the library gave.
func (s *source) translate(err error) *Error {
	msg := err.Error()
	if strings.HasPrefix(msg, "yaml: unknown anchor '") {
		// An alias whose anchor is not defined: refused like any alias, at its place.
		return s.undefinedAlias(msg)
	}
	// The library numbers lines from 0 for its parser's problems and from 1 for its
	// scanner's, and leaves out a line 0 (so a problem on the first line has none).
	e := &Error{Msg: "this is not valid YAML", Line: 1}
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = msg[len(m[0]):]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if p, ok := problems[msg]; ok {
		e.Msg = p.msg
		if p.parser {
			line++
		}
	}
	e.Line = max(line, 1)
	return e
}

// undefinedAlias finds the first alias of a document whose aliases name anchors that do
// not exist, by reading it again after a first document that defines those anchors. The
// names are used to find the place and never shown.
func (s *source) undefinedAlias(msg string) *Error {
	generic := &Error{Msg: "a YAML alias (*name), which wassette does not read; write the value itself (in double quotes if it starts with *)"}
	// A document after the first needs "---", or "..." when directives (%) come first.
	next := "---\n"
	for _, line := range bytes.Split(s.data, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			if t[0] == '%' {
				next = "...\n"
			}
			break
		}
	}
	var names []string
	for range 16 {
		name, ok := strings.CutPrefix(msg, "yaml: unknown anchor '")
		name, ok2 := strings.CutSuffix(name, "' referenced")
		if !ok || !ok2 || strings.ContainsAny(name, " \t\r\n,[]{}") {
			return generic
		}
		names = append(names, name)
		var pre bytes.Buffer
		pre.WriteString("--- [")
		for i, n := range names {
			if i > 0 {
				pre.WriteString(", ")
			}
			fmt.Fprintf(&pre, "&%s ~", n)
		}
		pre.WriteString("]\n" + next) // two lines before the input's first
		dec := yaml.NewDecoder(io.MultiReader(&pre, bytes.NewReader(s.data)))
		var err error
		for {
			var doc yaml.Node
			if err = dec.Decode(&doc); err != nil {
				break
			}
			if e := s.check(&doc); e != nil && e.Line > 2 {
				e.Line -= 2
				return e
			}
		}
		msg = err.Error()
		if !strings.HasPrefix(msg, "yaml: unknown anchor '") {
			return generic
		}
	}
	return generic
}

// problems words the YAML library's fixed messages for a person who edits a file by hand.
// Each key is a complete message of the library; none holds input.
var problems = map[string]struct {
	msg    string
	parser bool // a problem of the parser, which numbers lines from 0
}{
	"found character that cannot start any token":                  {"a character that cannot start a value here: a tab, or one that YAML reserves (such as @, ` or %); indent with spaces, and put such a value in double quotes", false},
	"found unknown escape character":                               {"a double-quoted value has an unknown \\ escape; write \\\\ for a backslash, or use single quotes", false},
	"found invalid Unicode character escape code":                  {"a double-quoted value has an invalid \\u or \\x escape", false},
	"did not find expected hexdecimal number":                      {"a double-quoted value has an incomplete \\u or \\x escape", false},
	"found a tab character that violates indentation":              {"a tab is used for indentation; YAML indents with spaces", false},
	"found a tab character where an indentation space is expected": {"a tab is used for indentation; YAML indents with spaces", false},
	"mapping values are not allowed in this context":               {"a value holds \": \" or starts a nested map where none may start; put the value in double quotes", false},
	"block sequence entries are not allowed in this context":       {"a \"- \" list item where a value was expected", false},
	"did not find expected key":                                    {"the indentation is inconsistent (a key was expected here)", true},
	"could not find expected ':'":                                  {"a key without a ':' after it (or a value that runs over several lines without quotes)", false},
	"found unexpected end of stream":                               {"the file ends inside a quoted value or a [ ] or { } (a closing quote or bracket is missing)", false},
	"did not find expected ',' or ']'":                             {"a [ ] list is not closed", true},
	"did not find expected ',' or '}'":                             {"a { } map is not closed", true},
	"did not find expected '-' indicator":                          {"a list item without its \"- \"", true},
	"did not find expected node content":                           {"a value is missing where one is required", true},
	"did not find expected <document start>":                       {"text after the end of the document", true},
	"found unexpected document indicator":                          {"a line starting with --- or ... inside a quoted value", false},
	"did not find expected comment or line break":                  {"text after a value on the same line (put the whole value in double quotes)", false},
	"did not find expected whitespace or line break":               {"text directly after a block scalar's | or >", false},
	"found an indentation indicator equal to 0":                    {"a block scalar's indentation indicator is 0", false},
	"did not find expected alphabetic or numeric character":        {"a & or * with no name after it; put a value that starts with & or * in double quotes", false},
	"did not find expected whitespace":                             {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", false},
	"did not find expected '!'":                                    {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", false},
	"did not find expected tag URI":                                {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", false},
	"did not find URI escaped octet":                               {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", false},
	"found undefined tag handle":                                   {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", true},
	"did not find the expected '>'":                                {"a YAML tag (!name), which wassette does not read; put the value in double quotes if it starts with !", false},
	"found duplicate %TAG directive":                               {"a %TAG directive, which wassette does not read", true},
	"found duplicate %YAML directive":                              {"two %YAML directives", true},
	"found incompatible YAML document":                             {"a %YAML directive for a version other than 1.1; remove the line", true},
	"found unknown directive name":                                 {"a line that starts with %, which YAML reserves for directives; indent it or put the value in double quotes", false},
	"could not find expected directive name":                       {"a line that starts with %, which YAML reserves for directives; indent it or put the value in double quotes", false},
	"found unexpected non-alphabetical character":                  {"a line that starts with %, which YAML reserves for directives; indent it or put the value in double quotes", false},
	"did not find expected version number":                         {"a %YAML directive without a version", false},
	"did not find expected digit or '.' character":                 {"a %YAML directive without a version", false},
	"found extremely long version number":                          {"a %YAML directive with a bad version", false},
	"exceeded max depth of 10000":                                  {"values nested more than 10000 deep", false},
}
