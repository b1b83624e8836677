package cm

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/wassette/wassette/internal/linmem"
)

// stateCore is a core module with the imports and exports of t1's main module
// (testdata/t1/core.wat) whose greet reports whether an earlier call ran in the same
// instance: it returns the five bytes its data segment wrote at 64 ("fresh"), with
// the first replaced by G if its mutable global is no longer its initial 7, then
// overwrites the first with S and sets the global to 8. A fresh instance returns
// "fresh"; memory kept from an earlier call gives "Sresh", a global kept "Gresh".
func stateCore() []byte {
	sec := func(id byte, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(append([]byte{id}, leb(uint32(len(b)))...), b...)
	}
	vec := func(items ...[]byte) []byte { return append(leb(uint32(len(items))), bytes.Join(items, nil)...) }
	str := func(s string) []byte { return append(leb(uint32(len(s))), s...) }
	body := func(code ...byte) []byte { return append(leb(uint32(len(code))), code...) }
	const i32, i64 = 0x7f, 0x7e
	return bytes.Join([][]byte{
		[]byte("\x00asm\x01\x00\x00\x00"),
		sec(1, vec(
			[]byte{0x60, 2, i32, i32, 0},                // 0: log
			[]byte{0x60, 3, i32, i32, i32, 0},           // 1: get
			[]byte{0x60, 1, i32, 0},                     // 2: get-environment, cabi_post_greet
			[]byte{0x60, 4, i32, i32, i32, i32, 1, i32}, // 3: cabi_realloc
			[]byte{0x60, 4, i32, i32, i32, i32, 1, i64}, // 4: area
			[]byte{0x60, 2, i32, i32, 1, i32},           // 5: greet
		)),
		sec(2, vec(
			bytes.Join([][]byte{str("test:t1/host@0.1.0"), str("log"), {0x00, 0}}, nil),
			bytes.Join([][]byte{str("test:t1/host@0.1.0"), str("get"), {0x00, 1}}, nil),
			bytes.Join([][]byte{str("wasi:cli/environment@0.2.3"), str("get-environment"), {0x00, 2}}, nil),
		)),
		sec(3, vec([]byte{3}, []byte{4}, []byte{5}, []byte{2})), // functions 3 to 6
		sec(5, vec([]byte{0x00, 2})),                            // memory: 2 pages
		sec(6, vec(
			[]byte{i32, 1, 0x41, 0x80, 0x08, 0x0b}, // heap: (mut i32) 1024
			[]byte{i32, 1, 0x41, 0x07, 0x0b},       // state: (mut i32) 7
		)),
		sec(7, vec(
			bytes.Join([][]byte{str("memory"), {0x02, 0}}, nil),
			bytes.Join([][]byte{str("cabi_realloc"), {0x00, 3}}, nil),
			bytes.Join([][]byte{str("test:t1/shapes@0.1.0#area"), {0x00, 4}}, nil),
			bytes.Join([][]byte{str("greet"), {0x00, 5}}, nil),
			bytes.Join([][]byte{str("cabi_post_greet"), {0x00, 6}}, nil),
		)),
		sec(10, vec(
			body(0x01, 0x01, i32, // cabi_realloc: a bump allocator, as in t1
				0x23, 0x00, 0x20, 0x02, 0x41, 0x01, 0x6b, 0x6a, 0x41, 0x00, 0x20, 0x02, 0x6b, 0x71, 0x21, 0x04,
				0x20, 0x04, 0x20, 0x03, 0x6a, 0x24, 0x00, 0x20, 0x04, 0x0b),
			body(0x00, 0x42, 0x00, 0x0b), // area: 0
			body(0x00, // greet
				0x41, 0x80, 0x01, 0x41, 0xc0, 0x00, 0x28, 0x02, 0x00, 0x36, 0x02, 0x00, // mem[128:132] = mem[64:68]
				0x41, 0x84, 0x01, 0x41, 0xc4, 0x00, 0x2d, 0x00, 0x00, 0x3a, 0x00, 0x00, // mem[132] = mem[68]
				0x23, 0x01, 0x41, 0x07, 0x47, 0x04, 0x40, 0x41, 0x80, 0x01, 0x41, 0xc7, 0x00, 0x3a, 0x00, 0x00, 0x0b, // if state != 7: mem[128] = 'G'
				0x41, 0xc0, 0x00, 0x41, 0xd3, 0x00, 0x3a, 0x00, 0x00, // mem[64] = 'S'
				0x41, 0x08, 0x24, 0x01, // state = 8
				0x41, 0x10, 0x41, 0x80, 0x01, 0x36, 0x02, 0x00, // result at 16: {128, 5}
				0x41, 0x14, 0x41, 0x05, 0x36, 0x02, 0x00,
				0x41, 0x10, 0x0b),
			body(0x00, 0x0b), // cabi_post_greet
		)),
		sec(11, vec(
			bytes.Join([][]byte{{0x00, 0x41, 0xc0, 0x00, 0x0b}, str("fresh")}, nil),
			bytes.Join([][]byte{{0x00, 0x41, 0xe4, 0x80, 0x04, 0x0b}, str("page 1")}, nil), // at 65,636
		)),
	}, nil)
}

func leb(v uint32) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

// withCore returns component with its first core module replaced by core.
func withCore(t *testing.T, component, core []byte) []byte {
	t.Helper()
	r := &reader{b: component, pos: 8}
	for !r.done() {
		start := r.pos
		id := r.byte()
		size := r.u32()
		r.bytes(size)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if id == 0x01 {
			out := append([]byte(nil), component[:start]...)
			out = append(append(append(out, 0x01), leb(uint32(len(core)))...), core...)
			return append(out, component[r.pos:]...)
		}
	}
	t.Fatal("the component has no core module")
	return nil
}

// TestFreshStateWithImage checks that every instance of a component starts from its
// core modules' initial memory and globals while the memory comes from a prepared
// image: mapped copy-on-write through a linmem budget (NewContext), copied in with
// any other allocator. What one call writes never reaches the next.
func TestFreshStateWithImage(t *testing.T) {
	ctx := context.Background()
	h := NewHost()
	h.Interface("test:t1/host", nil).
		Func("log", func(context.Context, *Instance, []any) (any, error) { return nil, nil }).
		Func("get", func(context.Context, *Instance, []any) (any, error) { return None(), nil })
	h.Interface("wasi:cli/environment", SemverCompatible(0, 2)).
		Func("get-environment", func(context.Context, *Instance, []any) (any, error) { return []any{}, nil })
	rt := NewRuntime(ctx, Config{Host: h})
	defer rt.Close(ctx)
	c, err := rt.Compile(ctx, withCore(t, readTestdata(t, "t1.wasm"), stateCore()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	img := c.images[0]
	if img == nil || img.Size() != 2*linmem.PageSize || (runtime.GOOS == "linux" && !img.Mapped()) {
		t.Fatalf("the main module's memory does not come from a mapped image (%v)", img)
	}
	greet, _ := c.Export("", "greet")
	for i, withBudget := range []bool{true, true, false, false, true} {
		ictx := ctx
		var b *linmem.Budget
		if withBudget {
			b = linmem.NewBudget(1<<20, nil)
			ictx = linmem.NewContext(ctx, b)
		}
		in, err := c.Instantiate(ictx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b != nil && b.Used() != 2*linmem.PageSize {
			t.Errorf("instance %d: the budget holds %d bytes, want the main module's 2 pages", i, b.Used())
		}
		res, err := in.Call(ictx, greet, "x")
		in.Close(ctx)
		if b != nil {
			if b.Used() != 0 {
				t.Errorf("instance %d: the budget holds %d bytes after Close", i, b.Used())
			}
			b.Release()
		}
		if err != nil || res != "fresh" {
			t.Fatalf("instance %d (budget %v): greet = %v, %v; want fresh (Sresh: memory kept, Gresh: global kept)", i, withBudget, res, err)
		}
	}
}
