package cm

import (
	"bytes"
	"fmt"
)

// Section IDs of the component binary format.
const (
	secCustom       = 0
	secCoreModule   = 1
	secCoreInstance = 2
	secCoreType     = 3
	secComponent    = 4
	secInstance     = 5
	secAlias        = 6
	secType         = 7
	secCanon        = 8
	secStart        = 9
	secImport       = 10
	secExport       = 11
	secValue        = 12
)

var sectionNames = [...]string{"custom", "core module", "core instance", "core type", "component",
	"instance", "alias", "type", "canon", "start", "import", "export", "value"}

func sectionName(id byte) string {
	if int(id) < len(sectionNames) {
		return sectionNames[id]
	}
	return fmt.Sprintf("unknown (id %d)", id)
}

// Sorts. Core sorts are stored as coreSortBase+byte.
type sort uint8

const (
	sortFunc      sort = 1
	sortValue     sort = 2
	sortType      sort = 3
	sortComponent sort = 4
	sortInstance  sort = 5

	coreSortBase     sort = 0x20
	sortCoreFunc          = coreSortBase + 0x00
	sortCoreTable         = coreSortBase + 0x01
	sortCoreMemory        = coreSortBase + 0x02
	sortCoreGlobal        = coreSortBase + 0x03
	sortCoreTag           = coreSortBase + 0x04
	sortCoreType          = coreSortBase + 0x10
	sortCoreModule        = coreSortBase + 0x11
	sortCoreInstance      = coreSortBase + 0x12
)

func (s sort) String() string {
	switch s {
	case sortFunc:
		return "func"
	case sortValue:
		return "value"
	case sortType:
		return "type"
	case sortComponent:
		return "component"
	case sortInstance:
		return "instance"
	case sortCoreFunc:
		return "core func"
	case sortCoreTable:
		return "core table"
	case sortCoreMemory:
		return "core memory"
	case sortCoreGlobal:
		return "core global"
	case sortCoreTag:
		return "core tag"
	case sortCoreType:
		return "core type"
	case sortCoreModule:
		return "core module"
	case sortCoreInstance:
		return "core instance"
	}
	return fmt.Sprintf("sort(%#x)", uint8(s))
}

// rawComponent is a decoded component: its definitions in binary order.
type rawComponent struct {
	defs    []any // the def* types below, in order
	customs map[string][][]byte
}

type (
	defCoreModule struct {
		wasm []byte
	}
	defCoreInstance struct {
		module  uint32 // for instantiate
		args    []coreArg
		exports []coreInlineExport // for inline exports
		inline  bool
	}
	coreArg struct {
		name     string
		instance uint32
	}
	coreInlineExport struct {
		name string
		sort sort
		idx  uint32
	}
	defCoreType struct {
		fn     *coreFuncType // nil for a module type (kept for index numbering only)
		module bool
	}
	defComponent struct {
		c *rawComponent
	}
	defInstance struct {
		component uint32
		args      []instArg
		exports   []instArg // inline exports: name, sort, idx
		inline    bool
	}
	instArg struct {
		name string
		sort sort
		idx  uint32
	}
	defAlias struct {
		sort sort
		kind byte // 0 export, 1 core export, 2 outer
		inst uint32
		name string
		ct   uint32 // outer: enclosing scope count
		idx  uint32 // outer: index
	}
	defType struct {
		t *rawType
	}
	defCanon struct {
		op   byte
		fn   uint32 // lift: core func; lower: func
		opts canonOpts
		typ  uint32 // lift: type; resource.*: resource type
	}
	defImport struct {
		name string
		et   externType
	}
	defExport struct {
		name string
		sort sort
		idx  uint32
		et   *externType
	}
)

type canonOpts struct {
	encoding   byte // 0 utf8, 1 utf16, 2 latin1+utf16
	memory     *uint32
	realloc    *uint32
	postReturn *uint32
	async      bool
	callback   *uint32
}

type externType struct {
	kind  externKind
	idx   uint32 // type index (core type for modules)
	bound byte   // types: 0 eq, 1 sub resource
}

type coreFuncType struct {
	params, results []coreType
}

// rawType is an undecoded-but-parsed component type definition.
type rawType struct {
	code byte
	// defvaltypes
	prim   Kind
	labels []string   // record fields, variant cases, flags, enum
	refs   []valRef   // record field types, variant case types (nil ref = none), tuple, list elem, option
	ok, er *valRef    // result
	idx    uint32     // own, borrow
	params []labelRef // func
	result *valRef    // func
	decls  []typeDecl // instance, component
	// resource
	rep  byte
	dtor *uint32
}

// valRef is a valtype: a primitive kind or a type index.
type valRef struct {
	prim Kind
	idx  uint32
}

type labelRef struct {
	name string
	ref  valRef
}

// typeDecl is a declarator of an instance or component type.
type typeDecl struct {
	kind   byte // 0 core type, 1 type, 2 alias, 3 import, 4 export
	core   *defCoreType
	typ    *rawType
	alias  *defAlias
	name   string
	extern externType
}

// Type codes.
const (
	tcRecord   = 0x72
	tcVariant  = 0x71
	tcList     = 0x70
	tcTuple    = 0x6f
	tcFlags    = 0x6e
	tcEnum     = 0x6d
	tcOption   = 0x6b
	tcResult   = 0x6a
	tcOwn      = 0x69
	tcBorrow   = 0x68
	tcFixedLst = 0x67
	tcStream   = 0x66
	tcFuture   = 0x65
	tcErrCtx   = 0x64
	tcMap      = 0x63
	tcFunc     = 0x40
	tcAsyncFn  = 0x43
	tcComp     = 0x41
	tcInst     = 0x42
	tcResource = 0x3f
)

var primCodes = map[byte]Kind{
	0x7f: KindBool, 0x7e: KindS8, 0x7d: KindU8, 0x7c: KindS16, 0x7b: KindU16, 0x7a: KindS32, 0x79: KindU32,
	0x78: KindS64, 0x77: KindU64, 0x76: KindF32, 0x75: KindF64, 0x74: KindChar, 0x73: KindString,
}

var (
	componentPreamble = []byte{0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00}
	modulePreamble    = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
)

// IsComponent reports whether wasm starts with the component-model header
// (layer 1), as opposed to a core module's.
func IsComponent(wasm []byte) bool {
	return len(wasm) >= 8 && bytes.Equal(wasm[:4], componentPreamble[:4]) && wasm[6] == 1 && wasm[7] == 0
}

// decodeComponent decodes a component binary.
func decodeComponent(wasm []byte, base int, depth int) (*rawComponent, error) {
	if depth > 16 {
		return nil, fmt.Errorf("components nested more than 16 deep")
	}
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], componentPreamble[:4]) {
		return nil, fmt.Errorf("not a WebAssembly binary (bad magic number)")
	}
	if wasm[6] != 1 || wasm[7] != 0 {
		return nil, fmt.Errorf("not a component: a core WebAssembly module")
	}
	if wasm[4] != 0x0d || wasm[5] != 0 {
		return nil, fmt.Errorf("component binary version %#x is not supported (want 0x0d, the WASI 0.2 format)", wasm[4])
	}
	rc := &rawComponent{customs: map[string][][]byte{}}
	r := &reader{b: wasm, pos: 8, base: base}
	for !r.done() {
		id := r.byte()
		size := r.u32()
		start := r.pos
		body := r.bytes(size)
		if r.err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionName(id), r.err)
		}
		sr := &reader{b: body, base: base + start}
		if err := rc.section(id, sr, depth); err != nil {
			return nil, fmt.Errorf("%s section at byte %d: %w", sectionName(id), base+start, err)
		}
	}
	return rc, r.err
}

func (rc *rawComponent) section(id byte, r *reader, depth int) error {
	switch id {
	case secCustom:
		name := r.name()
		if r.err == nil {
			rc.customs[name] = append(rc.customs[name], r.b[r.pos:])
		}
		return r.err
	case secCoreModule:
		if len(r.b) < 8 || !bytes.Equal(r.b[:8], modulePreamble) {
			return fmt.Errorf("not a core WebAssembly module")
		}
		rc.defs = append(rc.defs, &defCoreModule{wasm: r.b})
		return nil
	case secComponent:
		c, err := decodeComponent(r.b, r.base, depth+1)
		if err != nil {
			return err
		}
		rc.defs = append(rc.defs, &defComponent{c: c})
		return nil
	case secStart:
		return fmt.Errorf("component start functions are not supported")
	case secValue:
		return fmt.Errorf("component values are not supported")
	}
	n := r.count(1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		var d any
		var err error
		switch id {
		case secCoreInstance:
			d, err = readCoreInstance(r)
		case secCoreType:
			d, err = readCoreType(r)
		case secInstance:
			d, err = readInstance(r)
		case secAlias:
			d, err = readAlias(r)
		case secType:
			var t *rawType
			t, err = readType(r)
			d = &defType{t: t}
		case secCanon:
			d, err = readCanon(r)
		case secImport:
			name := readExternName(r)
			et, e := readExternType(r)
			d, err = &defImport{name: name, et: et}, e
		case secExport:
			d, err = readExport(r)
		default:
			return fmt.Errorf("unknown section")
		}
		if err != nil {
			return err
		}
		if r.err != nil {
			return r.err
		}
		rc.defs = append(rc.defs, d)
	}
	if r.err == nil && r.pos != len(r.b) {
		return fmt.Errorf("%d bytes left over at the end of the section", len(r.b)-r.pos)
	}
	return r.err
}

func readCoreSort(r *reader) (sort, error) {
	b := r.byte()
	switch b {
	case 0x00, 0x01, 0x02, 0x03, 0x04, 0x10, 0x11, 0x12:
		return coreSortBase + sort(b), nil
	}
	return 0, fmt.Errorf("unknown core sort %#x", b)
}

func readSort(r *reader) (sort, error) {
	b := r.byte()
	switch b {
	case 0x00:
		return readCoreSort(r)
	case 0x01:
		return sortFunc, nil
	case 0x02:
		return sortValue, nil
	case 0x03:
		return sortType, nil
	case 0x04:
		return sortComponent, nil
	case 0x05:
		return sortInstance, nil
	}
	return 0, fmt.Errorf("unknown sort %#x", b)
}

func readCoreInstance(r *reader) (*defCoreInstance, error) {
	switch b := r.byte(); b {
	case 0x00:
		d := &defCoreInstance{module: r.u32()}
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := r.name()
			if s := r.byte(); s != 0x12 {
				return nil, fmt.Errorf("core instantiate argument %q: sort %#x (only instances are supported)", name, s)
			}
			d.args = append(d.args, coreArg{name: name, instance: r.u32()})
		}
		return d, nil
	case 0x01:
		d := &defCoreInstance{inline: true}
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := r.name()
			s, err := readCoreSort(r)
			if err != nil {
				return nil, err
			}
			d.exports = append(d.exports, coreInlineExport{name: name, sort: s, idx: r.u32()})
		}
		return d, nil
	default:
		return nil, fmt.Errorf("unknown core instance form %#x", b)
	}
}

// readCoreType reads a core type of a component: a function type or a module
// type.
func readCoreType(r *reader) (*defCoreType, error) {
	switch b := r.byte(); b {
	case 0x60:
		ft, err := readCoreFuncType(r)
		return &defCoreType{fn: ft}, err
	case 0x50:
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch k := r.byte(); k {
			case 0x00: // import
				r.name()
				r.name()
				if err := skipCoreExternDesc(r); err != nil {
					return nil, err
				}
			case 0x01: // type
				if _, err := readCoreType(r); err != nil {
					return nil, err
				}
			case 0x02: // alias outer
				r.byte()
				r.byte()
				r.u32()
				r.u32()
			case 0x03: // export
				r.name()
				if err := skipCoreExternDesc(r); err != nil {
					return nil, err
				}
			default:
				return nil, fmt.Errorf("unknown core module type declarator %#x", k)
			}
		}
		return &defCoreType{module: true}, nil
	default:
		return nil, fmt.Errorf("core type form %#x is not supported (function and module types are)", b)
	}
}

func readCoreValType(r *reader) (coreType, error) {
	switch b := r.byte(); b {
	case 0x7f:
		return i32, nil
	case 0x7e:
		return i64, nil
	case 0x7d:
		return f32, nil
	case 0x7c:
		return f64, nil
	default:
		return 0, fmt.Errorf("core value type %#x is not supported", b)
	}
}

func readCoreFuncType(r *reader) (*coreFuncType, error) {
	ft := &coreFuncType{}
	for _, list := range []*[]coreType{&ft.params, &ft.results} {
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil; i++ {
			t, err := readCoreValType(r)
			if err != nil {
				return nil, err
			}
			*list = append(*list, t)
		}
	}
	return ft, r.err
}

// skipCoreExternDesc skips a core import or export descriptor.
func skipCoreExternDesc(r *reader) error {
	switch k := r.byte(); k {
	case 0x00:
		r.u32()
	case 0x01:
		r.byte()
		skipLimits(r)
	case 0x02:
		skipLimits(r)
	case 0x03:
		r.byte()
		r.byte()
	case 0x04:
		r.byte()
		r.u32()
	default:
		return fmt.Errorf("unknown core extern kind %#x", k)
	}
	return r.err
}

func skipLimits(r *reader) {
	flags := r.byte()
	r.skipLEB()
	if flags&1 != 0 {
		r.skipLEB()
	}
}

func readInstance(r *reader) (*defInstance, error) {
	switch b := r.byte(); b {
	case 0x00:
		d := &defInstance{component: r.u32()}
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := r.name()
			s, err := readSort(r)
			if err != nil {
				return nil, err
			}
			d.args = append(d.args, instArg{name: name, sort: s, idx: r.u32()})
		}
		return d, nil
	case 0x01:
		d := &defInstance{inline: true}
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil; i++ {
			name := readExternName(r)
			s, err := readSort(r)
			if err != nil {
				return nil, err
			}
			d.exports = append(d.exports, instArg{name: name, sort: s, idx: r.u32()})
		}
		return d, nil
	default:
		return nil, fmt.Errorf("unknown instance form %#x", b)
	}
}

func readAlias(r *reader) (*defAlias, error) {
	s, err := readSort(r)
	if err != nil {
		return nil, err
	}
	a := &defAlias{sort: s, kind: r.byte()}
	switch a.kind {
	case 0x00, 0x01:
		a.inst = r.u32()
		a.name = r.name()
	case 0x02:
		a.ct = r.u32()
		a.idx = r.u32()
	default:
		return nil, fmt.Errorf("unknown alias form %#x", a.kind)
	}
	return a, nil
}

// readExternName reads an import or export name with its attributes (which
// are ignored).
func readExternName(r *reader) string {
	switch b := r.byte(); b {
	case 0x00, 0x01:
		return r.name()
	case 0x02:
		name := r.name()
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil; i++ {
			switch a := r.byte(); a {
			case 0x00, 0x01, 0x02:
				r.name()
			default:
				r.fail("unknown name attribute %#x", a)
			}
		}
		return name
	default:
		r.fail("unknown extern name form %#x", b)
		return ""
	}
}

func readExternType(r *reader) (externType, error) {
	switch b := r.byte(); b {
	case 0x00:
		if c := r.byte(); c != 0x11 {
			return externType{}, fmt.Errorf("core extern type %#x is not supported (core modules are)", c)
		}
		return externType{kind: externModule, idx: r.u32()}, nil
	case 0x01:
		return externType{kind: externFunc, idx: r.u32()}, nil
	case 0x02:
		return externType{}, fmt.Errorf("value imports and exports are not supported")
	case 0x03:
		switch bound := r.byte(); bound {
		case 0x00:
			return externType{kind: externTypeKind, idx: r.u32()}, nil
		case 0x01:
			return externType{kind: externTypeKind, bound: 1}, nil
		default:
			return externType{}, fmt.Errorf("unknown type bound %#x", bound)
		}
	case 0x04:
		return externType{kind: externComponent, idx: r.u32()}, nil
	case 0x05:
		return externType{kind: externInstance, idx: r.u32()}, nil
	default:
		return externType{}, fmt.Errorf("unknown extern type %#x", b)
	}
}

func readExport(r *reader) (*defExport, error) {
	d := &defExport{name: readExternName(r)}
	s, err := readSort(r)
	if err != nil {
		return nil, err
	}
	d.sort, d.idx = s, r.u32()
	if r.byte() == 0x01 {
		et, err := readExternType(r)
		if err != nil {
			return nil, err
		}
		d.et = &et
	}
	return d, nil
}

func readValRef(r *reader) (valRef, error) {
	v := r.s33()
	if v >= 0 {
		return valRef{idx: uint32(v)}, nil
	}
	code := byte(v & 0x7f)
	if k, ok := primCodes[code]; ok {
		return valRef{prim: k}, nil
	}
	if code == tcErrCtx {
		return valRef{}, fmt.Errorf("error-context values are not supported")
	}
	return valRef{}, fmt.Errorf("unknown value type %#x", code)
}

func readOptValRef(r *reader) (*valRef, error) {
	switch b := r.byte(); b {
	case 0x00:
		return nil, nil
	case 0x01:
		v, err := readValRef(r)
		return &v, err
	default:
		return nil, fmt.Errorf("bad optional marker %#x", b)
	}
}

func readLabels(r *reader) []string {
	n := r.count(1)
	var out []string
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, r.name())
	}
	return out
}

var typeCodeNames = map[byte]string{
	tcFixedLst: "fixed-length lists", tcStream: "streams", tcFuture: "futures",
	tcErrCtx: "error-context", tcMap: "maps", tcAsyncFn: "async functions",
}

func readType(r *reader) (*rawType, error) {
	code := r.peek()
	if k, ok := primCodes[code]; ok {
		r.byte()
		return &rawType{code: code, prim: k}, nil
	}
	r.byte()
	t := &rawType{code: code}
	var err error
	switch code {
	case tcRecord:
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			t.labels = append(t.labels, r.name())
			var v valRef
			v, err = readValRef(r)
			t.refs = append(t.refs, v)
		}
	case tcVariant:
		n := r.count(3)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			t.labels = append(t.labels, r.name())
			var v *valRef
			v, err = readOptValRef(r)
			if v == nil {
				t.refs = append(t.refs, valRef{prim: 0xff}) // no payload
			} else {
				t.refs = append(t.refs, *v)
			}
			if r.byte() != 0x00 {
				return nil, fmt.Errorf("variant case refinements are not supported")
			}
		}
	case tcList, tcOption:
		var v valRef
		v, err = readValRef(r)
		t.refs = []valRef{v}
	case tcTuple:
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			var v valRef
			v, err = readValRef(r)
			t.refs = append(t.refs, v)
		}
	case tcFlags, tcEnum:
		t.labels = readLabels(r)
	case tcResult:
		if t.ok, err = readOptValRef(r); err == nil {
			t.er, err = readOptValRef(r)
		}
	case tcOwn, tcBorrow:
		t.idx = r.u32()
	case tcFunc:
		n := r.count(2)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			name := r.name()
			var v valRef
			v, err = readValRef(r)
			t.params = append(t.params, labelRef{name, v})
		}
		if err != nil {
			break
		}
		switch b := r.byte(); b {
		case 0x00:
			var v valRef
			v, err = readValRef(r)
			t.result = &v
		case 0x01:
			if n := r.count(2); n != 0 {
				return nil, fmt.Errorf("functions with named results are not supported")
			}
		default:
			return nil, fmt.Errorf("bad result list %#x", b)
		}
	case tcComp, tcInst:
		n := r.count(1)
		for i := uint32(0); i < n && r.err == nil && err == nil; i++ {
			var d typeDecl
			d, err = readTypeDecl(r, code == tcComp)
			t.decls = append(t.decls, d)
		}
	case tcResource:
		if b := r.byte(); b != 0x7f {
			return nil, fmt.Errorf("resource representation %#x is not supported (i32 is)", b)
		}
		t.rep = 0x7f
		switch b := r.byte(); b {
		case 0x00:
		case 0x01:
			f := r.u32()
			t.dtor = &f
		default:
			return nil, fmt.Errorf("bad resource destructor marker %#x", b)
		}
	default:
		if name, ok := typeCodeNames[code]; ok {
			return nil, fmt.Errorf("%s are not supported (WASI 0.3 and async features are not)", name)
		}
		return nil, fmt.Errorf("unknown type form %#x", code)
	}
	if err != nil {
		return nil, err
	}
	return t, r.err
}

func readTypeDecl(r *reader, component bool) (typeDecl, error) {
	k := r.byte()
	switch {
	case k == 0x00:
		ct, err := readCoreType(r)
		return typeDecl{kind: 0, core: ct}, err
	case k == 0x01:
		t, err := readType(r)
		return typeDecl{kind: 1, typ: t}, err
	case k == 0x02:
		a, err := readAlias(r)
		return typeDecl{kind: 2, alias: a}, err
	case k == 0x03 && component:
		name := readExternName(r)
		et, err := readExternType(r)
		return typeDecl{kind: 3, name: name, extern: et}, err
	case k == 0x04:
		name := readExternName(r)
		et, err := readExternType(r)
		return typeDecl{kind: 4, name: name, extern: et}, err
	}
	return typeDecl{}, fmt.Errorf("unknown type declarator %#x", k)
}

var canonNames = map[byte]string{
	0x24: "backpressure.inc", 0x25: "backpressure.dec", 0x09: "task.return", 0x05: "task.cancel",
	0x0a: "context.get", 0x0b: "context.set", 0x06: "subtask.cancel", 0x0d: "subtask.drop",
	0x0e: "stream.new", 0x0f: "stream.read", 0x10: "stream.write", 0x11: "stream.cancel-read",
	0x12: "stream.cancel-write", 0x13: "stream.drop-readable", 0x14: "stream.drop-writable",
	0x15: "future.new", 0x16: "future.read", 0x17: "future.write", 0x18: "future.cancel-read",
	0x19: "future.cancel-write", 0x1a: "future.drop-readable", 0x1b: "future.drop-writable",
	0x1c: "error-context.new", 0x1d: "error-context.debug-message", 0x1e: "error-context.drop",
	0x1f: "waitable-set.new", 0x20: "waitable-set.wait", 0x21: "waitable-set.poll",
	0x22: "waitable-set.drop", 0x23: "waitable.join", 0x26: "thread.index", 0x27: "thread.new-indirect",
	0x28: "thread.resume-later", 0x29: "thread.suspend", 0x0c: "thread.yield",
	0x40: "thread.spawn-ref", 0x41: "thread.spawn-indirect", 0x42: "thread.available-parallelism",
	0x07: "resource.drop async",
}

// Canon operations that are supported.
const (
	canonLift         = 0x00
	canonLower        = 0x01
	canonResourceNew  = 0x02
	canonResourceDrop = 0x03
	canonResourceRep  = 0x04
)

func readCanon(r *reader) (*defCanon, error) {
	op := r.byte()
	d := &defCanon{op: op}
	var err error
	switch op {
	case canonLift:
		if b := r.byte(); b != 0x00 {
			return nil, fmt.Errorf("canon lift of sort %#x", b)
		}
		d.fn = r.u32()
		if d.opts, err = readCanonOpts(r); err != nil {
			return nil, err
		}
		d.typ = r.u32()
	case canonLower:
		if b := r.byte(); b != 0x00 {
			return nil, fmt.Errorf("canon lower of sort %#x", b)
		}
		d.fn = r.u32()
		d.opts, err = readCanonOpts(r)
	case canonResourceNew, canonResourceDrop, canonResourceRep:
		d.typ = r.u32()
	default:
		if name, ok := canonNames[op]; ok {
			return nil, fmt.Errorf("canon %s is not supported (async and thread built-ins of WASI 0.3 are not)", name)
		}
		return nil, fmt.Errorf("unknown canon operation %#x", op)
	}
	return d, err
}

func readCanonOpts(r *reader) (canonOpts, error) {
	var o canonOpts
	n := r.count(1)
	for i := uint32(0); i < n && r.err == nil; i++ {
		switch b := r.byte(); b {
		case 0x00, 0x01, 0x02:
			o.encoding = b
		case 0x03:
			v := r.u32()
			o.memory = &v
		case 0x04:
			v := r.u32()
			o.realloc = &v
		case 0x05:
			v := r.u32()
			o.postReturn = &v
		case 0x06:
			o.async = true
		case 0x07:
			v := r.u32()
			o.callback = &v
		default:
			return o, fmt.Errorf("unknown canon option %#x", b)
		}
	}
	if o.async || o.callback != nil {
		return o, fmt.Errorf("async canon options are not supported")
	}
	if o.encoding != 0 {
		return o, fmt.Errorf("string encoding %s is not supported (utf8 is)", [...]string{"utf8", "utf16", "latin1+utf16"}[o.encoding])
	}
	return o, r.err
}
