package linmem

import (
	"errors"
	"fmt"
)

// Memory is a linear memory a module declares, imported or defined, exported or not.
type Memory struct {
	Imported bool   // from the import section, rather than the memory section
	Min      uint64 // initial size, in pages
	Max      uint64 // maximum size, in pages, when HasMax
	HasMax   bool
	Shared   bool
	Memory64 bool
}

// InitialBytes is the sum of the initial sizes of mems, in bytes (saturating).
func InitialBytes(mems []Memory) uint64 {
	var total uint64
	for _, m := range mems {
		b := m.Min * PageSize
		if m.Min > (1<<64-1)/PageSize || total+b < total {
			return 1<<64 - 1
		}
		total += b
	}
	return total
}

// Declared returns the memories a core WebAssembly module declares: each imported
// memory (import section), then each defined one (memory section), in index order.
// It reads only the section headers it needs and those two sections, and refuses a
// binary it cannot read (a module wazero compiled is always readable).
func Declared(module []byte) ([]Memory, error) {
	var mems []Memory
	err := sections(module, func(s moduleSection) (bool, error) {
		switch s.id {
		case 2: // import
			return true, readImports(s.body, func(kind byte, lim Memory) error {
				if kind == importMemory {
					lim.Imported = true
					mems = append(mems, lim)
				}
				return nil
			})
		case 5: // memory
			for n := s.body.u32(); n > 0 && s.body.err == nil; n-- {
				mems = append(mems, s.body.limits())
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return mems, nil
}

// moduleSection is one section of a module: its id, where it starts (its header
// included) and ends, and a reader of its body.
type moduleSection struct {
	id         byte
	start, end int
	body       *reader
}

// sections checks module's header and calls visit with each of its sections in
// order, until visit returns false or an error (which sections returns as is). A
// header it cannot read, or a body that visit found unreadable, is an error
// wrapping ErrMalformed.
func sections(module []byte, visit func(moduleSection) (more bool, err error)) error {
	if len(module) < 8 || string(module[:4]) != "\x00asm" {
		return fmt.Errorf("%w: no \\0asm header", ErrMalformed)
	}
	r := &reader{b: module, off: 8}
	for r.off < len(r.b) && r.err == nil {
		start := r.off
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			break
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			r.fail("a section runs past the end of the module")
			break
		}
		s := moduleSection{id: id, start: start, end: r.off + int(size), body: &reader{b: r.b[:r.off+int(size)], off: r.off}}
		r.off = s.end
		more, err := visit(s)
		if err != nil {
			return err
		}
		if s.body.err != nil {
			r.err = s.body.err
			break
		}
		if !more {
			return nil
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, r.err)
	}
	return nil
}

// The import kinds that readImports passes on.
const (
	importTable  = 0x01
	importMemory = 0x02
)

// readImports reads an import section's body, passing each table and memory import
// to visit with its kind and limits; an error of visit ends the reading.
func readImports(sec *reader, visit func(kind byte, lim Memory) error) error {
	for n := sec.u32(); n > 0 && sec.err == nil; n-- {
		sec.name()
		sec.name()
		switch kind := sec.byte(); kind {
		case 0x00: // function: type index
			sec.u32()
		case importTable: // reference type, limits
			sec.byte()
			if err := visit(kind, sec.limits()); err != nil {
				return err
			}
		case importMemory:
			if err := visit(kind, sec.limits()); err != nil {
				return err
			}
		case 0x03: // global: value type, mutability
			sec.byte()
			sec.byte()
		case 0x04: // tag: attribute, type index
			sec.byte()
			sec.u32()
		default:
			sec.fail(fmt.Sprintf("unknown import kind %#x", kind))
		}
	}
	return nil
}

// ErrMalformed is wrapped by the errors of Declared and CapTables for a binary they
// cannot read.
var ErrMalformed = errors.New("malformed WebAssembly module")

// reader reads the encodings of the WebAssembly binary format; the first error
// sticks and later reads return zero.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end of the module")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

// uleb reads an unsigned LEB128 number of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (bits-shift < 7 && c&0x7f>>(bits-shift) != 0) {
			r.fail("a number is too large")
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) u32() uint32 { return uint32(r.uleb(32)) }

func (r *reader) name() {
	n := r.u32()
	if r.err != nil {
		return
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		r.fail("a name runs past the end of its section")
		return
	}
	r.off += int(n)
}

// limits reads the limits of a memory or table type.
func (r *reader) limits() Memory {
	flags := r.byte()
	if flags&^0x07 != 0 {
		r.fail(fmt.Sprintf("unknown limits flags %#x", flags))
		return Memory{}
	}
	m := Memory{HasMax: flags&1 != 0, Shared: flags&2 != 0, Memory64: flags&4 != 0}
	bits := uint(32)
	if m.Memory64 {
		bits = 64
	}
	m.Min = r.uleb(bits)
	if m.HasMax {
		m.Max = r.uleb(bits)
	}
	return m
}
