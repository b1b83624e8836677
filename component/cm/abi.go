package cm

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"
)

// abiCtx is the canonical ABI context of one lift or lower: the component
// instance, its memory (as a byte view refreshed after every allocation,
// which may grow it) and its realloc.
type abiCtx struct {
	ctx     context.Context
	inst    *Instance
	mem     api.Memory
	buf     []byte
	realloc api.Function
	// borrows counts borrowed handles lowered into the component during a
	// call from the host (they must be dropped before it returns).
	borrows *int
	// lifted is what the values lifted so far cost the host, in bytes; see
	// maxLiftBytes.
	lifted int64
}

// maxLiftBytes bounds the Go memory the values of one lift may take (the
// parameters of one import call, or the result of one export call): a list
// of a million strings that all point to the same megabyte of the
// component's memory would otherwise make the host allocate a terabyte.
const maxLiftBytes = 64 << 20

// sliceCost is what one element of a []any costs.
const sliceCost = 16

// charge adds n bytes to what the current lift costs, and traps past the
// bound.
func (cx *abiCtx) charge(n uint64) error {
	cx.lifted += int64(min(n, maxLiftBytes+1))
	if cx.lifted > maxLiftBytes {
		return trapf("the component passed more than %d MiB of values at once", maxLiftBytes>>20)
	}
	return nil
}

// trapError is a trap raised by the canonical ABI: bad data from the
// component, or a value the host cannot lower.
type trapError struct{ msg string }

func (e *trapError) Error() string { return e.msg }

func trapf(format string, args ...any) error { return &trapError{msg: fmt.Sprintf(format, args...)} }

func (cx *abiCtx) refresh() {
	if cx.mem != nil {
		cx.buf, _ = cx.mem.Read(0, cx.mem.Size())
	}
}

func (cx *abiCtx) bytes(ptr, n uint32) ([]byte, error) {
	end := uint64(ptr) + uint64(n)
	if end > uint64(len(cx.buf)) {
		return nil, trapf("out-of-bounds memory access: %d bytes at %d, memory is %d bytes", n, ptr, len(cx.buf))
	}
	return cx.buf[ptr:end], nil
}

func (cx *abiCtx) alloc(align, size uint32) (uint32, error) {
	if cx.realloc == nil {
		return 0, trapf("the component gave no realloc function to allocate %d bytes", size)
	}
	if size == 0 {
		return 0, nil // never dereferenced; avoids a call
	}
	res, err := cx.realloc.Call(cx.ctx, 0, 0, uint64(align), uint64(size))
	if err != nil {
		return 0, err
	}
	ptr := uint32(res[0])
	if ptr%align != 0 {
		return 0, trapf("realloc returned %d, which is not aligned to %d", ptr, align)
	}
	cx.refresh()
	if uint64(ptr)+uint64(size) > uint64(len(cx.buf)) {
		return 0, trapf("realloc returned %d for %d bytes, past the end of memory", ptr, size)
	}
	return ptr, nil
}

// ---- lifting: from the component to Go ----

// liftFlat lifts a value of type t from flat core values, starting at *pos.
func (cx *abiCtx) liftFlat(t *Type, vals []uint64, pos *int) (any, error) {
	next := func() uint64 {
		v := vals[*pos]
		*pos++
		return v
	}
	switch t.Kind {
	case KindBool:
		return uint32(next()) != 0, nil
	case KindS8:
		return int8(next()), nil
	case KindU8:
		return uint8(next()), nil
	case KindS16:
		return int16(next()), nil
	case KindU16:
		return uint16(next()), nil
	case KindS32:
		return int32(uint32(next())), nil
	case KindU32:
		return uint32(next()), nil
	case KindS64:
		return int64(next()), nil
	case KindU64:
		return next(), nil
	case KindF32:
		return math.Float32frombits(uint32(next())), nil
	case KindF64:
		return math.Float64frombits(next()), nil
	case KindChar:
		return liftChar(uint32(next()))
	case KindString:
		ptr, n := uint32(next()), uint32(next())
		return cx.loadString(ptr, n)
	case KindList:
		ptr, n := uint32(next()), uint32(next())
		return cx.loadList(t.Elem, ptr, n)
	case KindRecord, KindTuple:
		ms := t.members()
		if err := cx.charge(uint64(len(ms)) * sliceCost); err != nil {
			return nil, err
		}
		out := make([]any, len(ms))
		for i, m := range ms {
			v, err := cx.liftFlat(m, vals, pos)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case KindFlags:
		return uint32(next()) & flagMask(len(t.Names)), nil
	case KindOwn, KindBorrow:
		return cx.liftHandle(t, uint32(next()))
	case KindEnum:
		c := uint32(next())
		if c >= uint32(len(t.Names)) {
			return nil, trapf("enum case %d out of range (%d cases)", c, len(t.Names))
		}
		return c, nil
	case KindVariant, KindOption, KindResult:
		start := *pos
		c := uint32(next())
		ps := t.payloads()
		if c >= uint32(len(ps)) {
			return nil, trapf("%s case %d out of range (%d cases)", t.Kind, c, len(ps))
		}
		var v any
		if p := ps[c]; p != nil {
			// Payload values sit in the joined slots: as raw bits, a 32-bit
			// value is the low half of a 64-bit slot, so no conversion is
			// needed beyond what each kind reads.
			var err error
			if v, err = cx.liftFlat(p, vals, pos); err != nil {
				return nil, err
			}
		}
		*pos = start + len(t.flat)
		return Variant{Case: c, Value: v}, nil
	}
	return nil, trapf("cannot lift a %s", t.Kind)
}

func flagMask(n int) uint32 {
	if n >= 32 {
		return math.MaxUint32
	}
	return 1<<n - 1
}

func liftChar(c uint32) (any, error) {
	if c >= 0x110000 || (c >= 0xd800 && c <= 0xdfff) {
		return nil, trapf("invalid char %#x", c)
	}
	return rune(c), nil
}

func (cx *abiCtx) loadString(ptr, n uint32) (string, error) {
	if n > maxListBytes {
		return "", trapf("string of %d bytes is too long", n)
	}
	b, err := cx.bytes(ptr, n)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", trapf("string is not valid UTF-8")
	}
	if err := cx.charge(uint64(n)); err != nil {
		return "", err
	}
	return string(b), nil
}

func (cx *abiCtx) loadList(elem *Type, ptr, n uint32) (any, error) {
	size := uint64(n) * uint64(elem.size)
	if size > maxListBytes {
		return nil, trapf("list of %d bytes is too long", size)
	}
	if ptr%elem.align != 0 {
		return nil, trapf("list at %d is not aligned to %d", ptr, elem.align)
	}
	b, err := cx.bytes(ptr, uint32(size))
	if err != nil {
		return nil, err
	}
	if elem.Kind == KindU8 {
		if err := cx.charge(uint64(n)); err != nil {
			return nil, err
		}
		return append([]byte(nil), b...), nil
	}
	if err := cx.charge(uint64(n) * sliceCost); err != nil {
		return nil, err
	}
	out := make([]any, n)
	for i := uint32(0); i < n; i++ {
		v, err := cx.load(elem, ptr+i*elem.size)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// load lifts a value of type t stored at ptr.
func (cx *abiCtx) load(t *Type, ptr uint32) (any, error) {
	if ptr%t.align != 0 {
		return nil, trapf("%s value at %d is not aligned to %d", t.Kind, ptr, t.align)
	}
	b, err := cx.bytes(ptr, t.size)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	switch t.Kind {
	case KindBool:
		return b[0] != 0, nil
	case KindS8:
		return int8(b[0]), nil
	case KindU8:
		return b[0], nil
	case KindS16:
		return int16(le.Uint16(b)), nil
	case KindU16:
		return le.Uint16(b), nil
	case KindS32:
		return int32(le.Uint32(b)), nil
	case KindU32:
		return le.Uint32(b), nil
	case KindS64:
		return int64(le.Uint64(b)), nil
	case KindU64:
		return le.Uint64(b), nil
	case KindF32:
		return math.Float32frombits(le.Uint32(b)), nil
	case KindF64:
		return math.Float64frombits(le.Uint64(b)), nil
	case KindChar:
		return liftChar(le.Uint32(b))
	case KindString:
		return cx.loadString(le.Uint32(b), le.Uint32(b[4:]))
	case KindList:
		return cx.loadList(t.Elem, le.Uint32(b), le.Uint32(b[4:]))
	case KindRecord, KindTuple:
		ms := t.members()
		if err := cx.charge(uint64(len(ms)) * sliceCost); err != nil {
			return nil, err
		}
		out := make([]any, len(ms))
		off := uint32(0)
		for i, m := range ms {
			off = alignTo(off, m.align)
			v, err := cx.load(m, ptr+off)
			if err != nil {
				return nil, err
			}
			out[i] = v
			off += m.size
		}
		return out, nil
	case KindFlags:
		return loadUint(b, flagsSize(len(t.Names))) & flagMask(len(t.Names)), nil
	case KindOwn, KindBorrow:
		return cx.liftHandle(t, le.Uint32(b))
	case KindEnum, KindVariant, KindOption, KindResult:
		ps := t.payloads()
		d := discSize(len(ps))
		c := loadUint(b, d)
		if c >= uint32(len(ps)) {
			return nil, trapf("%s case %d out of range (%d cases)", t.Kind, c, len(ps))
		}
		if t.Kind == KindEnum {
			return c, nil
		}
		var v any
		if p := ps[c]; p != nil {
			if v, err = cx.load(p, ptr+alignTo(d, maxPayloadAlign(ps))); err != nil {
				return nil, err
			}
		}
		return Variant{Case: c, Value: v}, nil
	}
	return nil, trapf("cannot load a %s", t.Kind)
}

func maxPayloadAlign(ps []*Type) uint32 {
	a := uint32(1)
	for _, p := range ps {
		if p != nil {
			a = max(a, p.align)
		}
	}
	return a
}

func loadUint(b []byte, size uint32) uint32 {
	switch size {
	case 1:
		return uint32(b[0])
	case 2:
		return uint32(binary.LittleEndian.Uint16(b))
	}
	return binary.LittleEndian.Uint32(b)
}

func storeUint(b []byte, size uint32, v uint32) {
	switch size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	default:
		binary.LittleEndian.PutUint32(b, v)
	}
}

// ---- lowering: from Go to the component ----

func typeErr(t *Type, v any) error {
	return trapf("cannot pass a Go %T as a WIT %s", v, t.Kind)
}

// lowerFlat appends the flat core values of v to out.
func (cx *abiCtx) lowerFlat(t *Type, v any, out []uint64) ([]uint64, error) {
	switch t.Kind {
	case KindBool, KindS8, KindU8, KindS16, KindU16, KindS32, KindU32, KindChar, KindFlags, KindEnum, KindS64, KindU64, KindF32, KindF64, KindOwn, KindBorrow:
		x, err := cx.scalar(t, v)
		if err != nil {
			return nil, err
		}
		return append(out, x), nil
	case KindString:
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(t, v)
		}
		ptr, err := cx.storeString(s)
		if err != nil {
			return nil, err
		}
		return append(out, uint64(ptr), uint64(len(s))), nil
	case KindList:
		ptr, n, err := cx.storeList(t.Elem, v)
		if err != nil {
			return nil, err
		}
		return append(out, uint64(ptr), uint64(n)), nil
	case KindRecord, KindTuple:
		ms := t.members()
		vs, ok := v.([]any)
		if !ok || len(vs) != len(ms) {
			return nil, trapf("a WIT %s of %d members needs a Go []any of that length, not %T", t.Kind, len(ms), v)
		}
		var err error
		for i, m := range ms {
			if out, err = cx.lowerFlat(m, vs[i], out); err != nil {
				return nil, err
			}
		}
		return out, nil
	case KindVariant, KindOption, KindResult:
		vr, ok := v.(Variant)
		ps := t.payloads()
		if !ok || vr.Case >= uint32(len(ps)) {
			return nil, trapf("a WIT %s needs a Go cm.Variant with a case below %d, not %#v", t.Kind, len(ps), v)
		}
		start := len(out)
		out = append(out, uint64(vr.Case))
		if p := ps[vr.Case]; p != nil {
			var err error
			if out, err = cx.lowerFlat(p, vr.Value, out); err != nil {
				return nil, err
			}
			// Widen payload values to their joined slot types: a 32-bit
			// value's bits are zero-extended, which they already are.
		}
		for len(out) < start+len(t.flat) {
			out = append(out, 0)
		}
		return out, nil
	}
	return nil, trapf("cannot lower a %s", t.Kind)
}

// scalar converts a Go value of a scalar WIT type to its core bits.
func (cx *abiCtx) scalar(t *Type, v any) (uint64, error) {
	switch t.Kind {
	case KindBool:
		if b, ok := v.(bool); ok {
			if b {
				return 1, nil
			}
			return 0, nil
		}
	case KindS8:
		if x, ok := v.(int8); ok {
			return uint64(uint32(int32(x))), nil
		}
	case KindU8:
		if x, ok := v.(uint8); ok {
			return uint64(x), nil
		}
	case KindS16:
		if x, ok := v.(int16); ok {
			return uint64(uint32(int32(x))), nil
		}
	case KindU16:
		if x, ok := v.(uint16); ok {
			return uint64(x), nil
		}
	case KindS32:
		if x, ok := v.(int32); ok {
			return uint64(uint32(x)), nil
		}
	case KindU32:
		if x, ok := v.(uint32); ok {
			return uint64(x), nil
		}
	case KindS64:
		if x, ok := v.(int64); ok {
			return uint64(x), nil
		}
	case KindU64:
		if x, ok := v.(uint64); ok {
			return x, nil
		}
	case KindF32:
		if x, ok := v.(float32); ok {
			return uint64(math.Float32bits(x)), nil
		}
	case KindF64:
		if x, ok := v.(float64); ok {
			return math.Float64bits(x), nil
		}
	case KindChar:
		if x, ok := v.(rune); ok {
			if _, err := liftChar(uint32(x)); err != nil || x < 0 {
				return 0, trapf("invalid char %#x", x)
			}
			return uint64(uint32(x)), nil
		}
	case KindEnum:
		if x, ok := v.(uint32); ok {
			if x >= uint32(len(t.Names)) {
				return 0, trapf("enum case %d out of range (%d cases)", x, len(t.Names))
			}
			return uint64(x), nil
		}
	case KindFlags:
		if x, ok := v.(uint32); ok {
			if x&^flagMask(len(t.Names)) != 0 {
				return 0, trapf("flags value %#x sets bits beyond its %d labels", x, len(t.Names))
			}
			return uint64(x), nil
		}
	case KindOwn, KindBorrow:
		h, err := cx.lowerHandle(t, v)
		return uint64(h), err
	}
	return 0, typeErr(t, v)
}

func (cx *abiCtx) storeString(s string) (uint32, error) {
	if len(s) > maxListBytes {
		return 0, trapf("string of %d bytes is too long", len(s))
	}
	ptr, err := cx.alloc(1, uint32(len(s)))
	if err != nil {
		return 0, err
	}
	copy(cx.buf[ptr:], s)
	return ptr, nil
}

func (cx *abiCtx) storeList(elem *Type, v any) (uint32, uint32, error) {
	if b, ok := v.([]byte); ok && elem.Kind == KindU8 {
		if len(b) > maxListBytes {
			return 0, 0, trapf("list of %d bytes is too long", len(b))
		}
		ptr, err := cx.alloc(1, uint32(len(b)))
		if err != nil {
			return 0, 0, err
		}
		copy(cx.buf[ptr:], b)
		return ptr, uint32(len(b)), nil
	}
	vs, ok := v.([]any)
	if !ok {
		return 0, 0, trapf("a WIT list needs a Go []any, not %T", v)
	}
	size := uint64(len(vs)) * uint64(elem.size)
	if size > maxListBytes {
		return 0, 0, trapf("list of %d bytes is too long", size)
	}
	ptr, err := cx.alloc(elem.align, uint32(size))
	if err != nil {
		return 0, 0, err
	}
	for i, e := range vs {
		if err := cx.store(elem, e, ptr+uint32(i)*elem.size); err != nil {
			return 0, 0, err
		}
	}
	return ptr, uint32(len(vs)), nil
}

// store lowers v into memory at ptr, which the caller has checked.
func (cx *abiCtx) store(t *Type, v any, ptr uint32) error {
	if uint64(ptr)+uint64(t.size) > uint64(len(cx.buf)) {
		return trapf("out-of-bounds memory access: %d bytes at %d", t.size, ptr)
	}
	if ptr%t.align != 0 {
		return trapf("%s value at %d is not aligned to %d", t.Kind, ptr, t.align)
	}
	le := binary.LittleEndian
	switch t.Kind {
	case KindBool, KindS8, KindU8:
		x, err := cx.scalar(t, v)
		if err != nil {
			return err
		}
		cx.buf[ptr] = byte(x)
	case KindS16, KindU16:
		x, err := cx.scalar(t, v)
		if err != nil {
			return err
		}
		le.PutUint16(cx.buf[ptr:], uint16(x))
	case KindS32, KindU32, KindF32, KindChar, KindOwn, KindBorrow:
		x, err := cx.scalar(t, v)
		if err != nil {
			return err
		}
		le.PutUint32(cx.buf[ptr:], uint32(x))
	case KindS64, KindU64, KindF64:
		x, err := cx.scalar(t, v)
		if err != nil {
			return err
		}
		le.PutUint64(cx.buf[ptr:], x)
	case KindFlags, KindEnum:
		x, err := cx.scalar(t, v)
		if err != nil {
			return err
		}
		size := flagsSize(len(t.Names))
		if t.Kind == KindEnum {
			size = discSize(len(t.Names))
		}
		storeUint(cx.buf[ptr:], size, uint32(x))
	case KindString:
		s, ok := v.(string)
		if !ok {
			return typeErr(t, v)
		}
		p, err := cx.storeString(s)
		if err != nil {
			return err
		}
		le.PutUint32(cx.buf[ptr:], p)
		le.PutUint32(cx.buf[ptr+4:], uint32(len(s)))
	case KindList:
		p, n, err := cx.storeList(t.Elem, v)
		if err != nil {
			return err
		}
		le.PutUint32(cx.buf[ptr:], p)
		le.PutUint32(cx.buf[ptr+4:], n)
	case KindRecord, KindTuple:
		ms := t.members()
		vs, ok := v.([]any)
		if !ok || len(vs) != len(ms) {
			return trapf("a WIT %s of %d members needs a Go []any of that length, not %T", t.Kind, len(ms), v)
		}
		off := uint32(0)
		for i, m := range ms {
			off = alignTo(off, m.align)
			if err := cx.store(m, vs[i], ptr+off); err != nil {
				return err
			}
			off += m.size
		}
	case KindVariant, KindOption, KindResult:
		vr, ok := v.(Variant)
		ps := t.payloads()
		if !ok || vr.Case >= uint32(len(ps)) {
			return trapf("a WIT %s needs a Go cm.Variant with a case below %d, not %#v", t.Kind, len(ps), v)
		}
		d := discSize(len(ps))
		storeUint(cx.buf[ptr:], d, vr.Case)
		if p := ps[vr.Case]; p != nil {
			return cx.store(p, vr.Value, ptr+alignTo(d, maxPayloadAlign(ps)))
		}
	default:
		return trapf("cannot store a %s", t.Kind)
	}
	return nil
}

// ---- handles ----

func (cx *abiCtx) liftHandle(t *Type, h uint32) (any, error) {
	tbl := &cx.inst.handles
	var e handle
	var err error
	if t.Kind == KindOwn {
		e, err = tbl.remove(h, t.Resource)
		if err == nil && !e.own {
			err = trapf("handle %d is borrowed, but an owned %s is expected", h, t.Resource)
		}
		if err == nil && e.lends > 0 {
			err = trapf("handle %d is lent out", h)
		}
	} else {
		e, err = tbl.get(h, t.Resource)
	}
	if err != nil {
		return nil, err
	}
	if t.Resource.local {
		return Handle{Type: t.Resource, Rep: e.rep}, nil
	}
	return e.host, nil
}

func (cx *abiCtx) lowerHandle(t *Type, v any) (uint32, error) {
	r := t.Resource
	if r.local {
		h, ok := v.(Handle)
		if !ok || h.Type != r {
			return 0, trapf("a handle to %s needs a cm.Handle of that resource, not %T", r, v)
		}
		if t.Kind == KindBorrow {
			return h.Rep, nil // the component borrows its own resource: its rep
		}
		return cx.inst.handles.add(handle{rt: r, rep: h.Rep, own: true})
	}
	if v == nil {
		return 0, trapf("a handle to %s needs a host value, not nil", r)
	}
	e := handle{rt: r, host: v, own: t.Kind == KindOwn}
	if t.Kind == KindBorrow {
		e.scoped = true
		if cx.borrows != nil {
			*cx.borrows++
		}
	}
	return cx.inst.handles.add(e)
}
