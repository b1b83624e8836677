package cm

import "fmt"

// coreType is a core WebAssembly value type of the flattened ABI.
type coreType uint8

const (
	i32 coreType = iota + 1
	i64
	f32
	f64
)

func (c coreType) String() string {
	switch c {
	case i32:
		return "i32"
	case i64:
		return "i64"
	case f32:
		return "f32"
	case f64:
		return "f64"
	}
	return "?"
}

// Limits of the canonical ABI.
const (
	maxFlatParams  = 16
	maxFlatResults = 1
	// maxListBytes bounds a string's or list's byte length, as the spec does.
	maxListBytes = 1<<28 - 1
	// maxTypeSize bounds elem_size of a type (the spec's validation rule).
	maxTypeSize = 1 << 28
)

func alignTo(n, a uint32) uint32 { return (n + a - 1) / a * a }

// discSize is the byte size of a discriminant for n cases.
func discSize(n int) uint32 {
	switch {
	case n <= 1<<8:
		return 1
	case n <= 1<<16:
		return 2
	}
	return 4
}

// flagsSize is the byte size of n flags.
func flagsSize(n int) uint32 {
	switch {
	case n <= 8:
		return 1
	case n <= 16:
		return 2
	}
	return 4
}

// payloads returns the payload types of a variant-like type (variant, enum,
// option, result): one entry per case, nil for a case without payload.
func (t *Type) payloads() []*Type {
	switch t.Kind {
	case KindVariant:
		ps := make([]*Type, len(t.Cases))
		for i, c := range t.Cases {
			ps[i] = c.Type
		}
		return ps
	case KindEnum:
		return make([]*Type, len(t.Names))
	case KindOption:
		return []*Type{nil, t.Elem}
	case KindResult:
		return []*Type{t.Ok, t.Err}
	}
	return nil
}

// members returns the member types of a record-like type (record, tuple).
func (t *Type) members() []*Type {
	if t.Kind == KindTuple {
		return t.Types
	}
	ms := make([]*Type, len(t.Fields))
	for i, f := range t.Fields {
		ms[i] = f.Type
	}
	return ms
}

func isVariantLike(k Kind) bool {
	return k == KindVariant || k == KindEnum || k == KindOption || k == KindResult
}

// finish computes t's size, alignment and flattening from its (finished)
// members. It returns an error for types the ABI cannot represent.
func (t *Type) finish() error {
	switch t.Kind {
	case KindBool, KindS8, KindU8:
		t.size, t.align, t.flat = 1, 1, []coreType{i32}
	case KindS16, KindU16:
		t.size, t.align, t.flat = 2, 2, []coreType{i32}
	case KindS32, KindU32, KindChar:
		t.size, t.align, t.flat = 4, 4, []coreType{i32}
	case KindS64, KindU64:
		t.size, t.align, t.flat = 8, 8, []coreType{i64}
	case KindF32:
		t.size, t.align, t.flat = 4, 4, []coreType{f32}
	case KindF64:
		t.size, t.align, t.flat = 8, 8, []coreType{f64}
	case KindString, KindList:
		t.size, t.align, t.flat = 8, 4, []coreType{i32, i32}
	case KindOwn, KindBorrow:
		t.size, t.align, t.flat = 4, 4, []coreType{i32}
	case KindFlags:
		if len(t.Names) == 0 || len(t.Names) > 32 {
			return fmt.Errorf("flags with %d labels (1 to 32 are supported)", len(t.Names))
		}
		n := flagsSize(len(t.Names))
		t.size, t.align, t.flat = n, n, []coreType{i32}
	case KindRecord, KindTuple:
		ms := t.members()
		if len(ms) == 0 {
			return fmt.Errorf("%s without members", t.Kind)
		}
		var s, a uint32 = 0, 1
		for _, m := range ms {
			s = alignTo(s, m.align) + m.size
			a = max(a, m.align)
			t.flat = append(t.flat, m.flat...)
			if s > maxTypeSize {
				return fmt.Errorf("%s too large", t.Kind)
			}
		}
		t.size, t.align = alignTo(s, a), a
	case KindVariant, KindEnum, KindOption, KindResult:
		ps := t.payloads()
		if len(ps) == 0 {
			return fmt.Errorf("%s without cases", t.Kind)
		}
		d := discSize(len(ps))
		var maxA, maxS uint32 = 1, 0
		var flat []coreType
		for _, p := range ps {
			if p == nil {
				continue
			}
			maxA = max(maxA, p.align)
			maxS = max(maxS, p.size)
			for i, ft := range p.flat {
				if i < len(flat) {
					flat[i] = join(flat[i], ft)
				} else {
					flat = append(flat, ft)
				}
			}
		}
		a := max(d, maxA)
		t.size = alignTo(alignTo(d, maxA)+maxS, a)
		t.align = a
		t.flat = append([]coreType{i32}, flat...)
		if t.size > maxTypeSize {
			return fmt.Errorf("%s too large", t.Kind)
		}
	default:
		return fmt.Errorf("unknown type kind %d", t.Kind)
	}
	return nil
}

func join(a, b coreType) coreType {
	if a == b {
		return a
	}
	if (a == i32 && b == f32) || (a == f32 && b == i32) {
		return i32
	}
	return i64
}

// finish computes f's flattened core signature as lifted (callee side).
func (f *FuncType) finish() {
	f.flatParams = nil
	for _, p := range f.Params {
		f.flatParams = append(f.flatParams, p.Type.flat...)
	}
	if len(f.flatParams) > maxFlatParams {
		f.flatParams = []coreType{i32}
	}
	f.flatResults = nil
	if f.Result != nil {
		f.flatResults = f.Result.flat
		if len(f.flatResults) > maxFlatResults {
			f.flatResults = []coreType{i32}
		}
	}
}

// paramsSpilled reports whether the parameters are passed through memory.
func (f *FuncType) paramsSpilled() bool {
	n := 0
	for _, p := range f.Params {
		n += len(p.Type.flat)
	}
	return n > maxFlatParams
}

// resultSpilled reports whether the result is passed through memory.
func (f *FuncType) resultSpilled() bool {
	return f.Result != nil && len(f.Result.flat) > maxFlatResults
}

// paramTuple returns the layout of the parameters stored as a tuple.
func (f *FuncType) paramTuple() *Type {
	t := &Type{Kind: KindTuple}
	for _, p := range f.Params {
		t.Types = append(t.Types, p.Type)
	}
	if len(t.Types) == 0 {
		return nil
	}
	_ = t.finish()
	return t
}

// lowerSignature returns the core signature of the function lowered (as the
// guest calls an import): a spilled result becomes a trailing pointer.
func (f *FuncType) lowerSignature() (params, results []coreType) {
	params = append(params, f.flatParams...)
	if f.resultSpilled() {
		return append(params, i32), nil
	}
	return params, f.flatResults
}
