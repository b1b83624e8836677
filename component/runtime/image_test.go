package runtime

import (
	"context"
	goruntime "runtime"
	"testing"
)

// wasmState is a command whose memory (2 pages, initialized by data segments) and
// mutable global record whether an earlier call ran in the same instance: _start
// prints the JSON string its data segment wrote ("A"), with the letter replaced by
// G if the global is no longer its initial 7, then overwrites the letter with B and
// sets the global to 8. A fresh instance prints "A"; memory kept from an earlier
// call prints "B"; a global kept prints "G".
var wasmState = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x0c\x02\x60\x04\x7f\x7f\x7f\x7f\x01\x7f\x60\x00\x00" + // types: fd_write, () -> ()
	"\x02\x23\x01\x16wasi_snapshot_preview1\x08fd_write\x00\x00" + // import fd_write
	"\x03\x02\x01\x01" + // function section: _start
	"\x05\x03\x01\x00\x02" + // memory section: 2 pages
	"\x06\x06\x01\x7f\x01\x41\x07\x0b" + // global section: (mut i32) 7
	"\x07\x0a\x01\x06_start\x00\x01" + // export _start
	"\x0a\x2b\x01\x29\x00" + // code section, _start:
	"\x23\x00\x41\x07\x47\x04\x40\x41\x11\x41\xc7\x00\x3a\x00\x00\x0b" + // if global != 7: mem[17] = 'G'
	"\x41\x01\x41\x00\x41\x01\x41\x20\x10\x00\x1a" + // fd_write(1, iovec at 0, 1, nwritten at 32)
	"\x41\x11\x41\xc2\x00\x3a\x00\x00" + // mem[17] = 'B'
	"\x41\x08\x24\x00" + // global = 8
	"\x0b" +
	"\x0b\x1c\x03" + // data section: 3 segments
	"\x00\x41\x00\x0b\x08\x10\x00\x00\x00\x03\x00\x00\x00" + // at 0: iovec {16, 3}
	"\x00\x41\x10\x0b\x03\"A\"" + // at 16: "A"
	"\x00\x41\x05\x0b\x01\x00") // at 5: a zero where the iovec has one (segments overlap)

// TestFreshStateWithImage checks that every call starts from the module's initial
// memory and globals while the memory comes from a prepared image (mapped
// copy-on-write on Linux): what a call writes never reaches the next one.
func TestFreshStateWithImage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m, err := sharedRuntime(t).Compile(ctx, wasmState)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	if m.image == nil || (goruntime.GOOS == "linux" && !m.image.Mapped()) {
		t.Fatalf("the module's memory does not come from a mapped image (%v)", m.image)
	}
	for i := range 4 {
		res, err := m.Call(ctx, "state", nil, CallOptions{})
		if err != nil || string(res.Output) != `"A"` {
			t.Fatalf("call %d: %s, %v; want \"A\" (B: memory kept, G: global kept)", i, res.Output, err)
		}
	}
}
