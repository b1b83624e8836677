// Package compid maps component IDs to file names and back.
//
// Every file that belongs to one component (its secrets, its policy, its module) is named
// after the component's ID by the same mapping, so the rules live here once:
//
//   - An ID is 1 to MaxLen bytes of valid UTF-8 with no control characters (NUL included).
//   - Bytes in [a-z0-9_-] stand for themselves, and so does '.' anywhere but the start.
//   - Every other byte (upper-case letters, '/', '\', '%', ':', a leading '.', space,
//     non-ASCII) is written %XX with upper-case hexadecimal digits.
//   - A name that Windows reserves (CON, NUL, COM1, ...) has its first byte escaped too.
//   - The resulting stem is at most 200 bytes, so an ID heavy in escaped bytes may be
//     refused although it is under MaxLen.
//
// The mapping is injective even on case-insensitive file systems: unescaped bytes are
// never upper-case letters, so two names that differ only in case cannot both be produced.
// A stem never contains a path separator, never starts with '.', and is never "." or
// "..", so no ID reaches outside the folder it is joined to.
package compid

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen is the longest accepted component ID, in bytes.
const MaxLen = 128

// maxStem keeps a stem plus the longest extension in use under the 255-byte limit that
// common file systems put on a name.
const maxStem = 200

// ErrInvalid is wrapped by every error that rejects an ID.
var ErrInvalid = errors.New("invalid component ID")

const hexDigits = "0123456789ABCDEF"

// Validate reports whether id is an acceptable component ID.
func Validate(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: it is empty", ErrInvalid)
	case len(id) > MaxLen:
		return fmt.Errorf("%w: it is %d bytes long, the limit is %d", ErrInvalid, len(id), MaxLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w %s: it is not valid UTF-8", ErrInvalid, Quote(id))
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w %s: it contains the control character %U", ErrInvalid, Quote(id), r)
		}
	}
	return nil
}

// Stem returns the file name stem for id: the name of its files without their extension.
func Stem(id string) (string, error) {
	if err := Validate(id); err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(id))
	for i := 0; i < len(id); i++ {
		c := id[i]
		if plain(c, i) && !(i == 0 && reserved(id)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xF])
	}
	if b.Len() > maxStem {
		return "", fmt.Errorf("%w %s: its file name would be %d bytes, the limit is %d; "+
			"characters other than a-z, 0-9, '.', '_' and '-' take 3 bytes each", ErrInvalid, Quote(id), b.Len(), maxStem)
	}
	return b.String(), nil
}

// Parse returns the ID whose stem is stem. It reports false for a name that Stem would
// never produce (a hand-made file, a temporary file), so such files are never mistaken
// for a component's.
func Parse(stem string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(stem); i++ {
		c := stem[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(stem) {
			return "", false
		}
		hi, lo := unhex(stem[i+1]), unhex(stem[i+2])
		if hi < 0 || lo < 0 {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	id := b.String()
	if s, err := Stem(id); err != nil || s != stem {
		return "", false
	}
	return id, true
}

// Quote returns id quoted for an error message, shortened if it is long.
func Quote(id string) string {
	const max = 64
	if len(id) > max {
		return fmt.Sprintf("%q...", id[:max])
	}
	return fmt.Sprintf("%q", id)
}

func plain(c byte, i int) bool {
	switch {
	case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		return true
	case c == '.':
		return i > 0
	}
	return false
}

// reserved reports whether id, before its first dot, is a device name that Windows
// reserves in every folder, whatever the extension and letter case.
func reserved(id string) bool {
	base, _, _ := strings.Cut(id, ".")
	switch strings.ToLower(base) {
	case "con", "prn", "aux", "nul", "conin$", "conout$":
		return true
	}
	if len(base) == 4 {
		p := strings.ToLower(base[:3])
		if (p == "com" || p == "lpt") && base[3] >= '0' && base[3] <= '9' {
			return true
		}
	}
	return false
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
