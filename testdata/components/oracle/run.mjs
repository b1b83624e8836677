#!/usr/bin/env node
// The reference host ("oracle") for wassette's differential tests: runs a WASI
// 0.2 component through `jco transpile` and Node with @bytecodealliance/preview2-shim,
// calls one exported function by its tool name with JSON arguments, and prints
// the result as JSON, following the conventions of ../README.md.
//
//   node run.mjs list <component.wasm>                  the tools, one JSON line
//   node run.mjs call <component.wasm> <tool> [<args>]  one call, one JSON line
//   node run.mjs batch                                  JSON lines in, JSON lines out
//
// A batch request is {"id", "component", "tool", "args", "env", "preopens"};
// "id" is echoed. `env` (an object of strings) is what the component sees through
// both wasi:cli/environment and wasi:config/store, as wassette gives it;
// `preopens` maps guest paths to host paths. Each call gets a fresh instance.
// A response is {"id", "result"} (no "result" for a function without one),
// {"id", "trap"} when the component trapped, or {"id", "error"} for a bad
// request or bad arguments; "stdout" and "stderr" hold what the call wrote
// (UTF-8, at most 1 MiB each).
//
// The transpiled component is cached in $WASSETTE_ORACLE_CACHE (default: a
// folder under the OS temporary folder), keyed by the component's SHA-256.
// WIT types of exported interfaces come from <component>.wit beside the
// component when jco's printed WIT does not carry them.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

import { componentWit, transpile } from '@bytecodealliance/jco';
import * as shim from '@bytecodealliance/preview2-shim';
import { _setArgs, _setCwd, _setEnv } from '@bytecodealliance/preview2-shim/cli';
import { _setPreopens } from '@bytecodealliance/preview2-shim/filesystem';

import { Exports, parseWit } from './wit.mjs';
import { ArgError, fromJS, hasResource, parseJSON, toJS } from './values.mjs';

const CAPTURE_LIMIT = 1 << 20;
const JCO_VERSION = JSON.parse(await readFile(new URL('../node_modules/@bytecodealliance/jco/package.json', import.meta.url), 'utf8')).version;

const realStdoutWrite = process.stdout.write.bind(process.stdout);
const realStderrWrite = process.stderr.write.bind(process.stderr);

// jco's bindings try WebAssembly.promising (JSPI) for every export at every instantiation
// and fall back to the plain export when it throws; on Node 20, which lacks it, each throw
// re-parses the 1 MB instantiation function to render the error: seconds per instance.
// This fallback gives the same functions without the throws.
if (typeof WebAssembly.promising !== 'function') WebAssembly.promising = (f) => f;

// Nothing of this process reaches a component unless a request gives it.
_setEnv({});
_setArgs([]);
_setCwd(undefined);
_setPreopens({});

const loaded = new Map(); // absolute path -> Promise<Loaded>

async function load(path) {
  const abs = resolve(path);
  if (!loaded.has(abs)) loaded.set(abs, loadUncached(abs));
  return loaded.get(abs);
}

async function loadUncached(abs) {
  const bytes = await readFile(abs);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const cacheRoot = process.env.WASSETTE_ORACLE_CACHE || join(tmpdir(), 'wassette-oracle');
  const dir = join(cacheRoot, `${digest}-jco${JCO_VERSION}`);
  if (!existsSync(join(dir, 'component.js'))) {
    await mkdir(cacheRoot, { recursive: true });
    const tmp = await mkdtemp(join(cacheRoot, '.tmp-'));
    const { files } = await transpile(bytes, {
      name: 'component',
      instantiation: { tag: 'async' },
      noTypescript: true,
      wasiShim: false,
    });
    for (const [name, data] of Object.entries(files)) {
      await mkdir(dirname(join(tmp, name)), { recursive: true });
      await writeFile(join(tmp, name), data);
    }
    await writeFile(join(tmp, 'component.wit'), await componentWit(bytes));
    await writeFile(join(tmp, 'package.json'), '{"type":"module"}\n');
    try {
      await rename(tmp, dir);
    } catch (e) {
      // another process won the race: its copy is the same
      await rm(tmp, { recursive: true, force: true });
      if (!existsSync(join(dir, 'component.js'))) throw e;
    }
  }
  const pkgs = parseWit(await readFile(join(dir, 'component.wit'), 'utf8'));
  const sidecar = abs.replace(/\.wasm$/, '') + '.wit';
  if (existsSync(sidecar)) parseWit(await readFile(sidecar, 'utf8'), pkgs);
  const exportsView = new Exports(pkgs);
  const tools = new Map(exportsView.functions().map((f) => [f.tool, f]));
  const mod = await import(pathToFileURL(join(dir, 'component.js')).href);
  const modules = new Map();
  const getCoreModule = (name) => {
    if (!modules.has(name)) modules.set(name, readFile(join(dir, name)).then((b) => WebAssembly.compile(b)));
    return modules.get(name);
  };
  return { mod, getCoreModule, tools, world: exportsView.world };
}

const camel = (kebab) => kebab.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());

// The per-call environment, read by wasi:config/store (wasi:cli/environment
// reads the shim's, set with _setEnv).
let callEnv = new Map();
const configStore = {
  get(key) {
    return callEnv.get(key);
  },
  getAll() {
    return [...callEnv.entries()];
  },
};

function importObject(world) {
  const out = {};
  for (const path of world.imports.keys()) {
    const m = /^([a-z0-9-]+):([a-z0-9-]+)\/([a-z0-9-]+)(@.*)?$/.exec(path);
    if (!m) throw new Error(`the oracle cannot provide import ${path}`);
    const [, ns, pkg, iface] = m;
    let impl;
    if (ns === 'wasi' && pkg === 'config' && iface === 'store') impl = configStore;
    else if (ns === 'wasi') impl = shim[pkg]?.[camel(iface)];
    if (!impl) throw new Error(`the oracle cannot provide import ${path}`);
    out[path] = impl;
    out[path.replace(/@.*$/, '')] = impl;
  }
  return out;
}

// Collects what the component writes to stdout and stderr (the shim writes to
// process.stdout and process.stderr) during one call, up to CAPTURE_LIMIT bytes each.
function capture() {
  const sink = () => {
    const chunks = [];
    let size = 0;
    const write = (chunk, enc, cb) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk, typeof enc === 'string' ? enc : 'utf8') : Buffer.from(chunk);
      if (size < CAPTURE_LIMIT) {
        const part = b.subarray(0, CAPTURE_LIMIT - size);
        chunks.push(part);
        size += part.length;
      }
      if (typeof enc === 'function') enc();
      else if (typeof cb === 'function') cb();
      return true;
    };
    return { write, text: () => Buffer.concat(chunks).toString('utf8') };
  };
  const out = sink();
  const err = sink();
  process.stdout.write = out.write;
  process.stderr.write = err.write;
  return () => {
    process.stdout.write = realStdoutWrite;
    process.stderr.write = realStderrWrite;
    return { stdout: out.text(), stderr: err.text() };
  };
}

function isComponentError(e) {
  return e && typeof e === 'object' && e.constructor?.name === 'ComponentError' && 'payload' in e;
}

/** Runs one request; returns its response line (JSON text) and whether the request was refused. */
async function call(req) {
  const parts = [];
  if (req.has('id')) parts.push(`"id":${rawJSON(req.get('id'))}`);
  const io = [];
  const finish = (outcome) => ({ line: `{${[...parts, ...outcome, ...io].join(',')}}`, failed: outcome[0]?.startsWith('"error"') ?? false });
  let comp;
  let tool;
  try {
    const path = req.get('component');
    const name = req.get('tool');
    if (typeof path !== 'string' || typeof name !== 'string') throw new ArgError('a request needs "component" and "tool" strings');
    comp = await load(path);
    tool = comp.tools.get(name);
    if (!tool) throw new ArgError(`no tool ${JSON.stringify(name)}; the component has: ${[...comp.tools.keys()].join(', ')}`);
    if (tool.func.params.some((p) => hasResource(p.type)) || hasResource(tool.func.result)) {
      throw new ArgError(`tool ${name} takes or returns a resource, which JSON cannot carry`);
    }
  } catch (e) {
    return finish([`"error":${JSON.stringify(e.message)}`]);
  }

  let args;
  let env;
  let preopens;
  try {
    const given = req.get('args') ?? new Map();
    if (!(given instanceof Map)) throw new ArgError('"args" must be an object');
    for (const k of given.keys()) {
      if (!tool.func.params.some((p) => p.name === k)) throw new ArgError(`unknown argument ${JSON.stringify(k)}`);
    }
    args = tool.func.params.map((p) => {
      if (!given.has(p.name)) throw new ArgError(`${p.name}: missing`);
      return toJS(p.type, given.get(p.name), p.name);
    });
    env = stringMap(req.get('env'), 'env');
    preopens = stringMap(req.get('preopens'), 'preopens');
  } catch (e) {
    return finish([`"error":${JSON.stringify(e.message)}`]);
  }

  callEnv = env;
  _setEnv(Object.fromEntries(env));
  _setPreopens(Object.fromEntries(preopens));
  const release = capture();
  let outcome;
  try {
    // Failing to instantiate (an import the oracle lacks) refuses the request; a throw
    // from the function itself is the component trapping, or its top-level err.
    let root;
    try {
      root = await comp.mod.instantiate(comp.getCoreModule, importObject(comp.world));
    } catch (e) {
      throw new ArgError(`instantiating ${tool.tool}'s component: ${e?.message ?? e}`);
    }
    const target = tool.exportName ? root[tool.exportName] : root;
    const fn = target?.[camel(tool.funcName)];
    if (typeof fn !== 'function') throw new ArgError(`jco's bindings have no function for ${tool.tool}`);
    const t = tool.func.result;
    let value;
    let trapped = null;
    try {
      value = fn.apply(target, args);
      if (t?.kind === 'result') value = { tag: 'ok', val: value };
    } catch (e) {
      if (t?.kind === 'result' && isComponentError(e)) value = { tag: 'err', val: e.payload };
      else trapped = e;
    }
    if (trapped) outcome = [`"trap":${JSON.stringify(String(trapped?.message ?? trapped))}`];
    else outcome = t ? [`"result":${fromJS(t, value)}`] : [];
  } catch (e) {
    outcome = [`"error":${JSON.stringify(e instanceof ArgError ? e.message : `oracle: ${e?.message ?? e}`)}`];
  } finally {
    const { stdout, stderr } = release();
    _setEnv({});
    _setPreopens({});
    callEnv = new Map();
    io.push(`"stdout":${JSON.stringify(stdout)}`, `"stderr":${JSON.stringify(stderr)}`);
  }
  return finish(outcome);
}

function stringMap(v, what) {
  if (v === undefined || v === null) return new Map();
  if (!(v instanceof Map)) throw new ArgError(`"${what}" must be an object of strings`);
  for (const [k, x] of v) {
    if (typeof x !== 'string') throw new ArgError(`"${what}".${k} must be a string`);
  }
  return v;
}

// Re-writes a parsed JSON value (for echoing ids).
function rawJSON(v) {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(rawJSON).join(',')}]`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${JSON.stringify(k)}:${rawJSON(x)}`).join(',')}}`;
  return v.text;
}

function typeText(t) {
  switch (t.kind) {
    case 'list': return `list<${typeText(t.elem)}>`;
    case 'option': return `option<${typeText(t.inner)}>`;
    case 'result': return t.ok || t.err ? `result<${t.ok ? typeText(t.ok) : '_'}${t.err ? `, ${typeText(t.err)}` : ''}>` : 'result';
    case 'tuple': return `tuple<${t.types.map(typeText).join(', ')}>`;
    case 'own': return typeText(t.resource);
    case 'borrow': return `borrow<${typeText(t.resource)}>`;
    case 'resource': return t.name;
    default: return t.typeName ?? t.kind;
  }
}

async function list(path) {
  const comp = await load(path);
  const tools = [...comp.tools.values()].map((f) => ({
    name: f.tool,
    params: f.func.params.map((p) => ({ name: p.name, type: typeText(p.type) })),
    result: f.func.result ? typeText(f.func.result) : null,
  }));
  return JSON.stringify({ tools });
}

function writeLine(s) {
  return new Promise((res) => realStdoutWrite(s + '\n', res));
}

async function main(argv) {
  const [cmd, ...rest] = argv;
  if (cmd === 'list' && rest.length === 1) {
    await writeLine(await list(rest[0]));
    return 0;
  }
  if (cmd === 'call' && (rest.length === 2 || rest.length === 3)) {
    const req = new Map([
      ['component', rest[0]],
      ['tool', rest[1]],
      ['args', parseJSON(rest[2] ?? '{}')],
    ]);
    const { line, failed } = await call(req);
    await writeLine(line);
    return failed ? 1 : 0;
  }
  if (cmd === 'batch' && rest.length === 0) {
    const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
    for await (const text of rl) {
      if (text.trim() === '') continue;
      let line;
      try {
        const req = parseJSON(text);
        if (!(req instanceof Map)) throw new Error('a request must be a JSON object');
        ({ line } = await call(req));
      } catch (e) {
        line = `{"error":${JSON.stringify(e.message)}}`;
      }
      await writeLine(line);
    }
    return 0;
  }
  realStderrWrite('usage: run.mjs list <component.wasm> | call <component.wasm> <tool> [<json-args>] | batch\n');
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
