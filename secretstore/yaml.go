package secretstore

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/wassette/wassette/internal/strictyaml"
)

// Secrets is an immutable snapshot of one component's secrets. The zero Secrets is empty.
type Secrets struct {
	keys []string // sorted
	vals map[string]Value
	// stored holds each encrypted value as the file stored it, all for the recipient
	// sealedFor, so that the next version of the file opens only the values that changed.
	stored    map[string]string
	sealedFor string
}

func newSecrets(m map[string]string) Secrets {
	s := Secrets{keys: make([]string, 0, len(m)), vals: make(map[string]Value, len(m))}
	for k, v := range m {
		s.keys = append(s.keys, k)
		s.vals[k] = NewValue(v)
	}
	slices.Sort(s.keys)
	return s
}

// Len reports how many secrets there are.
func (s Secrets) Len() int { return len(s.keys) }

// Keys returns the keys in sorted order.
func (s Secrets) Keys() []string { return slices.Clone(s.keys) }

// Lookup returns the value of key.
func (s Secrets) Lookup(key string) (Value, bool) {
	v, ok := s.vals[key]
	return v, ok
}

// All yields every key and value in key order.
func (s Secrets) All() func(yield func(string, Value) bool) {
	return func(yield func(string, Value) bool) {
		for _, k := range s.keys {
			if !yield(k, s.vals[k]) {
				return
			}
		}
	}
}

// parse reads a secrets file: a flat YAML mapping of string keys to string values.
// Scalars read as their exact text ("TIMEOUT: 30" is "30", "on" is "on", an empty value
// is ""). Nested maps and lists, anchors, aliases, tags, merge keys, duplicate keys, keys
// or values that break the store's rules, and invalid UTF-8 are errors that name the file
// (name), line and column and never contain a value.
func parse(name string, data []byte) (Secrets, error) {
	m, err := parseMap(name, data)
	if err != nil {
		return Secrets{}, err
	}
	return newSecrets(m), nil
}

func parseMap(name string, data []byte) (map[string]string, error) {
	m, err := readMap(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return m, nil
}

// readMap reads the mapping of a secrets file. A key is named in an error only once it
// is known to be a valid key; a value never is.
func readMap(data []byte) (map[string]string, error) {
	root, err := strictyaml.Parse(data)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if root == nil {
		return m, nil // empty, or comments only
	}
	if root.Kind != yaml.MappingNode {
		return nil, strictyaml.At(root, "expected KEY: value lines, found a %s", kindName(root.Kind))
	}
	firstLine := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, strictyaml.At(k, "a key must be a plain string, found a %s", kindName(k.Kind))
		}
		if err := ValidateKey(k.Value); err != nil {
			return nil, strictyaml.At(k, "%v", err)
		}
		if first, dup := firstLine[k.Value]; dup {
			return nil, strictyaml.At(k, "key %s appears twice (first on line %d)", quoteKey(k.Value), first)
		}
		firstLine[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			return nil, strictyaml.At(v, "the value of %s is a %s; secrets are flat KEY: \"string\" pairs",
				quoteKey(k.Value), kindName(v.Kind))
		}
		if err := ValidateValue(v.Value); err != nil {
			return nil, strictyaml.At(v, "the value of %s: %v", quoteKey(k.Value), err)
		}
		m[k.Value] = v.Value
	}
	return m, nil
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "nested map"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	}
	return "YAML document"
}

// header returns the comment block at the top of a file, kept by every rewrite.
func header(data []byte) []byte {
	end := 0
	for pos := 0; pos < len(data); {
		line := data[pos:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		pos += len(line)
		if len(t) > 0 {
			end = pos
		}
	}
	h := data[:end]
	if len(h) > 0 && h[len(h)-1] != '\n' {
		h = append(slices.Clip(h), '\n')
	}
	return h
}

// newHeader is the comment a new secrets file starts with.
func newHeader(id string, encrypted bool) []byte {
	if encrypted {
		return fmt.Appendf(nil, "# Secrets of wassette component %q, one KEY: \"value\" per line.\n"+
			"# Values are encrypted with age (see .encryption.yaml); change them with\n"+
			"# `wassette secret set` or `wassette secret edit %s`. Keep this file mode 0600.\n\n", id, shellWord(id))
	}
	return fmt.Appendf(nil, "# Secrets of wassette component %q, one KEY: \"value\" per line.\n"+
		"# Hand edits are seen on the next read. Keep this file mode 0600.\n\n", id)
}

// shellWord quotes s for a command line a person may paste, when it needs quotes.
func shellWord(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// valueLine returns the line of key's value in a secrets file that parsed, or 0.
func valueLine(data []byte, key string) int {
	root, err := strictyaml.Parse(data)
	if err != nil || root == nil {
		return 0
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i+1].Line
		}
	}
	return 0
}

// encode writes m as a secrets file: hdr, then one line per key in sorted order, every
// value double-quoted so that it reads back as the same string.
func encode(hdr []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.Write(hdr)
	for _, k := range keys {
		if plainKey(k) {
			b.WriteString(k)
		} else {
			writeQuoted(&b, k)
		}
		b.WriteString(": ")
		writeQuoted(&b, m[k])
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// plainKey reports whether k can be written without quotes and read back as the same
// string by any YAML reader, including YAML 1.1 ones that read "on" as a boolean.
func plainKey(k string) bool {
	for i, r := range k {
		if !(r == '_' || 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || i > 0 && ('0' <= r && r <= '9' || r == '-' || r == '.')) {
			return false
		}
	}
	switch strings.ToLower(k) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null":
		return false
	}
	return true
}

// writeQuoted writes s as a YAML double-quoted scalar, escaping what YAML would
// otherwise fold or drop: quotes, backslashes, line breaks and every non-printing
// character.
func writeQuoted(b *bytes.Buffer, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(b, `\u%04X`, r)
		default:
			fmt.Fprintf(b, `\U%08X`, r)
		}
	}
	b.WriteByte('"')
}
