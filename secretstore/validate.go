package secretstore

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wassette/wassette/internal/compid"
)

// Limits on what the store accepts.
const (
	MaxKeyLen   = 256      // bytes in a key
	MaxValueLen = 64 << 10 // bytes in a value: room for a PEM bundle
	MaxFileSize = 4 << 20  // bytes in one component's file
	MaxIDLen    = compid.MaxLen
)

// Errors wrapped by the store's errors, for errors.Is.
var (
	// ErrInvalidID rejects a component ID.
	ErrInvalidID = compid.ErrInvalid
	// ErrInvalidKey rejects a secret key.
	ErrInvalidKey = errors.New("invalid secret key")
	// ErrInvalidValue rejects a secret value. Its messages never contain the value.
	ErrInvalidValue = errors.New("invalid secret value")
	// ErrNotFound reports a key that the component does not have.
	ErrNotFound = errors.New("secret not found")
)

// ValidateID reports whether id is an acceptable component ID. See the compid rules in
// README.md: 1 to 128 bytes of UTF-8 without control characters.
func ValidateID(id string) error {
	_, err := compid.Stem(id)
	return err
}

// ValidateKey reports whether key is an acceptable secret key: 1 to MaxKeyLen bytes of
// UTF-8 with no '=', whitespace or control characters (NUL included). Keys are
// case-sensitive. The error never contains the key: a key that breaks these rules may be
// a value typed in the wrong place.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: it is empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: it is %d bytes long, the limit is %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidKey)
	}
	for _, r := range key {
		switch {
		case r == '=':
			return fmt.Errorf("%w: it contains '=', which cannot appear in an environment variable name", ErrInvalidKey)
		case unicode.IsSpace(r):
			return fmt.Errorf("%w: it contains whitespace", ErrInvalidKey)
		case unicode.IsControl(r):
			return fmt.Errorf("%w: it contains the control character %U", ErrInvalidKey, r)
		}
	}
	return nil
}

// ValidateValue reports whether v is an acceptable secret value: valid UTF-8, no NUL,
// at most MaxValueLen bytes. Newlines are allowed (PEM keys). The error never contains
// the value.
func ValidateValue(v string) error {
	switch {
	case len(v) > MaxValueLen:
		return fmt.Errorf("%w: it is %d bytes long, the limit is %d", ErrInvalidValue, len(v), MaxValueLen)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: it is not valid UTF-8", ErrInvalidValue)
	case strings.IndexByte(v, 0) >= 0:
		return fmt.Errorf("%w: it contains a NUL byte", ErrInvalidValue)
	}
	return nil
}

func quoteKey(key string) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q...", key[:max])
	}
	return fmt.Sprintf("%q", key)
}
