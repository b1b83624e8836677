// Package runtime runs wassette components: WebAssembly modules built for
// WASI preview1 (for example with GOOS=wasip1 GOARCH=wasm go build) that speak
// the wassette tool protocol described in README.md. It uses the pure-Go
// wazero runtime, so no cgo is needed.
//
// A Runtime compiles each module once (keeping the machine code in an on-disk
// cache so restarts do not recompile), and computes once what the module's data
// segments write to its memory (internal/linmem's Image), which each instance's
// memory then starts with, mapped copy-on-write on Linux, instead of applying
// the segments again. Every tool call then runs in a fresh
// instance of the module whose sandbox is exactly what the CallOptions grant:
// the given environment variables and nothing else from the host, the given
// directory mounts, the given network hosts (through the wassette_http host
// module, since WASI preview1 has no sockets), and limits on time, memory and
// output.
//
// WASI preview2 component-model binaries are refused: no Go runtime can run
// them.
package runtime
