package cm

import (
	"fmt"
)

// coreExternKind is the kind of a core import or export.
type coreExternKind byte

const (
	coreFunc   coreExternKind = 0
	coreTable  coreExternKind = 1
	coreMemory coreExternKind = 2
	coreGlobal coreExternKind = 3
	coreTag    coreExternKind = 4
)

func (k coreExternKind) String() string {
	return [...]string{"func", "table", "memory", "global", "tag"}[k]
}

func (k coreExternKind) sort() sort { return coreSortBase + sort(k) }

// coreDesc is the type of a core import or export.
type coreDesc struct {
	kind coreExternKind
	fn   *coreFuncType
	// table: reference type byte; global: value type byte and mutability
	valType byte
	mutable bool
	min     uint64
	max     *uint64
	mem64   bool
}

type coreImport struct {
	module, name string
	desc         coreDesc
}

// coreModuleInfo is what a component needs to know about a core module: its
// imports and the types of its exports.
type coreModuleInfo struct {
	imports []coreImport
	exports map[string]coreDesc
	// memPages is the initial size of the memories the module defines.
	memPages uint64
}

// parseCoreModule reads the import, export and type information of a core
// module. The module's code is not validated here: wazero does that.
func parseCoreModule(wasm []byte) (*coreModuleInfo, error) {
	info := &coreModuleInfo{exports: map[string]coreDesc{}}
	r := &reader{b: wasm, pos: 8}
	var types []*coreFuncType
	var funcs []*coreFuncType // function index space
	var tables, mems, globals []coreDesc
	for !r.done() {
		id := r.byte()
		size := r.u32()
		body := r.bytes(size)
		if r.err != nil {
			break
		}
		sr := &reader{b: body}
		switch id {
		case 1: // type
			n := sr.count(1)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				switch form := sr.byte(); form {
				case 0x60:
					ft, err := readCoreFuncType(sr)
					if err != nil {
						return nil, err
					}
					types = append(types, ft)
				default:
					return nil, fmt.Errorf("core module type form %#x is not supported (GC types are not)", form)
				}
			}
		case 2: // import
			n := sr.count(4)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				imp := coreImport{module: sr.name(), name: sr.name()}
				d, err := readCoreDesc(sr, types)
				if err != nil {
					return nil, fmt.Errorf("import %s.%s: %w", imp.module, imp.name, err)
				}
				imp.desc = d
				info.imports = append(info.imports, imp)
				switch d.kind {
				case coreFunc:
					funcs = append(funcs, d.fn)
				case coreTable:
					tables = append(tables, d)
				case coreMemory:
					mems = append(mems, d)
				case coreGlobal:
					globals = append(globals, d)
				}
			}
		case 3: // function
			n := sr.count(1)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				ti := sr.u32()
				if int(ti) >= len(types) {
					return nil, fmt.Errorf("function type %d out of range", ti)
				}
				funcs = append(funcs, types[ti])
			}
		case 4: // table
			n := sr.count(3)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				d := coreDesc{kind: coreTable, valType: sr.byte()}
				readLimits(sr, &d)
				tables = append(tables, d)
			}
		case 5: // memory
			n := sr.count(2)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				d := coreDesc{kind: coreMemory}
				readLimits(sr, &d)
				mems = append(mems, d)
				info.memPages += d.min
			}
		case 6: // global
			n := sr.count(3)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				d := coreDesc{kind: coreGlobal, valType: sr.byte(), mutable: sr.byte() == 1}
				globals = append(globals, d)
				if err := skipConstExpr(sr); err != nil {
					return nil, err
				}
			}
		case 7: // export
			n := sr.count(3)
			for i := uint32(0); i < n && sr.err == nil; i++ {
				name := sr.name()
				kind := coreExternKind(sr.byte())
				idx := sr.u32()
				var space []coreDesc
				switch kind {
				case coreFunc:
					if int(idx) >= len(funcs) {
						return nil, fmt.Errorf("export %q: function %d out of range", name, idx)
					}
					info.exports[name] = coreDesc{kind: coreFunc, fn: funcs[idx]}
					continue
				case coreTable:
					space = tables
				case coreMemory:
					space = mems
				case coreGlobal:
					space = globals
				default:
					info.exports[name] = coreDesc{kind: kind}
					continue
				}
				if int(idx) >= len(space) {
					return nil, fmt.Errorf("export %q: %s %d out of range", name, kind, idx)
				}
				info.exports[name] = space[idx]
			}
		case 0, 8, 9, 10, 11, 12, 13:
			// custom, start, element, code, data, data count, tag: not needed.
		}
		if sr.err != nil {
			return nil, sr.err
		}
	}
	return info, r.err
}

func readCoreDesc(r *reader, types []*coreFuncType) (coreDesc, error) {
	d := coreDesc{kind: coreExternKind(r.byte())}
	switch d.kind {
	case coreFunc:
		ti := r.u32()
		if int(ti) >= len(types) {
			return d, fmt.Errorf("type %d out of range", ti)
		}
		d.fn = types[ti]
	case coreTable:
		d.valType = r.byte()
		readLimits(r, &d)
	case coreMemory:
		readLimits(r, &d)
	case coreGlobal:
		d.valType = r.byte()
		d.mutable = r.byte() == 1
	case coreTag:
		r.byte()
		r.u32()
	default:
		return d, fmt.Errorf("unknown import kind %#x", d.kind)
	}
	return d, r.err
}

func readLimits(r *reader, d *coreDesc) {
	flags := r.byte()
	d.mem64 = flags&4 != 0
	if flags&8 != 0 { // custom page sizes: not supported by wazero anyway
		r.fail("custom page sizes are not supported")
	}
	read := func() uint64 {
		if d.mem64 {
			var v uint64
			for shift := uint(0); shift < 70; shift += 7 {
				c := r.byte()
				v |= uint64(c&0x7f) << shift
				if c&0x80 == 0 {
					break
				}
			}
			return v
		}
		return uint64(r.u32())
	}
	d.min = read()
	if flags&1 != 0 {
		m := read()
		d.max = &m
	}
}

// skipConstExpr skips a constant expression up to its end opcode.
func skipConstExpr(r *reader) error {
	for !r.done() {
		switch op := r.byte(); op {
		case 0x0b:
			return nil
		case 0x41, 0x42, 0x23, 0xd2: // i32.const, i64.const, global.get, ref.func
			r.skipLEB()
		case 0x43:
			r.bytes(4)
		case 0x44:
			r.bytes(8)
		case 0xd0: // ref.null t
			r.byte()
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constant arithmetic
		case 0xfd: // v128.const
			r.u32()
			r.bytes(16)
		default:
			return fmt.Errorf("unsupported opcode %#x in a constant expression", op)
		}
	}
	if r.err != nil {
		return r.err
	}
	return errEOF
}

// valTypeByte returns the binary encoding of a core value type.
func (c coreType) byte() byte {
	return [...]byte{0, 0x7f, 0x7e, 0x7d, 0x7c}[c]
}
