// preview2-shim 0.26 preopens nothing by default, so componentize-js's splicer
// and jco's wasm-tools (both jco-transpiled components running on the shim)
// fail to read WIT files with "No such file or directory (os error 44)".
// Importing this module first preopens '/' for them. Use it only in build
// processes: the oracle sets preopens per call instead.
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

_setPreopens({ '/': '/' });
