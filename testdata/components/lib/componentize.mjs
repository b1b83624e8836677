// Builds one JavaScript component through componentize-js's JS API:
//   node lib/componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm
// The CLI is not used: it cannot be given the preopen below.
import './preopen.mjs';

import { writeFile } from 'node:fs/promises';
import process from 'node:process';

import { componentize } from '@bytecodealliance/componentize-js';

const [sourcePath, witPath, worldName, out] = process.argv.slice(2);
if (!out) {
  process.stderr.write('usage: node lib/componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm\n');
  process.exit(2);
}
const { component } = await componentize({ sourcePath, witPath, worldName });
await writeFile(out, component);
