// Package cm runs WebAssembly components (the component model of WASI 0.2)
// on wazero, in pure Go.
//
// Runtime.Compile decodes a component binary (every section and sort of the
// WASI 0.2 binary format; what is not supported, such as async built-ins or
// streams, is refused naming it), resolves its types, evaluates its
// definitions once into a plan (which core modules to instantiate in which
// order with which arguments; nested components are evaluated away), binds
// its imports to the Runtime's Host, and compiles its core modules with
// wazero, so that no call ever compiles; what each core module's data segments
// write to its memory is computed then too (internal/linmem's Image), and each
// instance's memory starts with it. Component.Instantiate makes a fresh
// instance by following the plan; Instance.Call calls an exported function
// with Go values, through the canonical ABI (lifting and lowering every WIT
// type, realloc, return pointers, post-return, MAX_FLAT_PARAMS and
// MAX_FLAT_RESULTS), and Instance.Close releases what the instance held,
// including host resources the component never dropped.
//
// Go code implements imported interfaces through a Host: a HostFunc per
// function, by WIT name, for the import versions an accept function allows
// (SemverCompatible for WASI 0.2.x). Resources the host implements are its
// own Go values; the component sees handles to them in its handle table.
//
// wazero's import resolver wires core instances to each other by name. An
// instance made of inline exports becomes a host module made once at load
// when it holds only host functions, and otherwise a small core module,
// synthesized and compiled at load, that imports and re-exports its items
// (host modules cannot export memories or tables).
package cm
