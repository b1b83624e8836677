package linmem

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

func TestGrowInPlace(t *testing.T) {
	t.Parallel()
	var stops int
	b := NewBudget(4*PageSize+123, func() { stops++ })
	if b.Limit() != 4*PageSize {
		t.Fatalf("Limit = %d, want whole pages", b.Limit())
	}
	m := b.Allocate(PageSize, 16*PageSize)
	buf := m.Reallocate(PageSize)
	if len(buf) != PageSize {
		t.Fatalf("initial len = %d", len(buf))
	}
	base := unsafe.SliceData(buf)
	buf[0], buf[PageSize-1] = 42, 43
	buf = m.Reallocate(3 * PageSize)
	if len(buf) != 3*PageSize || buf[0] != 42 || buf[PageSize-1] != 43 || buf[2*PageSize] != 0 || buf[3*PageSize-1] != 0 {
		t.Fatalf("grow: len %d, contents not kept or not zero", len(buf))
	}
	if (onUnix && unsafe.SliceData(buf) != base) || uint64(cap(buf)) > b.Limit() {
		t.Errorf("the memory moved or reaches past the budget (cap %d)", cap(buf))
	}
	buf[3*PageSize-1] = 7
	if b.Used() != 3*PageSize {
		t.Errorf("Used = %d", b.Used())
	}
	if m.Reallocate(5*PageSize) != nil || !b.Exceeded() || stops != 0 {
		t.Fatalf("growing past the budget: exceeded %v, stops %d (a failed grow is the guest's to handle)", b.Exceeded(), stops)
	}
	buf = m.Reallocate(4 * PageSize)
	if len(buf) != 4*PageSize || buf[0] != 42 || buf[3*PageSize-1] != 7 {
		t.Fatalf("growing to the budget failed")
	}
	if got := m.Reallocate(2 * PageSize); len(got) != 2*PageSize || got[0] != 42 {
		t.Errorf("a smaller size: len %d", len(got))
	}
	m.Free()
	if b.Used() != 0 {
		t.Errorf("Used after Free = %d", b.Used())
	}
	b.Release()
	if m.Reallocate(PageSize) != nil {
		t.Error("Reallocate after Release succeeded")
	}
}

func TestBudgetIsShared(t *testing.T) {
	t.Parallel()
	b := NewBudget(4*PageSize, nil)
	m1 := b.Allocate(0, 1<<32)
	m2 := b.Allocate(0, 2*PageSize) // a declared maximum below the budget
	if len(m1.Reallocate(2*PageSize)) != 2*PageSize || len(m2.Reallocate(PageSize)) != PageSize {
		t.Fatal("initial sizes")
	}
	if m1.Reallocate(4*PageSize) != nil {
		t.Error("two memories together got more than the budget")
	}
	if m2.Reallocate(3*PageSize) != nil {
		t.Error("a memory grew past its declared maximum")
	}
	if len(m2.Reallocate(2*PageSize)) != 2*PageSize || b.Used() != 4*PageSize {
		t.Errorf("Used = %d", b.Used())
	}
	m1.Free()
	if len(m2.Reallocate(2*PageSize)) != 2*PageSize {
		t.Error("same size after another memory was freed")
	}
	if m0 := b.Allocate(0, 1<<32); len(m0.Reallocate(0)) != 0 || m0.Reallocate(0) == nil {
		t.Error("a memory of zero pages")
	}
	b.Release()
}

// TestInitialPastBudget is the safety net: wazero needs the initial size, so it is
// reserved (never touched), the budget is marked exceeded and the call stopped.
func TestInitialPastBudget(t *testing.T) {
	t.Parallel()
	stopped := false
	b := NewBudget(PageSize, func() { stopped = true })
	m := b.Allocate(0, 1<<32)
	if buf := m.Reallocate(4 * PageSize); len(buf) != 4*PageSize || !b.Exceeded() || !stopped {
		t.Fatalf("len %d, exceeded %v, stopped %v", len(buf), b.Exceeded(), stopped)
	}
	stopped = false
	if m2 := b.Allocate(0, 1<<32); len(m2.Reallocate(2*PageSize)) != 2*PageSize || stopped {
		t.Errorf("onExceed ran twice")
	}
	b.Release()
}

const page64k = "\x80\x80\x04" // 65,536 as LEB128

func TestDeclared(t *testing.T) {
	t.Parallel()
	hidden := "\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
		"\x03\x02\x01\x00" + // function section
		"\x05\x05\x01\x00" + page64k + // memory section: min 65,536 pages, not exported
		"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start only
		"\x0a\x04\x01\x02\x00\x0b" // code section
	if len(hidden) != 43 {
		t.Fatalf("the hidden-memory module has %d bytes", len(hidden))
	}
	mems, err := Declared([]byte(hidden))
	if err != nil || len(mems) != 1 || mems[0].Min != 65536 || mems[0].Imported || mems[0].HasMax {
		t.Fatalf("Declared = %+v, %v", mems, err)
	}
	if InitialBytes(mems) != 4<<30 {
		t.Errorf("InitialBytes = %d", InitialBytes(mems))
	}

	imported := "\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" +
		"\x02\x16\x02" + // import section, two imports:
		"\x03env\x01f\x00\x00" + // a function
		"\x03env\x03mem\x02\x03\x10\x80\x02" + // a shared memory, min 16, max 256
		"\x05\x06\x02\x00\x01\x05\x05\x03" // memory section: min 1; memory64 min 5 max 3 (not validated here)
	mems, err = Declared([]byte(imported))
	if err != nil || len(mems) != 3 {
		t.Fatalf("Declared = %+v, %v", mems, err)
	}
	if m := mems[0]; !m.Imported || !m.Shared || !m.HasMax || m.Min != 16 || m.Max != 256 {
		t.Errorf("imported memory = %+v", m)
	}
	if m := mems[1]; m.Imported || m.Min != 1 || m.HasMax {
		t.Errorf("defined memory = %+v", m)
	}
	if m := mems[2]; !m.Memory64 || !m.HasMax || m.Min != 5 || m.Max != 3 {
		t.Errorf("memory64 = %+v", m)
	}
	if InitialBytes(mems) != 22*PageSize {
		t.Errorf("InitialBytes = %d", InitialBytes(mems))
	}
	if InitialBytes([]Memory{{Min: 1 << 62, Memory64: true}}) != 1<<64-1 {
		t.Error("InitialBytes does not saturate")
	}

	for name, bad := range map[string]string{
		"not wasm":         "\x7fELF\x01\x00\x00\x00",
		"truncated":        "\x00asm\x01\x00\x00\x00\x05\x05\x01\x00\x80",
		"section too long": "\x00asm\x01\x00\x00\x00\x05\x7f\x01\x00\x01",
		"bad flags":        "\x00asm\x01\x00\x00\x00\x05\x03\x01\x10\x01",
		"huge min":         "\x00asm\x01\x00\x00\x00\x05\x07\x01\x00\xff\xff\xff\xff\x7f",
		"bad import kind":  "\x00asm\x01\x00\x00\x00\x02\x06\x01\x01a\x01b\x09",
		"long name":        "\x00asm\x01\x00\x00\x00\x02\x04\x01\x40a\x00",
	} {
		if _, err := Declared([]byte(bad)); err == nil {
			t.Errorf("%s: Declared succeeded", name)
		} else if strings.Contains(err.Error(), "\x00") {
			t.Errorf("%s: %q", name, err)
		}
	}
}

func FuzzDeclared(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x05\x01\x00" + page64k))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x03mem\x02\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		mems, err := Declared(b)
		if err == nil {
			InitialBytes(mems)
		}
	})
}

// tableModule returns a module defining tables with the given limits (min, max; a
// negative max means none) whose _start does nothing.
func tableModule(limits ...[2]int64) []byte {
	body := appendU32(nil, uint32(len(limits)))
	for _, l := range limits {
		if l[1] < 0 {
			body = append(body, 0x70, 0x00)
			body = appendU64(body, uint64(l[0]))
		} else {
			body = append(body, 0x70, 0x01)
			body = appendU64(body, uint64(l[0]))
			body = appendU64(body, uint64(l[1]))
		}
	}
	m := []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00")
	m = append(m, 4)
	m = appendU32(m, uint32(len(body)))
	m = append(m, body...)
	return append(m, "\x07\x0a\x01\x06_start\x00\x00\x0a\x04\x01\x02\x00\x0b"...)
}

// tablesOf reads back the tables of a module CapTables returned.
func tablesOf(t *testing.T, module []byte) []table {
	t.Helper()
	r := &reader{b: module, off: 8}
	for r.off < len(r.b) {
		id, size := r.byte(), r.u32()
		sec := &reader{b: r.b[:r.off+int(size)], off: r.off}
		r.off += int(size)
		if id == 4 {
			ts, err := readTables(sec)
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}
	}
	return nil
}

func TestCapTables(t *testing.T) {
	t.Parallel()
	const cap = 1000
	for _, tt := range []struct {
		limits  [][2]int64
		wantMax []uint64
	}{
		{[][2]int64{{1, -1}}, []uint64{1000}},
		{[][2]int64{{10, 20}}, []uint64{20}},
		{[][2]int64{{10, 5000}}, []uint64{1000}},
		{[][2]int64{{100, -1}, {300, -1}}, []uint64{400, 600}},
		{[][2]int64{{0, 2}, {0, -1}}, []uint64{2, 500}},
		{[][2]int64{{1000, -1}}, []uint64{1000}},
	} {
		in := tableModule(tt.limits...)
		out, err := CapTables(in, cap)
		if err != nil {
			t.Errorf("%v: %v", tt.limits, err)
			continue
		}
		ts := tablesOf(t, out)
		var sum uint64
		for i, tb := range ts {
			if !tb.lim.HasMax || tb.lim.Max != tt.wantMax[i] || tb.lim.Min != uint64(tt.limits[i][0]) || tb.ref != 0x70 {
				t.Errorf("%v: table %d = %+v, want max %d", tt.limits, i, tb, tt.wantMax[i])
			}
			sum += tb.lim.Max
		}
		if sum > cap {
			t.Errorf("%v: the tables can grow to %d elements", tt.limits, sum)
		}
		if string(out[len(out)-18:]) != string(in[len(in)-18:]) {
			t.Errorf("%v: the sections after the tables changed", tt.limits)
		}
	}

	noTables := []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00")
	if out, err := CapTables(noTables, cap); err != nil || &out[0] != &noTables[0] {
		t.Errorf("a module without tables: %v", err)
	}
	many := make([][2]int64, 101)
	for name, tt := range map[string]struct {
		module    []byte
		want      string
		malformed bool
	}{
		"too large":     {tableModule([2]int64{600, -1}, [2]int64{401, -1}), "start with 1001 elements", false},
		"too many":      {tableModule(many...), "101 tables", false},
		"imports":       {[]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x01t\x01\x70\x00\x01"), "imports a table", false},
		"truncated":     {tableModule([2]int64{1, -1})[:22], "", true},
		"trailing":      {[]byte("\x00asm\x01\x00\x00\x00\x04\x05\x01\x70\x00\x01\x00"), "", true},
		"initializer":   {[]byte("\x00asm\x01\x00\x00\x00\x04\x06\x01\x40\x00\x70\x00\x01"), "", true},
		"not wasm":      {[]byte("hello, world"), "", true},
		"bad kind":      {[]byte("\x00asm\x01\x00\x00\x00\x02\x06\x01\x01a\x01b\x09"), "", true},
		"section large": {[]byte("\x00asm\x01\x00\x00\x00\x04\x7f\x01"), "", true},
	} {
		_, err := CapTables(tt.module, cap)
		if err == nil || errors.Is(err, ErrMalformed) != tt.malformed || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzCapTables(f *testing.F) {
	f.Add(tableModule([2]int64{1, -1}))
	f.Add(tableModule([2]int64{3, 9}, [2]int64{0, -1}))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x03mem\x02\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := CapTables(b, 1<<20)
		if err != nil {
			return
		}
		var sum uint64
		for _, tb := range tablesOf(t, out) {
			if !tb.lim.HasMax {
				t.Fatal("a table without a maximum")
			}
			sum += tb.lim.Max
		}
		if sum > 1<<20 {
			t.Fatalf("tables can grow to %d elements", sum)
		}
		m1, err1 := Declared(b)
		m2, err2 := Declared(out)
		if (err1 == nil) != (err2 == nil) || fmt.Sprint(m1) != fmt.Sprint(m2) {
			t.Fatalf("the memories changed: %v, %v / %v, %v", m1, err1, m2, err2)
		}
	})
}

// CapDefinedTables leaves a module's table imports as declared and caps the tables
// it defines; CapTables refuses the same module.
func TestCapDefinedTables(t *testing.T) {
	t.Parallel()
	imp := []byte("\x02\x0b\x01\x03env\x01t\x01\x70\x00\x01") // import env.t: funcref, min 1, no maximum
	def := tableModule([2]int64{2, -1})
	m := append(append(append([]byte{}, def[:8]...), imp...), def[8:]...)
	if _, err := CapTables(m, 1000); err == nil || !strings.Contains(err.Error(), "imports a table") {
		t.Fatalf("CapTables of a module importing a table: %v", err)
	}
	out, err := CapDefinedTables(m, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), string(imp)) {
		t.Error("the table import changed")
	}
	if ts := tablesOf(t, out); len(ts) != 1 || !ts[0].lim.HasMax || ts[0].lim.Max != 1000 {
		t.Errorf("the defined table: %+v", ts)
	}
	onlyImport := append([]byte("\x00asm\x01\x00\x00\x00"), imp...)
	if out, err := CapDefinedTables(onlyImport, 1000); err != nil || string(out) != string(onlyImport) {
		t.Errorf("a module that only imports a table: %v", err)
	}
}
