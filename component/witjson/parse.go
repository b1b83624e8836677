package witjson

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A node is parsed JSON that keeps what encoding/json would lose: a number's
// exact text (a u64 never passes through a float64), the order of an
// object's keys, duplicate keys (refused) and lone surrogate escapes
// (refused where a string is expected).
type node struct {
	kind  nodeKind
	text  string  // number: its text; string: its value
	bad   bool    // string: held a lone surrogate escape
	items []*node // array
	keys  []string
	vals  []*node // object, in order
	b     bool
}

type nodeKind uint8

const (
	jNull nodeKind = iota + 1
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k nodeKind) String() string {
	return [...]string{"", "null", "a boolean", "a number", "a string", "an array", "an object"}[k]
}

func (n *node) get(key string) (*node, bool) {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], true
		}
	}
	return nil, false
}

// maxDepth bounds nesting, so hostile input cannot exhaust the stack.
const maxDepth = 256

type parser struct {
	s   string
	i   int
	err error
}

// parseJSON parses one JSON value. Its errors give an offset, never the
// input (which may hold a secret).
func parseJSON(s string) (*node, error) {
	p := &parser{s: s}
	p.ws()
	n := p.value(0)
	p.ws()
	if p.err == nil && p.i != len(p.s) {
		p.fail("trailing characters after the value")
	}
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
}

func (p *parser) fail(what string) {
	if p.err == nil {
		p.err = fmt.Errorf("invalid JSON at offset %d: %s", p.i, what)
	}
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) *node {
	if depth > maxDepth {
		p.fail("nested too deeply")
		return nil
	}
	if p.i >= len(p.s) {
		p.fail("unexpected end")
		return nil
	}
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		n := &node{kind: jObject}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return n
		}
		for p.err == nil {
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				p.fail("expected a key")
				return nil
			}
			k := p.str()
			if k == nil {
				return nil
			}
			if _, dup := n.get(k.text); dup {
				p.fail("duplicate key " + strconv.Quote(k.text))
				return nil
			}
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				p.fail(`expected ":"`)
				return nil
			}
			p.i++
			p.ws()
			v := p.value(depth + 1)
			n.keys, n.vals = append(n.keys, k.text), append(n.vals, v)
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '}' {
				p.i++
				return n
			}
			p.fail(`expected "," or "}"`)
		}
		return nil
	case c == '[':
		p.i++
		n := &node{kind: jArray}
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return n
		}
		for p.err == nil {
			p.ws()
			n.items = append(n.items, p.value(depth+1))
			p.ws()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return n
			}
			p.fail(`expected "," or "]"`)
		}
		return nil
	case c == '"':
		return p.str()
	case c == 't' && len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "true":
		p.i += 4
		return &node{kind: jBool, b: true}
	case c == 'f' && len(p.s)-p.i >= 5 && p.s[p.i:p.i+5] == "false":
		p.i += 5
		return &node{kind: jBool}
	case c == 'n' && len(p.s)-p.i >= 4 && p.s[p.i:p.i+4] == "null":
		p.i += 4
		return &node{kind: jNull}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	p.fail("unexpected character")
	return nil
}

func (p *parser) number() *node {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.s) && p.s[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		p.fail("bad number")
		return nil
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		if digits() == 0 {
			p.fail("bad number")
			return nil
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.fail("bad number")
			return nil
		}
	}
	if p.i-start > 1000 {
		p.fail("number too long")
		return nil
	}
	return &node{kind: jNumber, text: p.s[start:p.i]}
}

func (p *parser) str() *node {
	p.i++ // opening quote
	n := &node{kind: jString}
	var b []byte
	for {
		if p.i >= len(p.s) {
			p.fail("unterminated string")
			return nil
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			n.text = string(b)
			return n
		case c < 0x20:
			p.fail("control character in a string")
			return nil
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				p.fail("unterminated string")
				return nil
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return nil
				}
				if utf16.IsSurrogate(r) {
					if r < 0xdc00 && p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						save := p.i
						p.i += 2
						r2, ok := p.hex4()
						if !ok {
							return nil
						}
						if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
							b = utf8.AppendRune(b, d)
							continue
						}
						p.i = save
					}
					n.bad = true
					b = utf8.AppendRune(b, utf8.RuneError)
					continue
				}
				b = utf8.AppendRune(b, r)
			default:
				p.fail("bad escape in a string")
				return nil
			}
		default:
			r, size := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && size == 1 {
				p.fail("invalid UTF-8 in a string")
				return nil
			}
			b = append(b, p.s[p.i:p.i+size]...)
			p.i += size
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if p.i+4 > len(p.s) {
		p.fail("bad \\u escape")
		return 0, false
	}
	v, err := strconv.ParseUint(p.s[p.i:p.i+4], 16, 32)
	if err != nil {
		p.fail("bad \\u escape")
		return 0, false
	}
	p.i += 4
	return rune(v), true
}
