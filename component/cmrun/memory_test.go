package cmrun

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wassette/wassette/component/runtime"
)

// uleb appends v as an unsigned LEB128 number.
func uleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func wasmName(b []byte, s string) []byte { return append(uleb(b, uint64(len(s))), s...) }

func wasmSection(b []byte, id byte, body []byte) []byte {
	return append(uleb(append(b, id), uint64(len(body))), body...)
}

// hiddenMemoryModule is a core module whose one memory, of pages pages, is not
// exported. It exports grow(delta: i32) -> i32 (memory.grow: the old size in
// pages, or -1) and pages() -> i32 (memory.size).
func hiddenMemoryModule(pages uint64) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = wasmSection(m, 1, []byte{2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 0, 1, 0x7f}) // types
	m = wasmSection(m, 3, []byte{2, 0, 1})                                     // functions
	m = wasmSection(m, 5, uleb([]byte{1, 0x00}, pages))                        // memory, no maximum
	exports := []byte{2}
	exports = append(wasmName(exports, "grow"), 0x00, 0)
	exports = append(wasmName(exports, "pages"), 0x00, 1)
	m = wasmSection(m, 7, exports)
	m = wasmSection(m, 10, []byte{2,
		6, 0, 0x20, 0, 0x40, 0, 0x0b, // local.get 0; memory.grow 0
		4, 0, 0x3f, 0, 0x0b, // memory.size 0
	})
	return m
}

// hiddenMemoryComponent is a component that instantiates hiddenMemoryModule twice
// and exports, for each instance x of a and b, grow-x: func(pages: u32) -> s32 and
// pages-x: func() -> u32. Neither memory is exported by its module or the
// component; no function passes values through memory.
func hiddenMemoryComponent(pages uint64) []byte {
	c := []byte("\x00asm\x0d\x00\x01\x00")
	c = wasmSection(c, 1, hiddenMemoryModule(pages))         // core module 0
	c = wasmSection(c, 2, []byte{2, 0x00, 0, 0, 0x00, 0, 0}) // core instances 0, 1 of module 0
	aliases := []byte{4}
	for inst := byte(0); inst < 2; inst++ {
		for _, name := range []string{"grow", "pages"} {
			aliases = wasmName(append(aliases, 0x00, 0x00, 0x01, inst), name) // core func: export of a core instance
		}
	}
	c = wasmSection(c, 6, aliases)
	types := []byte{2, 0x40, 1}
	types = append(wasmName(types, "pages"), 0x79, 0x00, 0x7a) // func(pages: u32) -> s32
	types = append(types, 0x40, 0, 0x00, 0x79)                 // func() -> u32
	c = wasmSection(c, 7, types)
	canon := []byte{4}
	for f := byte(0); f < 4; f++ {
		canon = append(canon, 0x00, 0x00, f, 0, f%2) // lift core func f, no options, type f%2
	}
	c = wasmSection(c, 8, canon)
	exports := []byte{4}
	for f, name := range []string{"grow-a", "pages-a", "grow-b", "pages-b"} {
		exports = append(wasmName(append(exports, 0x00), name), 0x01, byte(f), 0x00)
	}
	return wasmSection(c, 11, exports)
}

// The memory limit covers every memory of every core instance of a component,
// exported or not: a component whose memories do not fit is refused before
// anything is allocated, and a grow past what the others leave fails.
func TestMemoryLimitCoversHiddenMemories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	// Two instances of 40 pages (2.5 MiB) each: 5 MiB to start.
	m, err := r.Compile(ctx, hiddenMemoryComponent(40))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	lim := func(b uint64) runtime.CallOptions {
		return runtime.CallOptions{Limits: runtime.Limits{MemoryBytes: b}}
	}
	// 4 MiB holds either memory, not both.
	_, err = m.Call(ctx, "pages-a", nil, lim(4<<20))
	if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "needs 5 MiB of memory to start") {
		t.Fatalf("a component whose memories exceed the limit: %v", err)
	}
	call := func(tool, args string, opts runtime.CallOptions) string {
		t.Helper()
		res, err := m.Call(ctx, tool, []byte(args), opts)
		if err != nil || res.IsError {
			t.Fatalf("%s %s: %+v %v", tool, args, res, err)
		}
		return res.Text
	}
	if got := call("pages-b", `{}`, lim(5<<20)); got != "40" {
		t.Errorf("pages-b = %s, want 40", got)
	}
	// 8 MiB leaves 3 MiB (48 pages) to grow into, shared by both memories. A
	// grow past it fails (memory.grow gives the guest -1), and the call ends
	// with the memory limit error, as a preview1 module's does.
	for _, tool := range []string{"grow-a", "grow-b"} {
		_, err := m.Call(ctx, tool, []byte(`{"pages":49}`), lim(8<<20))
		if !errors.Is(err, runtime.ErrMemoryLimit) || !strings.Contains(err.Error(), "needed more than 8 MiB") {
			t.Errorf("%s by 49 pages under 8 MiB: %v", tool, err)
		}
	}
	if got := call("grow-a", `{"pages":48}`, lim(8<<20)); got != "40" {
		t.Errorf("grow-a by 48 pages under 8 MiB = %s, want 40 (the old size)", got)
	}
}

// tableComponent is a component of two core modules: module 0 defines a funcref
// table of one element and no maximum, exports it as "t", and exports
// tgrow(n: i32) -> i32 (table.grow by n: the old size, or -1); module 1 imports
// that table and exports tsize() -> i32 (table.size). The component exports
// tgrow: func(n: u32) -> s32 and tsize: func() -> u32.
func tableComponent() []byte {
	a := []byte("\x00asm\x01\x00\x00\x00")
	a = wasmSection(a, 1, []byte{1, 0x60, 1, 0x7f, 1, 0x7f}) // func(i32) -> i32
	a = wasmSection(a, 3, []byte{1, 0})
	a = wasmSection(a, 4, []byte{1, 0x70, 0x00, 1}) // funcref, min 1, no maximum
	ex := []byte{2}
	ex = append(wasmName(ex, "tgrow"), 0x00, 0)
	ex = append(wasmName(ex, "t"), 0x01, 0)
	a = wasmSection(a, 7, ex)
	a = wasmSection(a, 10, []byte{1, 9, 0, 0xd0, 0x70, 0x20, 0, 0xfc, 0x0f, 0, 0x0b}) // ref.null func; local.get 0; table.grow 0

	b := []byte("\x00asm\x01\x00\x00\x00")
	b = wasmSection(b, 1, []byte{1, 0x60, 0, 1, 0x7f}) // func() -> i32
	imp := wasmName(wasmName([]byte{1}, "a"), "t")
	b = wasmSection(b, 2, append(imp, 0x01, 0x70, 0x00, 1)) // the table, as declared: min 1, no maximum
	b = wasmSection(b, 3, []byte{1, 0})
	b = wasmSection(b, 7, append(wasmName([]byte{1}, "tsize"), 0x00, 0))
	b = wasmSection(b, 10, []byte{1, 5, 0, 0xfc, 0x10, 0, 0x0b}) // table.size 0

	c := []byte("\x00asm\x0d\x00\x01\x00")
	c = wasmSection(c, 1, a)
	c = wasmSection(c, 1, b)
	inst := []byte{2, 0x00, 0, 0} // instance 0: module 0, no arguments
	inst = append(wasmName(append(inst, 0x00, 1, 1), "a"), 0x12, 0)
	c = wasmSection(c, 2, inst)
	aliases := []byte{2}
	aliases = wasmName(append(aliases, 0x00, 0x00, 0x01, 0), "tgrow")
	aliases = wasmName(append(aliases, 0x00, 0x00, 0x01, 1), "tsize")
	c = wasmSection(c, 6, aliases)
	types := []byte{2, 0x40, 1}
	types = append(wasmName(types, "n"), 0x79, 0x00, 0x7a) // func(n: u32) -> s32
	types = append(types, 0x40, 0, 0x00, 0x79)             // func() -> u32
	c = wasmSection(c, 7, types)
	c = wasmSection(c, 8, []byte{2, 0x00, 0x00, 0, 0, 0, 0x00, 0x00, 1, 0, 1})
	exports := []byte{2}
	exports = append(wasmName(append(exports, 0x00), "tgrow"), 0x01, 0, 0x00)
	exports = append(wasmName(append(exports, 0x00), "tsize"), 0x01, 1, 0x00)
	return wasmSection(c, 11, exports)
}

// Tables live in host memory, outside the memory limit: a component's core
// modules get a maximum for every table they define, so a table.grow cannot ask
// the host for gigabytes, and a module importing a capped table still links.
func TestComponentTablesAreBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, err := New(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	m, err := r.Compile(ctx, tableComponent())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	call := func(tool, args string) string {
		t.Helper()
		res, err := m.Call(ctx, tool, []byte(args), runtime.CallOptions{})
		if err != nil || res.IsError {
			t.Fatalf("%s %s: %+v %v", tool, args, res, err)
		}
		return res.Text
	}
	if got := call("tsize", `{}`); got != "1" {
		t.Errorf("tsize = %s, want 1 (the importing module sees the table)", got)
	}
	// 2^30 elements would be 8 GiB of host memory.
	if got := call("tgrow", `{"n":1073741824}`); got != "-1" {
		t.Errorf("tgrow by 2^30 = %s, want -1 (refused)", got)
	}
	if got := call("tgrow", `{"n":1000}`); got != "1" {
		t.Errorf("tgrow by 1000 = %s, want 1 (the old size)", got)
	}
}
