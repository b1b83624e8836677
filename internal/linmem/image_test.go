package linmem

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/wassette/wassette/internal/wasmtest"
)

// wasmModule assembles a module from sections, each an id and a body.
func wasmModule(sections ...[]byte) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		out = append(out, s[0])
		out = appendU32(out, uint32(len(s)-1))
		out = append(out, s[1:]...)
	}
	return out
}

func section(id byte, body ...[]byte) []byte {
	return append([]byte{id}, bytes.Join(body, nil)...)
}

func vec(items ...[]byte) []byte {
	return append(appendU32(nil, uint32(len(items))), bytes.Join(items, nil)...)
}

func bytesVec(b string) []byte { return append(appendU32(nil, uint32(len(b))), b...) }

// i32Const is the constant expression i32.const v.
func i32Const(v int32) []byte {
	out := []byte{0x41}
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			out = append(out, c)
			break
		}
		out = append(out, c|0x80)
	}
	return append(out, 0x0b)
}

func active(off int32, data string) []byte {
	return bytes.Join([][]byte{{0x00}, i32Const(off), bytesVec(data)}, nil)
}

func passive(data string) []byte { return append([]byte{0x01}, bytesVec(data)...) }

var (
	memory3   = section(5, vec([]byte{0x00, 0x03})) // one memory, 3 pages, no maximum
	bigString = string(bytes.Repeat([]byte("wassette"), 10000))
)

// dataModule is a module with a 3-page memory and segments that overlap, hold
// zeros, cross a page boundary and reach the last page.
func dataModule(extra ...[]byte) []byte {
	data := section(11, vec(
		active(16, "hello, world"),
		active(20, "XY"),                         // overwrites part of the first
		active(PageSize-3, "across"),             // crosses into page 1
		active(PageSize+100, "\x00\x00\x00"),     // zeros only
		active(2*PageSize+PageSize-4, "last"),    // the last 4 bytes of the memory
		active(1000, bigString),                  // 80 KB from page 0 into page 1
		active(PageSize+60000, "\x00\x00after0"), // zeros then data
	))
	return wasmModule(append([][]byte{memory3}, append(extra, data)...)...)
}

// memoryAfterInstantiation instantiates module (no start function) with wazero and
// returns a copy of its memory, which it must export as "memory" or define.
func memoryAfterInstantiation(t *testing.T, ctx context.Context, module []byte) []byte {
	t.Helper()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	c, err := r.CompileModule(ctx, module)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	buf, _ := m.Memory().Read(0, m.Memory().Size())
	return bytes.Clone(buf)
}

func TestPrepareEqualsSegments(t *testing.T) {
	ctx := context.Background()
	module := dataModule()
	want := memoryAfterInstantiation(t, ctx, module)

	prepared, img, err := Prepare(module)
	if err != nil || img == nil {
		t.Fatalf("Prepare: %v, image %v", err, img)
	}
	defer img.Close()
	if bytes.Contains(prepared, []byte("hello")) || bytes.Contains(prepared, []byte("wassette")) {
		t.Error("the prepared module still holds the segments' data")
	}
	if img.Size() != 3*PageSize {
		t.Errorf("Size = %d, want 3 pages", img.Size())
	}
	if img.Mapped() != (runtime.GOOS == "linux") {
		t.Errorf("Mapped = %v on %s", img.Mapped(), runtime.GOOS)
	}

	// Through a budget: mapped (Linux) or copied into the region.
	b := NewBudget(16*PageSize, nil)
	defer b.Release()
	got := memoryAfterInstantiation(t, experimental.WithMemoryAllocator(ctx, b.WithImage(img)), prepared)
	if !bytes.Equal(got, want) {
		t.Error("the memory of the prepared module with its image differs from the original's")
	}
	// Into a memory of any allocator, after instantiation.
	plain := memoryAfterInstantiation(t, ctx, prepared)
	if bytes.Count(plain, []byte{0}) != len(plain) {
		t.Fatal("the prepared module's memory is not empty without its image")
	}
	if err := img.CopyTo(plain); err != nil || !bytes.Equal(plain, want) {
		t.Errorf("CopyTo: %v, equal %v", err, bytes.Equal(plain, want))
	}
	if err := img.CopyTo(make([]byte, PageSize)); err == nil {
		t.Error("CopyTo into a memory too small succeeded")
	}
}

func TestPrepareGoModule(t *testing.T) {
	paths, err := wasmtest.Build("examples/echo")
	if err != nil {
		t.Fatal(err)
	}
	module, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	prepared, img, err := Prepare(module)
	if err != nil || img == nil {
		t.Fatalf("Prepare: %v, image %v", err, img)
	}
	defer img.Close()
	if len(prepared) >= len(module) {
		t.Errorf("prepared %d bytes from %d", len(prepared), len(module))
	}
	b := NewBudget(256<<20, nil)
	defer b.Release()
	want := memoryAfterInstantiation(t, ctx, module)
	if got := memoryAfterInstantiation(t, experimental.WithMemoryAllocator(ctx, b.WithImage(img)), prepared); !bytes.Equal(got, want) {
		t.Error("the memory of the prepared Go module differs from the original's")
	}
}

// TestImageIsolation checks that what one memory writes over its image reaches
// neither the image nor any other memory, before or after its budget is released.
func TestImageIsolation(t *testing.T) {
	_, img, err := Prepare(dataModule())
	if err != nil || img == nil {
		t.Fatal(err)
	}
	defer img.Close()
	want := make([]byte, img.Size())
	if err := img.CopyTo(want); err != nil {
		t.Fatal(err)
	}
	b1, b2 := NewBudget(8*PageSize, nil), NewBudget(8*PageSize, nil)
	m1 := b1.WithImage(img).Allocate(3*PageSize, 8*PageSize)
	m2 := b2.WithImage(img).Allocate(3*PageSize, 8*PageSize)
	buf1, buf2 := m1.Reallocate(3*PageSize), m2.Reallocate(3*PageSize)
	if !bytes.Equal(buf1, want) || !bytes.Equal(buf2, want) {
		t.Fatal("a new memory does not hold the image")
	}
	for i := range buf1 {
		buf1[i] = 0xAA
	}
	buf1 = m1.Reallocate(5 * PageSize) // grows in place past the image
	if buf1[0] != 0xAA || buf1[3*PageSize] != 0 || b1.Used() != 5*PageSize {
		t.Fatalf("growing a memory with an image: %#x %#x, used %d", buf1[0], buf1[3*PageSize], b1.Used())
	}
	if !bytes.Equal(buf2, want) {
		t.Error("a write to one memory reached another")
	}
	b1.Release()
	m3 := b1.Allocate(PageSize, PageSize) // after Release: refused, as without an image
	if m3.Reallocate(PageSize) != nil {
		t.Error("a released budget gave a memory")
	}
	b3 := NewBudget(8*PageSize, nil)
	defer b3.Release()
	if buf := b3.WithImage(img).Allocate(3*PageSize, 8*PageSize).Reallocate(3 * PageSize); !bytes.Equal(buf, want) {
		t.Error("the image changed")
	}
	// Only the allocator's first memory gets the image.
	a := b3.WithImage(img)
	a.Allocate(3*PageSize, 3*PageSize).Reallocate(3 * PageSize)
	if buf := a.Allocate(PageSize, PageSize).Reallocate(PageSize); bytes.Count(buf, []byte{0}) != PageSize {
		t.Error("a second memory of the allocator is not empty")
	}
	b2.Release()
}

// TestPrepareKeeps checks the modules whose segments must stay, and the rewriting of
// passive segments.
func TestPrepareKeeps(t *testing.T) {
	funcType := section(1, vec([]byte{0x60, 0x00, 0x00}))
	funcs := section(3, vec([]byte{0x00}))
	code := section(10, vec([]byte{0x02, 0x00, 0x0b}))
	for name, module := range map[string][]byte{
		"start section": wasmModule(funcType, funcs, memory3, section(8, []byte{0x00}), code,
			section(11, vec(active(0, "x")))),
		"imported memory": wasmModule(section(2, vec(bytes.Join([][]byte{bytesVec("env"), bytesVec("mem"), {0x02, 0x00, 0x01}}, nil))),
			section(11, vec(active(0, "x")))),
		"no memory":      wasmModule(funcType),
		"no data":        wasmModule(memory3),
		"global offset":  wasmModule(memory3, section(11, vec(bytes.Join([][]byte{{0x00, 0x23, 0x00, 0x0b}, bytesVec("x")}, nil)))),
		"out of bounds":  wasmModule(memory3, section(11, vec(active(3*PageSize-1, "xy")))),
		"negative":       wasmModule(memory3, section(11, vec(active(-1, "x")))),
		"shared memory":  wasmModule(section(5, vec([]byte{0x03, 0x01, 0x02})), section(11, vec(active(0, "x")))),
		"other memory":   wasmModule(memory3, section(11, vec(bytes.Join([][]byte{{0x02, 0x01}, i32Const(0), bytesVec("x")}, nil)))),
		"only passive":   wasmModule(memory3, section(11, vec(passive("p")))),
		"only zero data": wasmModule(memory3, section(11, vec(active(5, "\x00")))),
	} {
		prepared, img, err := Prepare(module)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch name {
		case "only passive", "only zero data":
			if img == nil || img.Size() != 0 {
				t.Errorf("%s: image %v", name, img)
			}
		default:
			if img != nil || !bytes.Equal(prepared, module) {
				t.Errorf("%s: the module was changed", name)
			}
		}
	}

	// With a data count section, indices stay: an active segment becomes an empty
	// passive one (what it is once applied), a passive one is kept.
	module := wasmModule(memory3, section(12, []byte{0x02}), section(11, vec(active(8, "abc"), passive("pq"))))
	prepared, img, err := Prepare(module)
	if err != nil || img == nil {
		t.Fatal(err)
	}
	want := wasmModule(memory3, section(12, []byte{0x02}), section(11, vec(passive(""), passive("pq"))))
	if !bytes.Equal(prepared, want) {
		t.Errorf("with a data count section: % x", prepared)
	}
	// Without one, nothing can name a segment: only passive ones are kept.
	prepared, _, _ = Prepare(wasmModule(memory3, section(11, vec(active(8, "abc"), passive("pq")))))
	if want := wasmModule(memory3, section(11, vec(passive("pq")))); !bytes.Equal(prepared, want) {
		t.Errorf("without a data count section: % x", prepared)
	}
	prepared, _, _ = Prepare(wasmModule(memory3, section(11, vec(active(8, "abc")))))
	if !bytes.Equal(prepared, wasmModule(memory3)) {
		t.Errorf("only active segments: % x", prepared)
	}

	for name, module := range map[string][]byte{
		"header":        []byte("\x00asx\x01\x00\x00\x00"),
		"segment flags": wasmModule(memory3, section(11, vec([]byte{0x07}))),
		"segment size":  wasmModule(memory3, section(11, []byte{0x01, 0x00, 0x41, 0x00, 0x0b, 0x09, 'x'})),
		"trailing":      wasmModule(memory3, section(11, append(vec(passive("x")), 0x00))),
	} {
		if _, _, err := Prepare(module); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

// TestMemoryInitAfterPrepare checks memory.init and data.drop on a prepared module:
// a passive segment still initializes, and an active one reads as dropped, which is
// what the specification makes it after instantiation.
func TestMemoryInitAfterPrepare(t *testing.T) {
	ctx := context.Background()
	// (func (export "init")): memory.init of segment 1 (passive "pq") at 200, then
	// of segment 0 (active) with length 0, then 1.
	body := []byte{0x00,
		0x41, 0xc8, 0x01, 0x41, 0x00, 0x41, 0x02, 0xfc, 0x08, 0x01, 0x00, // memory.init 1: dst 200, src 0, len 2
		0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0xfc, 0x08, 0x00, 0x00, // memory.init 0, len 0: fine when dropped
		0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x08, 0x00, 0x00, // memory.init 0, len 1: traps when dropped
		0x0b}
	module := wasmModule(
		section(1, vec([]byte{0x60, 0x00, 0x00})),
		section(3, vec([]byte{0x00})),
		memory3,
		section(7, vec(bytes.Join([][]byte{bytesVec("memory"), {0x02, 0x00}}, nil), bytes.Join([][]byte{bytesVec("init"), {0x00, 0x00}}, nil))),
		section(12, []byte{0x02}),
		section(10, vec(append(appendU32(nil, uint32(len(body))), body...))),
		section(11, vec(active(8, "abc"), passive("pq"))),
	)
	prepared, img, err := Prepare(module)
	if err != nil || img == nil {
		t.Fatal(err)
	}
	defer img.Close()
	b := NewBudget(8*PageSize, nil)
	defer b.Release()
	actx := experimental.WithMemoryAllocator(ctx, b.WithImage(img))
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	c, err := r.CompileModule(ctx, prepared)
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.InstantiateModule(actx, c, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.ExportedFunction("init").Call(ctx)
	mem, _ := m.Memory().Read(0, 256)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("out of bounds")) {
		t.Errorf("memory.init of an applied active segment: %v, want a trap", err)
	}
	if string(mem[8:11]) != "abc" || string(mem[200:202]) != "pq" {
		t.Errorf("memory: %q at 8, %q at 200", mem[8:11], mem[200:202])
	}
}
