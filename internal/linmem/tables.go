package linmem

import (
	"errors"
	"fmt"
)

// TableElemBytes is what one table element costs the host (a pointer).
const TableElemBytes = 8

// maxTables bounds the number of tables a module may define.
const maxTables = 100

// MaxTableElems is the number of table elements an instance may hold in all, as
// wassette bounds them: 8 MiB of host memory. Go modules use a few thousand, the
// JavaScript engine's components tens of thousands.
const MaxTableElems = 1 << 20

// CapTables returns module with every table it defines given a maximum size, so that
// its tables together never hold more than maxElems elements (maxElems x
// TableElemBytes bytes of host memory), however the module grows them: a table
// without a declared maximum (or with a larger one) gets an equal share of what the
// initial sizes leave. Tables live in host memory, outside the linear memory budget:
// without a maximum, one table.grow of a 46-byte module asks the host for 16 GiB.
//
// A module whose tables start larger than maxElems, that defines more than 100 tables,
// or that imports a table is refused. A module without tables is returned as is. The
// module is not validated: an error wrapping ErrMalformed means it could not be read
// (compile the original to learn what is wrong with it).
func CapTables(module []byte, maxElems uint64) ([]byte, error) {
	return capTables(module, maxElems, false)
}

// CapDefinedTables is CapTables for a core module of a component, which may import
// tables that another core module of the same component defines (and exports): the
// tables it defines are capped as CapTables caps them, the tables it imports are left
// as declared. Capping every module that defines tables bounds them all, and cannot
// break a link that worked: a table given a maximum still satisfies every import that
// accepted it without one.
func CapDefinedTables(module []byte, maxElems uint64) ([]byte, error) {
	return capTables(module, maxElems, true)
}

func capTables(module []byte, maxElems uint64, allowImports bool) ([]byte, error) {
	out := module // a module without tables is returned as is
	err := sections(module, func(s moduleSection) (bool, error) {
		switch s.id {
		case 2: // import: tables only if allowed
			return true, readImports(s.body, func(kind byte, _ Memory) error {
				if kind == importTable && !allowImports {
					return errors.New("the module imports a table: wassette provides none")
				}
				return nil
			})
		case 4: // table
			tables, err := readTables(s.body)
			if err != nil {
				return false, err
			}
			body, err := cappedTables(tables, maxElems)
			if err != nil {
				return false, err
			}
			out = make([]byte, 0, len(module)+len(body))
			out = append(out, module[:s.start]...)
			out = append(out, 4)
			out = appendU32(out, uint32(len(body)))
			out = append(out, body...)
			out = append(out, module[s.end:]...)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type table struct {
	ref byte // reference type
	lim Memory
}

func readTables(sec *reader) ([]table, error) {
	n := sec.u32()
	if n > maxTables {
		return nil, fmt.Errorf("the module defines %d tables, more than the %d wassette allows", n, maxTables)
	}
	var ts []table
	for ; n > 0 && sec.err == nil; n-- {
		ref := sec.byte()
		if ref == 0x40 { // a table with an initializer expression (function references)
			return nil, fmt.Errorf("%w: a table with an initializer", ErrMalformed)
		}
		ts = append(ts, table{ref: ref, lim: sec.limits()})
	}
	if sec.err == nil && sec.off != len(sec.b) {
		sec.fail("the table section has trailing bytes")
	}
	if sec.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, sec.err)
	}
	return ts, nil
}

// cappedTables encodes tables with maximums that keep their sum within maxElems.
func cappedTables(ts []table, maxElems uint64) ([]byte, error) {
	var initial uint64
	for _, t := range ts {
		initial += t.lim.Min
	}
	if initial > maxElems {
		return nil, fmt.Errorf("the module's tables start with %d elements, more than the %d wassette allows", initial, maxElems)
	}
	share := uint64(0)
	if len(ts) > 0 {
		share = (maxElems - initial) / uint64(len(ts))
	}
	body := appendU32(nil, uint32(len(ts)))
	for _, t := range ts {
		max := t.lim.Min + share
		if t.lim.HasMax && t.lim.Max < max {
			max = t.lim.Max
		}
		flags := byte(0x01) // has a maximum
		if t.lim.Memory64 {
			flags |= 0x04
		}
		body = append(body, t.ref, flags)
		body = appendU64(body, t.lim.Min)
		body = appendU64(body, max)
	}
	return body, nil
}

func appendU32(b []byte, v uint32) []byte { return appendU64(b, uint64(v)) }

func appendU64(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
