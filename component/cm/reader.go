package cm

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// reader decodes the primitive encodings of the WebAssembly binary format.
// Every method records the first error in r.err and returns zero values
// after it, so a decoder can read a whole production and check once.
type reader struct {
	b   []byte
	pos int
	err error
	// base is the offset of b[0] in the whole binary, for error messages.
	base int
}

var errEOF = errors.New("unexpected end of data")

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.base+r.pos, fmt.Sprintf(format, args...))
	}
}

func (r *reader) done() bool { return r.err != nil || r.pos >= len(r.b) }

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.pos >= len(r.b) {
		r.fail("%v", errEOF)
		return 0
	}
	c := r.b[r.pos]
	r.pos++
	return c
}

func (r *reader) peek() byte {
	if r.err != nil || r.pos >= len(r.b) {
		return 0
	}
	return r.b[r.pos]
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.pos) {
		r.fail("%v (want %d bytes, have %d)", errEOF, n, len(r.b)-r.pos)
		return nil
	}
	s := r.b[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

// u32 reads an unsigned LEB128 of at most 32 bits.
func (r *reader) u32() uint32 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift == 28 && c&0x70 != 0 {
			r.fail("integer too large for u32")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return uint32(v)
		}
		if shift >= 28 {
			r.fail("integer representation too long")
			return 0
		}
	}
}

// s33 reads a signed LEB128 of at most 33 bits (type indices and type codes
// share this encoding: negative values are codes).
func (r *reader) s33() int64 {
	var v int64
	var shift uint
	for {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
		if shift >= 35 {
			r.fail("integer representation too long")
			return 0
		}
	}
}

// skipLEB skips a LEB128 integer of any sign and width up to 64 bits.
func (r *reader) skipLEB() {
	for i := 0; i < 10; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail("integer representation too long")
}

// name reads a length-prefixed UTF-8 string.
func (r *reader) name() string {
	n := r.u32()
	b := r.bytes(n)
	if r.err != nil {
		return ""
	}
	if !utf8.Valid(b) {
		r.fail("name is not valid UTF-8")
		return ""
	}
	return string(b)
}

// count reads a vector length and checks that at least min bytes per element
// remain, so a hostile length cannot make the decoder allocate without bound.
func (r *reader) count(min int) uint32 {
	n := r.u32()
	if r.err == nil && min > 0 && uint64(n)*uint64(min) > uint64(len(r.b)-r.pos) {
		r.fail("vector of %d elements is longer than its section", n)
		return 0
	}
	if n > math.MaxInt32 {
		r.fail("vector too long")
		return 0
	}
	return n
}
