package cm

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// A synthModule re-exports items of other instances under new names: a bag
// of inline exports that holds a memory, table, global or wasm function
// becomes this small core module, compiled once at load and instantiated per
// call (wazero host modules can export only functions). A bag of host
// functions alone is a host module instead, made once at load.
type synthModule struct {
	wasm []byte
}

// hostModuleName is the import module name under which a synthesized module
// imports host functions from the component's host module.
const hostModuleName = "h"

// synthesize builds the re-export module of a bag and the arguments it is
// instantiated with.
func (l *linker) synthesize(ci *coreInst) (*synthModule, []instanceArg, error) {
	var types [][2][]coreType
	typeIndex := func(params, results []coreType) uint32 {
		for i, t := range types {
			if sameTypes(t[0], params) && sameTypes(t[1], results) {
				return uint32(i)
			}
		}
		types = append(types, [2][]coreType{params, results})
		return uint32(len(types) - 1)
	}
	var imports, exports []byte
	var nImports uint32
	counts := map[coreExternKind]uint32{}
	args := map[int]bool{}
	var argList []instanceArg
	for _, name := range ci.order {
		it := ci.bag[name]
		var module, field string
		var desc coreDesc
		if it.host != nil {
			module, field = hostModuleName, it.host.exportName()
			desc = coreDesc{kind: coreFunc, fn: &coreFuncType{params: it.host.params, results: it.host.results}}
			if !args[hostArg] {
				args[hostArg] = true
				argList = append(argList, instanceArg{name: hostModuleName, rt: hostArg})
			}
		} else {
			if it.inst.rt < 0 {
				return nil, nil, fmt.Errorf("internal error: re-export from a bag")
			}
			module, field = strconv.Itoa(it.inst.rt), it.name
			desc = it.inst.module.info.exports[it.name]
			if !args[it.inst.rt] {
				args[it.inst.rt] = true
				argList = append(argList, instanceArg{name: module, rt: it.inst.rt})
			}
		}
		imports = appendName(imports, module)
		imports = appendName(imports, field)
		imports = append(imports, byte(desc.kind))
		switch desc.kind {
		case coreFunc:
			imports = binary.AppendUvarint(imports, uint64(typeIndex(desc.fn.params, desc.fn.results)))
		case coreTable:
			imports = append(imports, desc.valType, 0x00)
			imports = binary.AppendUvarint(imports, 0)
		case coreMemory:
			if desc.mem64 {
				return nil, nil, fmt.Errorf("64-bit memories are not supported")
			}
			imports = append(imports, 0x00)
			imports = binary.AppendUvarint(imports, 0)
		case coreGlobal:
			mut := byte(0)
			if desc.mutable {
				mut = 1
			}
			imports = append(imports, desc.valType, mut)
		default:
			return nil, nil, fmt.Errorf("re-exporting a core %s is not supported", desc.kind)
		}
		nImports++
		exports = appendName(exports, name)
		exports = append(exports, byte(desc.kind))
		exports = binary.AppendUvarint(exports, uint64(counts[desc.kind]))
		counts[desc.kind]++
	}
	var typeSec []byte
	typeSec = binary.AppendUvarint(typeSec, uint64(len(types)))
	for _, t := range types {
		typeSec = append(typeSec, 0x60)
		for _, list := range t {
			typeSec = binary.AppendUvarint(typeSec, uint64(len(list)))
			for _, c := range list {
				typeSec = append(typeSec, c.byte())
			}
		}
	}
	wasm := append([]byte{}, modulePreamble...)
	wasm = appendSection(wasm, 1, typeSec)
	wasm = appendSection(wasm, 2, append(binary.AppendUvarint(nil, uint64(nImports)), imports...))
	wasm = appendSection(wasm, 7, append(binary.AppendUvarint(nil, uint64(len(ci.order))), exports...))
	return &synthModule{wasm: wasm}, argList, nil
}

func appendName(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendSection(b []byte, id byte, body []byte) []byte {
	b = append(b, id)
	b = binary.AppendUvarint(b, uint64(len(body)))
	return append(b, body...)
}
