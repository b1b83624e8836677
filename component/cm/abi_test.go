package cm

import (
	"context"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

func mk(t *testing.T, ty *Type) *Type {
	t.Helper()
	if err := ty.finish(); err != nil {
		t.Fatal(err)
	}
	return ty
}

func TestLayout(t *testing.T) {
	p := primType
	cases := []struct {
		ty          *Type
		size, align uint32
		flat        string
	}{
		{mk(t, &Type{Kind: KindRecord, Fields: []Field{{"a", p(KindU8)}, {"b", p(KindU32)}, {"c", p(KindU8)}}}), 12, 4, "[i32 i32 i32]"},
		{mk(t, &Type{Kind: KindTuple, Types: []*Type{p(KindU8), p(KindU16)}}), 4, 2, "[i32 i32]"},
		{mk(t, &Type{Kind: KindOption, Elem: p(KindU64)}), 16, 8, "[i32 i64]"},
		{mk(t, &Type{Kind: KindResult, Err: p(KindString)}), 12, 4, "[i32 i32 i32]"},
		{mk(t, &Type{Kind: KindResult, Ok: p(KindF32), Err: p(KindU64)}), 16, 8, "[i32 i64]"},
		{mk(t, &Type{Kind: KindResult, Ok: p(KindF32), Err: p(KindU32)}), 8, 4, "[i32 i32]"},
		{mk(t, &Type{Kind: KindResult, Ok: p(KindF32), Err: p(KindF64)}), 16, 8, "[i32 i64]"},
		{mk(t, &Type{Kind: KindFlags, Names: make([]string, 9)}), 2, 2, "[i32]"},
		{mk(t, &Type{Kind: KindFlags, Names: make([]string, 17)}), 4, 4, "[i32]"},
		{mk(t, &Type{Kind: KindEnum, Names: make([]string, 257)}), 2, 2, "[i32]"},
		{mk(t, &Type{Kind: KindList, Elem: p(KindU64)}), 8, 4, "[i32 i32]"},
		{p(KindChar), 4, 4, "[i32]"},
	}
	for _, c := range cases {
		var fl []string
		for _, f := range c.ty.flat {
			fl = append(fl, f.String())
		}
		if c.ty.size != c.size || c.ty.align != c.align || "["+strings.Join(fl, " ")+"]" != c.flat {
			t.Errorf("%s: size %d align %d flat %v, want %d %d %s", c.ty, c.ty.size, c.ty.align, fl, c.size, c.align, c.flat)
		}
	}
}

// TestRoundTrip lowers values into a real component's memory and lifts them
// back, flat and through memory.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := NewHost()
	h.Interface("test:t1/host", nil).Fallback(func(context.Context, *Instance, []any) (any, error) { return nil, nil })
	h.Interface("wasi:cli/environment", nil).Fallback(func(context.Context, *Instance, []any) (any, error) { return nil, nil })
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	c, err := rt.Compile(ctx, readTestdata(t, "t1.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	greet, _ := c.Export("", "greet")
	cx, err := in.abi(ctx, greet.memory, greet.realloc)
	if err != nil {
		t.Fatal(err)
	}
	p := primType
	point := mk(t, &Type{Kind: KindRecord, Fields: []Field{{"x", p(KindS8)}, {"y", p(KindF64)}, {"s", p(KindString)}}})
	shape := mk(t, &Type{Kind: KindVariant, Cases: []Case{{"none", nil}, {"f", p(KindF32)}, {"pt", point}, {"n", p(KindU64)}}})
	cases := []struct {
		ty *Type
		v  any
	}{
		{p(KindBool), true},
		{p(KindS8), int8(-128)},
		{p(KindU8), uint8(255)},
		{p(KindS16), int16(-32768)},
		{p(KindU16), uint16(65535)},
		{p(KindS32), int32(math.MinInt32)},
		{p(KindU32), uint32(math.MaxUint32)},
		{p(KindS64), int64(math.MinInt64)},
		{p(KindU64), uint64(math.MaxUint64)},
		{p(KindF32), float32(-1.5)},
		{p(KindF64), math.Inf(-1)},
		{p(KindChar), '😀'},
		{p(KindString), "héllo, 世界"},
		{p(KindString), ""},
		{mk(t, &Type{Kind: KindList, Elem: p(KindU8)}), []byte{1, 2, 3}},
		{mk(t, &Type{Kind: KindList, Elem: p(KindString)}), []any{"a", "", "ccc"}},
		{mk(t, &Type{Kind: KindList, Elem: mk(t, &Type{Kind: KindList, Elem: p(KindU16)})}), []any{[]any{}, []any{uint16(7)}}},
		{point, []any{int8(-1), 2.5, "p"}},
		{shape, Variant{Case: 0}},
		{shape, Variant{Case: 1, Value: float32(3.25)}},
		{shape, Variant{Case: 2, Value: []any{int8(4), -0.5, "q"}}},
		{shape, Variant{Case: 3, Value: uint64(1 << 63)}},
		{mk(t, &Type{Kind: KindOption, Elem: mk(t, &Type{Kind: KindOption, Elem: p(KindU8)})}), Variant{Case: 1, Value: Variant{Case: 0}}},
		{mk(t, &Type{Kind: KindResult, Ok: p(KindString)}), Variant{Case: 1}},
		{mk(t, &Type{Kind: KindEnum, Names: []string{"a", "b", "c"}}), uint32(2)},
		{mk(t, &Type{Kind: KindFlags, Names: []string{"a", "b", "c"}}), uint32(5)},
		{mk(t, &Type{Kind: KindTuple, Types: []*Type{p(KindU8), p(KindString), p(KindS64)}}), []any{uint8(1), "x", int64(-9)}},
	}
	for _, tc := range cases {
		flat, err := cx.lowerFlat(tc.ty, tc.v, nil)
		if err != nil {
			t.Fatalf("%s: lowerFlat: %v", tc.ty, err)
		}
		if len(flat) != len(tc.ty.flat) {
			t.Fatalf("%s: %d flat values, want %d", tc.ty, len(flat), len(tc.ty.flat))
		}
		cx.refresh()
		pos := 0
		got, err := cx.liftFlat(tc.ty, flat, &pos)
		if err != nil || !reflect.DeepEqual(got, tc.v) || pos != len(flat) {
			t.Errorf("%s: flat round trip gave %#v (%v), want %#v", tc.ty, got, err, tc.v)
		}
		ptr, err := cx.alloc(tc.ty.align, tc.ty.size)
		if err != nil {
			t.Fatal(err)
		}
		if err := cx.store(tc.ty, tc.v, ptr); err != nil {
			t.Fatalf("%s: store: %v", tc.ty, err)
		}
		got, err = cx.load(tc.ty, ptr)
		if err != nil || !reflect.DeepEqual(got, tc.v) {
			t.Errorf("%s: memory round trip gave %#v (%v), want %#v", tc.ty, got, err, tc.v)
		}
	}

	// Values the component might send that the ABI must refuse.
	bad := []struct {
		ty   *Type
		flat []uint64
		want string
	}{
		{p(KindChar), []uint64{0xd800}, "invalid char"},
		{p(KindChar), []uint64{0x110000}, "invalid char"},
		{p(KindString), []uint64{1 << 30, 4}, "out-of-bounds"},
		{p(KindString), []uint64{0, 1 << 28}, "too long"},
		{shape, []uint64{9, 0, 0, 0, 0}, "out of range"},
		{mk(t, &Type{Kind: KindEnum, Names: []string{"a"}}), []uint64{1}, "out of range"},
		{mk(t, &Type{Kind: KindList, Elem: p(KindU32)}), []uint64{2, 1}, "not aligned"},
		{mk(t, &Type{Kind: KindOwn, Resource: &ResourceType{Name: "r"}}), []uint64{5}, "unknown handle"},
	}
	// invalid UTF-8 in memory
	ptr, _ := cx.alloc(1, 2)
	cx.buf[ptr], cx.buf[ptr+1] = 0xff, 0xfe
	bad = append(bad, struct {
		ty   *Type
		flat []uint64
		want string
	}{p(KindString), []uint64{uint64(ptr), 2}, "not valid UTF-8"})
	for _, b := range bad {
		pos := 0
		if _, err := cx.liftFlat(b.ty, b.flat, &pos); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s from %v: error %v, want %q", b.ty, b.flat, err, b.want)
		}
	}
	// Go values that do not fit the type are refused, not truncated.
	if _, err := cx.lowerFlat(p(KindU8), 256, nil); err == nil {
		t.Error("lowering an int as u8 did not fail")
	}
	if _, err := cx.lowerFlat(mk(t, &Type{Kind: KindFlags, Names: []string{"a"}}), uint32(2), nil); err == nil {
		t.Error("lowering flags with unknown bits did not fail")
	}
}

// A component cannot make the host allocate without bound by passing many
// values that share the same bytes.
func TestLiftIsBounded(t *testing.T) {
	ctx := context.Background()
	h := NewHost()
	nop := func(context.Context, *Instance, []any) (any, error) { return nil, nil }
	h.Interface("test:t1/host", nil).Fallback(nop)
	h.Interface("wasi:cli/environment", nil).Fallback(nop)
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	c, err := rt.Compile(ctx, readTestdata(t, "t1.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := c.Instantiate(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close(ctx)
	greet, _ := c.Export("", "greet")
	cx, _ := in.abi(ctx, greet.memory, greet.realloc)
	// 4200 strings of 16 KiB, all the same bytes: over 64 MiB once lifted.
	const n, size = 4200, 16 << 10
	text, err := cx.alloc(1, size)
	if err != nil {
		t.Fatal(err)
	}
	strs, err := cx.alloc(4, n*8)
	if err != nil {
		t.Fatal(err)
	}
	for i := text; i < text+size; i++ {
		cx.buf[i] = 'a'
	}
	for i := uint32(0); i < n; i++ {
		binary.LittleEndian.PutUint32(cx.buf[strs+8*i:], text)
		binary.LittleEndian.PutUint32(cx.buf[strs+8*i+4:], size)
	}
	lt := mk(t, &Type{Kind: KindList, Elem: primType(KindString)})
	pos := 0
	if _, err := cx.liftFlat(lt, []uint64{uint64(strs), n}, &pos); err == nil || !strings.Contains(err.Error(), "MiB of values") {
		t.Fatalf("lift of 65 MiB: %v", err)
	}
	cx.lifted = 0
	if v, err := cx.liftFlat(lt, []uint64{uint64(strs), 100}, new(int)); err != nil || len(v.([]any)) != 100 {
		t.Fatalf("lift of 1.6 MiB: %v", err)
	}
}
