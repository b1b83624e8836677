package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrComponentModel is returned by Runtime.Compile for a WASI preview2
// component-model binary. Use errors.Is to test for it.
var ErrComponentModel = errors.New("WebAssembly component-model (WASI preview2) binaries are not supported: no Go runtime can run them; build a WASI preview1 core module instead (for Go: GOOS=wasip1 GOARCH=wasm go build; for Rust: --target wasm32-wasip1)")

var wasmMagic = []byte("\x00asm")

// checkHeader checks that wasm starts with the header of a core WebAssembly
// module (magic "\0asm", version 1, layer 0).
func checkHeader(wasm []byte) error {
	if len(wasm) < 8 || !bytes.Equal(wasm[:4], wasmMagic) {
		return errors.New("not a WebAssembly binary: it does not start with the \\0asm magic number")
	}
	version := binary.LittleEndian.Uint16(wasm[4:6])
	layer := binary.LittleEndian.Uint16(wasm[6:8])
	switch {
	case layer == 1:
		return fmt.Errorf("%w (header: version %#x, layer 1)", ErrComponentModel, version)
	case layer != 0 || version != 1:
		return fmt.Errorf("unsupported WebAssembly binary: version %d, layer %d (want a core module: version 1, layer 0)", version, layer)
	}
	return nil
}
