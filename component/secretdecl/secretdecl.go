// Package secretdecl reads and checks the secrets a component declares it needs: each
// one's key (the environment variable it reads) and a short description a person can act
// on ("API key for api.weather.com; create one at https://…").
//
// Both kinds of component declare secrets the same way, in the same JSON shape:
//
//	{"secrets": [{"key": "API_KEY", "description": "…", "tools": ["get_weather"]}]}
//
// A WASI preview1 module puts the "secrets" array in the document it prints for
// --wassette-describe (beside "tools"); a component-model component, or any WebAssembly
// binary, carries the document in a custom section named [SectionName]. "tools" is
// optional: without it, every tool of the component needs the secret.
//
// The package knows nothing of where secrets are stored; it only parses, checks and
// answers which declared secrets a call needs.
package secretdecl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/wassette/wassette/secretstore"
)

// SectionName is the name of the WebAssembly custom section that holds a component's
// declaration. Its payload is UTF-8 JSON: one or more {"secrets": […]} objects, one after
// the other, as a linker leaves them when it joins sections of the same name from
// several object files; their lists are merged.
const SectionName = "wassette:secrets"

// Limits on a declaration.
const (
	// MaxSecrets is how many secrets one component may declare.
	MaxSecrets = 64
	// MaxDescriptionLen is the longest description, in bytes.
	MaxDescriptionLen = 512
	// MaxSectionLen is the largest custom section payload read, in bytes.
	MaxSectionLen = 256 << 10
)

// ErrInvalid is wrapped by every error about a declaration.
var ErrInvalid = errors.New("invalid secret declaration")

// Secret is one secret a component declares it needs.
type Secret struct {
	// Key is the environment variable the component reads, with the rules of a
	// secret's key (secretstore.ValidateKey).
	Key string `json:"key"`
	// Description tells a person what the value is and where to get it: 1 to
	// MaxDescriptionLen bytes of text on one line.
	Description string `json:"description"`
	// Tools are the tools that need the secret; empty means every tool.
	Tools []string `json:"tools,omitempty"`
}

// NeededBy reports whether a call of tool needs s.
func (s Secret) NeededBy(tool string) bool {
	return len(s.Tools) == 0 || slices.Contains(s.Tools, tool)
}

// Check reports the first problem of a declaration: a bad key or description, a key
// declared twice, more than MaxSecrets secrets, or, when tools is not nil, a tool name
// that is not one of tools. Errors wrap ErrInvalid and quote keys and tool names (never
// values: a declaration holds none), shortened.
func Check(secrets []Secret, tools []string) error {
	if len(secrets) > MaxSecrets {
		return fmt.Errorf("%w: %d secrets are declared, the limit is %d", ErrInvalid, len(secrets), MaxSecrets)
	}
	seen := make(map[string]bool, len(secrets))
	for i, s := range secrets {
		if err := secretstore.ValidateKey(s.Key); err != nil {
			return fmt.Errorf("%w: secret #%d: %v", ErrInvalid, i, err)
		}
		if seen[s.Key] {
			return fmt.Errorf("%w: secret %s is declared more than once", ErrInvalid, quote(s.Key))
		}
		seen[s.Key] = true
		if err := checkDescription(s.Description); err != nil {
			return fmt.Errorf("%w: secret %s: the description %v", ErrInvalid, quote(s.Key), err)
		}
		for _, t := range s.Tools {
			if tools != nil && !slices.Contains(tools, t) {
				return fmt.Errorf("%w: secret %s names the tool %s, which the component does not declare",
					ErrInvalid, quote(s.Key), quote(t))
			}
		}
	}
	return nil
}

func checkDescription(d string) error {
	switch {
	case d == "":
		return errors.New("is missing or empty: say what the value is and where a person gets it")
	case len(d) > MaxDescriptionLen:
		return fmt.Errorf("is %d bytes long, the limit is %d", len(d), MaxDescriptionLen)
	case !utf8.ValidString(d):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range d {
		if unicode.IsControl(r) {
			return fmt.Errorf("contains the control character %U; keep it to one line of text", r)
		}
	}
	return nil
}

// ParseSection parses and checks the payload of a SectionName custom section: one or more
// {"secrets": […]} objects, merged in order. Unknown fields are refused. tools, if not
// nil, are the component's tool names, for Check.
func ParseSection(payload []byte, tools []string) ([]Secret, error) {
	if len(payload) > MaxSectionLen {
		return nil, fmt.Errorf("%w: the %s section is %d bytes, the limit is %d", ErrInvalid, SectionName, len(payload), MaxSectionLen)
	}
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: the %s section is not UTF-8 JSON", ErrInvalid, SectionName)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	var all []Secret
	for n := 0; ; n++ {
		var doc struct {
			Secrets *[]Secret `json:"secrets"`
		}
		err := dec.Decode(&doc)
		if err == io.EOF && n > 0 {
			break
		}
		if err == io.EOF {
			return nil, fmt.Errorf(`%w: the %s section is empty; it holds {"secrets": [...]}`, ErrInvalid, SectionName)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: the %s section is not valid: %v", ErrInvalid, SectionName, err)
		}
		if doc.Secrets == nil {
			return nil, fmt.Errorf(`%w: the %s section has an object without a "secrets" array`, ErrInvalid, SectionName)
		}
		all = append(all, *doc.Secrets...)
		if len(all) > MaxSecrets {
			break // Check reports it
		}
	}
	if err := Check(all, tools); err != nil {
		return nil, err
	}
	return all, nil
}

// FromWasm returns the secrets that a WebAssembly binary, a core module or a component,
// declares in SectionName custom sections: its own, and, in a component, those of the
// core modules and components nested in it (where a toolchain that builds a component
// from a core module leaves a section the source put there). Their lists are merged; a
// binary with no such section declares nothing (nil, nil). tools, if not nil, are the
// component's tool names, for Check. Only the section framing is read: the binary is
// not otherwise validated.
func FromWasm(bin []byte, tools []string) ([]Secret, error) {
	var payload []byte
	if err := walk(bin, 0, &payload); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if payload == nil {
		return nil, nil
	}
	return ParseSection(payload, tools)
}

// maxDepth bounds how deeply nested components are searched.
const maxDepth = 16

// walk appends to payload the content of every SectionName section of bin and of the
// binaries nested in it.
func walk(bin []byte, depth int, payload *[]byte) error {
	if depth > maxDepth {
		return fmt.Errorf("components are nested more than %d deep", maxDepth)
	}
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return errors.New("not a WebAssembly binary (no \\0asm header)")
	}
	component := bin[6] == 1 && bin[7] == 0 // layer 1: the component model
	rest := bin[8:]
	for len(rest) > 0 {
		id := rest[0]
		size, n, err := uleb32(rest[1:])
		if err != nil {
			return fmt.Errorf("section of id %d: %v", id, err)
		}
		rest = rest[1+n:]
		if uint64(size) > uint64(len(rest)) {
			return fmt.Errorf("section of id %d claims %d bytes, only %d remain", id, size, len(rest))
		}
		content := rest[:size]
		rest = rest[size:]
		switch {
		case id == 0:
			nameLen, n, err := uleb32(content)
			if err != nil || uint64(nameLen) > uint64(len(content)-n) {
				return errors.New("a custom section has a malformed name")
			}
			if string(content[n:n+int(nameLen)]) == SectionName {
				if *payload == nil {
					*payload = []byte{}
				}
				if len(*payload)+len(content) > MaxSectionLen+MaxSectionLen/8 {
					return fmt.Errorf("the %s sections hold more than %d bytes", SectionName, MaxSectionLen)
				}
				*payload = append(*payload, content[n+int(nameLen):]...)
			}
		case component && (id == 1 || id == 4): // a nested core module or component
			if err := walk(content, depth+1, payload); err != nil {
				return err
			}
		}
	}
	return nil
}

// uleb32 decodes an unsigned LEB128 number of at most 32 bits.
func uleb32(b []byte) (uint32, int, error) {
	var v uint64
	for i := 0; i < 5 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if v > 1<<32-1 {
				break
			}
			return uint32(v), i + 1, nil
		}
	}
	return 0, 0, errors.New("malformed or truncated length")
}

// Missing returns the secrets of decl that a call of tool needs (all of them, if tool is
// empty) and that have reports absent, in declaration order.
func Missing(decl []Secret, tool string, have func(key string) bool) []Secret {
	var out []Secret
	for _, s := range decl {
		if (tool == "" || s.NeededBy(tool)) && !have(s.Key) {
			out = append(out, s)
		}
	}
	return out
}

func quote(s string) string {
	const max = 64
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
