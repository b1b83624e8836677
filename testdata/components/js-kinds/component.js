// The every-kind component: identity functions for each WIT kind, a few that
// compute, and a resource. Differential tests push extremes through it and
// compare wassette's JSON with the jco reference host's (oracle/run.mjs).

const id = (v) => v;

export const echoBool = id;
export const echoS8 = id;
export const echoU8 = id;
export const echoS16 = id;
export const echoU16 = id;
export const echoS32 = id;
export const echoU32 = id;
export const echoS64 = id;
export const echoU64 = id;
export const echoF32 = id;
export const echoF64 = id;
export const echoChar = id;
export const echoString = id;
export const echoAlias = id;

export const echoBytes = id;
export const echoS32s = id;
export const echoU64s = id;
export const echoF64s = id;
export const echoStrings = id;
export const echoNestedLists = id;
export const echoChars = id;

export const echoPoint = id;
export const echoEverything = id;
export const echoTuple = id;
export const echoShape = id;
export const echoNested = id;
export const echoColor = id;
export const echoPerms = id;
export const echoOption = id;
export const echoOptionOption = id;
export const echoOutcomes = id;
export const echoListOptions = id;

// A top-level result: the returned value is the ok payload; a thrown value is
// the err payload.
export function echoResult(v) {
  if (v.tag === 'err') throw v.val;
  return v.val;
}

export function fallible(fail, message) {
  if (fail) throw message;
}

export function makePoint(x, y) {
  return { x, y };
}

export function noop() {}

export function addU8(a, b) {
  return (a + b) & 0xff;
}

export function addS64(a, b) {
  return BigInt.asIntN(64, a + b);
}

export function sumU64s(v) {
  let s = 0n;
  for (const x of v) s = BigInt.asUintN(64, s + x);
  return s;
}

export function mulF32(a, b) {
  return Math.fround(a * b);
}

export function divF64(a, b) {
  return a / b;
}

export function countChars(s) {
  return [...s].length;
}

export function reverseString(s) {
  return [...s].reverse().join('');
}

export function charCode(c) {
  return c.codePointAt(0);
}

export function area(s) {
  switch (s.tag) {
    case 'circle':
      return Math.PI * s.val * s.val;
    case 'rect':
      return Math.abs(s.val.x * s.val.y);
    default:
      return 0;
  }
}

export function mix(c, p) {
  const set = Object.entries(p)
    .filter(([, on]) => on)
    .map(([name]) => name);
  return `${c}:${set.join('+')}`;
}

export function splitWords(s) {
  return s.split(/\s+/).filter((w) => w.length > 0);
}

export function firstSome(v) {
  for (const x of v) if (x !== undefined && x !== null) return x;
  return undefined;
}

export function checkedDiv(a, b) {
  if (b === 0) throw 'division by zero';
  if (a === -2147483648 && b === -1) throw 'overflow';
  return Math.trunc(a / b);
}

export function describe(e) {
  return [
    e.name,
    e.initial,
    e.small,
    e.big.toString(),
    e.tags.length,
    e.bytes.length,
    e.color,
    e.shape.tag,
    e.points.length,
  ].join('|');
}

class Counter {
  #value;
  constructor(start) {
    this.#value = start;
  }
  get() {
    return this.#value;
  }
  add(n) {
    this.#value = BigInt.asIntN(64, this.#value + n);
  }
  static merge(a, b) {
    return new Counter(BigInt.asIntN(64, a.get() + b.get()));
  }
}

export const counters = {
  Counter,
  make(start) {
    return new Counter(start);
  },
  total(cs) {
    let s = 0n;
    for (const c of cs) s = BigInt.asIntN(64, s + c.get());
    return s;
  },
  consume(c) {
    return c.get();
  },
};
