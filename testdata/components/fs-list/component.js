// wasi:filesystem through its WASI 0.2 interfaces: preopens, open-at,
// read-directory, read, write, stat-at, symlink-at, link-at, rename-at,
// unlink-file-at, create-directory-at and set-size. Filesystem errors come
// back as err with the error-code's name (e.g. "no-entry", "not-permitted").
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

function preopen(dir) {
  for (const [desc, path] of getDirectories()) {
    if (path === dir) return desc;
  }
  throw `no preopen ${dir}`;
}

function errText(e) {
  if (typeof e === 'string') return e;
  const code = e?.payload ?? e;
  return typeof code === 'string' ? code : String(e?.message ?? e);
}

function open(dir, path, openFlags, descFlags) {
  return preopen(dir).openAt({ symlinkFollow: true }, path, openFlags, descFlags);
}

export function preopens() {
  return getDirectories().map(([, path]) => path);
}

export function listDir(dir, path) {
  let d;
  try {
    // open-at even for "." (jco's preview2-shim refuses read-directory on a preopen itself)
    d = open(dir, path === '' ? '.' : path, { directory: true }, { read: true });
    const names = [];
    const stream = d.readDirectory();
    for (let e = stream.readDirectoryEntry(); e; e = stream.readDirectoryEntry()) names.push(e.name);
    return names.sort();
  } catch (e) {
    throw errText(e);
  }
}

export function readFile(dir, path) {
  try {
    const f = open(dir, path, {}, { read: true });
    const chunks = [];
    let offset = 0n;
    for (;;) {
      const [data, eof] = f.read(65536n, offset);
      chunks.push(data);
      offset += BigInt(data.length);
      if (eof || data.length === 0) break;
    }
    const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } catch (e) {
    throw errText(e);
  }
}

export function writeFile(dir, path, contents) {
  try {
    const f = open(dir, path, { create: true, truncate: true }, { write: true });
    const data = new TextEncoder().encode(contents);
    let offset = 0;
    while (offset < data.length) {
      const n = f.write(data.subarray(offset), BigInt(offset));
      offset += Number(n);
    }
  } catch (e) {
    throw errText(e);
  }
}

// attempt runs f, turning a thrown filesystem error into its error-code name.
function attempt(f) {
  try {
    return f();
  } catch (e) {
    throw errText(e);
  }
}

export function fileSize(dir, path, follow) {
  return attempt(() => preopen(dir).statAt({ symlinkFollow: follow }, path).size);
}

export function symlink(dir, target, path) {
  attempt(() => preopen(dir).symlinkAt(target, path));
}

export function hardLink(dir, oldPath, newPath) {
  attempt(() => {
    const d = preopen(dir);
    d.linkAt({}, oldPath, d, newPath);
  });
}

export function rename(dir, oldPath, newPath) {
  attempt(() => {
    const d = preopen(dir);
    d.renameAt(oldPath, d, newPath);
  });
}

export function removeFile(dir, path) {
  attempt(() => preopen(dir).unlinkFileAt(path));
}

export function makeDir(dir, path) {
  attempt(() => preopen(dir).createDirectoryAt(path));
}

// With `forWrite` false the file is opened for reading only, so a test can
// reach set-size on a read-only grant past open-at's own refusal.
export function truncate(dir, path, size, forWrite) {
  attempt(() => open(dir, path, {}, forWrite ? { read: true, write: true } : { read: true }).setSize(size));
}
