// The reference document's JavaScript example must be in the corpus verbatim:
// ref-example/component.js is byte for byte the document's code block.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * Where the reference document is: $WASSETTE_REFERENCE_DOC, else
 * shared/reference/ beside the repository (as CI lays it out) or one folder
 * further up (beside a worktree's parent).
 */
export function referencePath() {
  if (process.env.WASSETTE_REFERENCE_DOC) return process.env.WASSETTE_REFERENCE_DOC;
  const candidates = ['../../../shared', '../../../../shared'].map((p) => resolve(HERE, p, 'reference/secret-management.md'));
  return candidates.find((p) => existsSync(p)) ?? candidates[0];
}

/** The code block under "### JavaScript Example" of the document's text. */
export function extractExample(doc) {
  const at = doc.indexOf('\n### JavaScript Example\n');
  if (at < 0) return null;
  const m = /```javascript\n([\s\S]*?)```/.exec(doc.slice(at));
  return m ? m[1] : null;
}

/** {status: 'same'|'differs'|'absent', message}. */
export async function checkReferenceExample() {
  const path = referencePath();
  if (!existsSync(path)) return { status: 'absent', message: `reference document not found at ${path}; ref-example not checked against it` };
  const block = extractExample(await readFile(path, 'utf8'));
  if (block === null) return { status: 'differs', message: `no "### JavaScript Example" code block in ${path}` };
  const ours = await readFile(join(HERE, 'ref-example', 'component.js'), 'utf8');
  if (ours !== block) return { status: 'differs', message: `ref-example/component.js differs from the JavaScript Example of ${path}: copy the block again, unchanged` };
  return { status: 'same', message: `ref-example/component.js is the reference document's JavaScript Example, byte for byte` };
}
