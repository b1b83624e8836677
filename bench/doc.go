// Package bench holds wassette's comparative benchmarks: a tool call through
// wassette against the same call through wasmtime (upstream Wassette's engine, by
// wasmtime-go), in one run. It is a module of its own because wasmtime-go needs cgo,
// which the product does not use. See README.md, "Performance".
package bench
