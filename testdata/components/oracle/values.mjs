// WIT values between wassette's JSON (README.md, "JSON conventions") and the
// JavaScript values of jco's transpiled host bindings, directed by the WIT
// type. JSON numbers are kept as their text until the type is known, so a u64
// or s64 never loses precision.

/** A JSON number, kept as written. */
export class Num {
  constructor(text) {
    this.text = text;
  }
}

/** Parses JSON text, keeping numbers as Num. Throws on invalid JSON. */
export function parseJSON(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const fail = (what) => {
    throw new Error(`invalid JSON at offset ${i}: ${what}`);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = new Map();
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = string();
        ws();
        if (text[i++] !== ':') fail('expected ":"');
        if (obj.has(k)) fail(`duplicate key ${JSON.stringify(k)}`);
        obj.set(k, value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m || m[0] === '-') fail('unexpected character');
    i += m[0].length;
    return new Num(m[0]);
  };
  const string = () => {
    const start = i;
    i++;
    for (;;) {
      const c = text[i];
      if (c === undefined) fail('unterminated string');
      if (c === '"') break;
      if (c === '\\') i++;
      else if (c < ' ') fail('control character in string');
      i++;
    }
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

const INT_RANGES = {
  s8: [-(2n ** 7n), 2n ** 7n - 1n],
  u8: [0n, 2n ** 8n - 1n],
  s16: [-(2n ** 15n), 2n ** 15n - 1n],
  u16: [0n, 2n ** 16n - 1n],
  s32: [-(2n ** 31n), 2n ** 31n - 1n],
  u32: [0n, 2n ** 32n - 1n],
  s64: [-(2n ** 63n), 2n ** 63n - 1n],
  u64: [0n, 2n ** 64n - 1n],
};

/** Argument error naming the path of the bad value (`s.val[1]`). */
export class ArgError extends Error {}

const camel = (kebab) => kebab.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());

function typeDesc(t) {
  return t.typeName ? `${t.kind} ${t.typeName}` : t.kind;
}

function isOption(t) {
  return t.kind === 'option';
}

/** Converts parsed JSON (from parseJSON) to jco's JS value for type t. */
export function toJS(t, v, path) {
  const bad = (want) => {
    throw new ArgError(`${path}: expected ${want}`);
  };
  switch (t.kind) {
    case 'bool':
      if (typeof v !== 'boolean') bad('a boolean');
      return v;
    case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': case 's64': case 'u64': {
      if (!(v instanceof Num) || !/^-?[0-9]+$/.test(v.text)) bad(`an integer (${t.kind})`);
      const n = BigInt(v.text);
      const [lo, hi] = INT_RANGES[t.kind];
      if (n < lo || n > hi) throw new ArgError(`${path}: ${t.kind} out of range [${lo}, ${hi}]`);
      return t.kind === 's64' || t.kind === 'u64' ? n : Number(n);
    }
    case 'f32':
    case 'f64': {
      let x;
      if (v instanceof Num) x = Number(v.text);
      else if (v === 'NaN') x = NaN;
      else if (v === 'Infinity') x = Infinity;
      else if (v === '-Infinity') x = -Infinity;
      else bad('a number or "NaN", "Infinity", "-Infinity"');
      return t.kind === 'f32' ? Math.fround(x) : x;
    }
    case 'char': {
      if (typeof v !== 'string') bad('a string of one character');
      const cps = [...v];
      if (cps.length !== 1) bad('a string of one character');
      const cp = cps[0].codePointAt(0);
      if (cp >= 0xd800 && cp <= 0xdfff) bad('a Unicode scalar value');
      return v;
    }
    case 'string':
      if (typeof v !== 'string') bad('a string');
      if (!v.isWellFormed()) bad('a string without lone surrogates');
      return v;
    case 'list': {
      if (!Array.isArray(v)) bad('an array');
      const items = v.map((x, i) => toJS(t.elem, x, `${path}[${i}]`));
      return typedArray(t.elem, items);
    }
    case 'tuple': {
      if (!Array.isArray(v)) bad(`an array of ${t.types.length} items`);
      if (v.length !== t.types.length) bad(`an array of ${t.types.length} items`);
      return t.types.map((tt, i) => toJS(tt, v[i], `${path}[${i}]`));
    }
    case 'record': {
      if (!(v instanceof Map)) bad('an object');
      const out = {};
      for (const f of t.fields) {
        if (!v.has(f.name)) throw new ArgError(`${path}.${f.name}: missing`);
        out[camel(f.name)] = toJS(f.type, v.get(f.name), `${path}.${f.name}`);
      }
      for (const k of v.keys()) {
        if (!t.fields.some((f) => f.name === k)) throw new ArgError(`${path}: unknown field ${JSON.stringify(k)}`);
      }
      return out;
    }
    case 'variant': {
      if (!(v instanceof Map) || typeof v.get('tag') !== 'string') bad('an object with a "tag"');
      const tag = v.get('tag');
      const c = t.cases.find((x) => x.name === tag);
      if (!c) throw new ArgError(`${path}.tag: unknown case ${JSON.stringify(tag)}`);
      for (const k of v.keys()) {
        if (k !== 'tag' && !(k === 'val' && c.type)) throw new ArgError(`${path}: unexpected key ${JSON.stringify(k)}`);
      }
      if (!c.type) return { tag };
      if (!v.has('val')) throw new ArgError(`${path}.val: missing`);
      return { tag, val: toJS(c.type, v.get('val'), `${path}.val`) };
    }
    case 'enum':
      if (typeof v !== 'string' || !t.cases.includes(v)) bad(`one of ${t.cases.map((c) => JSON.stringify(c)).join(', ')}`);
      return v;
    case 'flags': {
      if (!Array.isArray(v)) bad('an array of flag names');
      const out = {};
      for (const n of t.names) out[camel(n)] = false;
      v.forEach((n, i) => {
        if (typeof n !== 'string' || !t.names.includes(n)) throw new ArgError(`${path}[${i}]: expected one of ${t.names.map((c) => JSON.stringify(c)).join(', ')}`);
        if (out[camel(n)]) throw new ArgError(`${path}[${i}]: ${JSON.stringify(n)} given twice`);
        out[camel(n)] = true;
      });
      return out;
    }
    case 'option': {
      if (isOption(t.inner)) {
        // nested: null, or {"some": <inner>}; jco: {tag:'none'} / {tag:'some', val}
        if (v === null) return { tag: 'none' };
        if (!(v instanceof Map) || !v.has('some') || v.size !== 1) bad('null or an object {"some": ...}');
        return { tag: 'some', val: toJS(t.inner, v.get('some'), `${path}.some`) };
      }
      if (v === null) return undefined;
      return toJS(t.inner, v, path);
    }
    case 'result': {
      if (!(v instanceof Map) || v.size !== 1 || !(v.has('ok') || v.has('err'))) bad('an object {"ok": ...} or {"err": ...}');
      const side = v.has('ok') ? 'ok' : 'err';
      const st = t[side];
      if (!st) {
        if (v.get(side) !== null) throw new ArgError(`${path}.${side}: expected null`);
        return { tag: side, val: undefined };
      }
      return { tag: side, val: toJS(st, v.get(side), `${path}.${side}`) };
    }
    case 'own':
    case 'borrow':
    case 'resource':
      throw new ArgError(`${path}: resources cannot be given as JSON`);
    default:
      throw new Error(`oracle: unsupported type ${typeDesc(t)}`);
  }
}

// jco lowers lists of numbers from typed arrays.
function typedArray(elem, items) {
  switch (elem.kind) {
    case 'u8': return Uint8Array.from(items);
    case 's8': return Int8Array.from(items);
    case 'u16': return Uint16Array.from(items);
    case 's16': return Int16Array.from(items);
    case 'u32': return Uint32Array.from(items);
    case 's32': return Int32Array.from(items);
    case 'u64': return BigUint64Array.from(items);
    case 's64': return BigInt64Array.from(items);
    case 'f32': return Float32Array.from(items);
    case 'f64': return Float64Array.from(items);
    default: return items;
  }
}

/** JSON text of a float64, as ES2015 Number-to-String (and Go's encoding/json) writes it; -0 as "-0". */
export function f64Text(x) {
  if (Number.isNaN(x)) return '"NaN"';
  if (x === Infinity) return '"Infinity"';
  if (x === -Infinity) return '"-Infinity"';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

/** JSON text of a float32: the shortest decimal that reads back as the same float32. */
export function f32Text(x) {
  if (!Number.isFinite(x) || x === 0) return f64Text(x);
  for (let p = 1; p <= 9; p++) {
    const s = x.toPrecision(p);
    if (Math.fround(Number(s)) === x) return String(Number(s));
  }
  return String(x);
}

/** Writes jco's JS value v of type t as wassette's JSON text (compact). */
export function fromJS(t, v) {
  switch (t.kind) {
    case 'bool':
      return v ? 'true' : 'false';
    case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32': case 's64': case 'u64':
      return BigInt(v).toString();
    case 'f32':
      return f32Text(v);
    case 'f64':
      return f64Text(v);
    case 'char':
    case 'string':
    case 'enum':
      return JSON.stringify(v);
    case 'list':
      return `[${Array.from(v, (x) => fromJS(t.elem, x)).join(',')}]`;
    case 'tuple':
      return `[${t.types.map((tt, i) => fromJS(tt, v[i])).join(',')}]`;
    case 'record':
      return `{${t.fields.map((f) => `${JSON.stringify(f.name)}:${fromJS(f.type, v[camel(f.name)])}`).join(',')}}`;
    case 'variant': {
      const c = t.cases.find((x) => x.name === v.tag);
      if (!c) throw new Error(`oracle: variant case ${v.tag} not in ${typeDesc(t)}`);
      return c.type ? `{"tag":${JSON.stringify(v.tag)},"val":${fromJS(c.type, v.val)}}` : `{"tag":${JSON.stringify(v.tag)}}`;
    }
    case 'flags':
      return `[${t.names.filter((n) => v[camel(n)]).map((n) => JSON.stringify(n)).join(',')}]`;
    case 'option':
      if (isOption(t.inner)) {
        if (v.tag === 'none') return 'null';
        return `{"some":${fromJS(t.inner, v.val)}}`;
      }
      return v === undefined || v === null ? 'null' : fromJS(t.inner, v);
    case 'result': {
      const st = t[v.tag];
      return `{${JSON.stringify(v.tag)}:${st ? fromJS(st, v.val) : 'null'}}`;
    }
    default:
      throw new Error(`oracle: cannot write ${typeDesc(t)} as JSON`);
  }
}

/** Whether a type holds a resource handle anywhere. */
export function hasResource(t) {
  switch (t?.kind) {
    case 'own': case 'borrow': case 'resource': return true;
    case 'list': return hasResource(t.elem);
    case 'option': return hasResource(t.inner);
    case 'result': return hasResource(t.ok) || hasResource(t.err);
    case 'tuple': return t.types.some(hasResource);
    case 'record': return t.fields.some((f) => hasResource(f.type));
    case 'variant': return t.cases.some((c) => hasResource(c.type));
    default: return false;
  }
}
