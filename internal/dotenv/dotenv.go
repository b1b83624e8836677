// Package dotenv parses .env files: the KEY=VALUE lines that `wassette secret import`
// reads.
//
// The accepted syntax:
//
//	# a comment line, and blank lines, are skipped
//	API_KEY=sk-123              # unquoted: trimmed; " #" starts a comment
//	export ENDPOINT=https://x   # an "export " prefix is allowed
//	GREETING="hello\nworld"     # double quotes: \n \r \t \" \\ \$ escapes; may span lines
//	RAW='C:\path #1'            # single quotes: taken literally; may span lines
//
// Errors name the file and line, and never contain a value.
package dotenv

import (
	"fmt"
	"strings"
)

// Entry is one KEY=VALUE assignment.
type Entry struct {
	Key   string
	Value string
	Line  int // the line the assignment starts on, from 1
}

// Parse reads src; name prefixes errors. A key assigned twice is an error, so that
// nothing is silently dropped. Keys are returned as written: callers check them.
func Parse(name, src string) ([]Entry, error) {
	src = strings.TrimPrefix(src, "\uFEFF")
	src = strings.ReplaceAll(src, "\r\n", "\n")
	var out []Entry
	seen := map[string]int{}
	line := 1
	for len(src) > 0 {
		start := line
		raw, rest, _ := strings.Cut(src, "\n")
		src = rest
		line++
		t := strings.TrimSpace(raw)
		if t == "" || t[0] == '#' {
			continue
		}
		t = strings.TrimPrefix(t, "export ")
		key, val, ok := strings.Cut(t, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%s: line %d: expected KEY=VALUE", name, start)
		}
		val = strings.TrimLeft(val, " \t")
		var value string
		if val != "" && (val[0] == '"' || val[0] == '\'') {
			// A quoted value may run over several lines: gather until the closing quote.
			body := val[1:]
			for {
				end := closingQuote(body, val[0])
				if end >= 0 {
					after := strings.TrimSpace(body[end+1:])
					if after != "" && after[0] != '#' {
						return nil, fmt.Errorf("%s: line %d: unexpected text after the closing quote of %s", name, line-1, key)
					}
					body = body[:end]
					break
				}
				if src == "" {
					return nil, fmt.Errorf("%s: line %d: the value of %s has no closing %c", name, start, key, val[0])
				}
				next, rest, _ := strings.Cut(src, "\n")
				body += "\n" + next
				src = rest
				line++
			}
			if val[0] == '"' {
				var err error
				if value, err = unescape(body); err != nil {
					return nil, fmt.Errorf("%s: line %d: value of %s: %w", name, start, key, err)
				}
			} else {
				value = body
			}
		} else {
			if i := strings.Index(val, " #"); i >= 0 {
				val = val[:i]
			}
			if i := strings.Index(val, "\t#"); i >= 0 {
				val = val[:i]
			}
			value = strings.TrimSpace(val)
		}
		if first, dup := seen[key]; dup {
			return nil, fmt.Errorf("%s: line %d: %s is assigned twice (first on line %d)", name, start, key, first)
		}
		seen[key] = start
		out = append(out, Entry{Key: key, Value: value, Line: start})
	}
	return out, nil
}

// closingQuote returns the index of the quote q that ends s, or -1. In double quotes a
// backslash escapes the next character.
func closingQuote(s string, q byte) int {
	for i := 0; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("a backslash ends the value")
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\', '$', '\'':
			b.WriteByte(s[i])
		case '\n':
			// a backslash before a line break joins the lines
		default:
			return "", fmt.Errorf(`unknown escape: after a backslash use n, r, t, ", \\ or $`)
		}
	}
	return b.String(), nil
}
