#!/usr/bin/env node
// Builds wassette's test corpus of WASI 0.2 components from the sources in this
// folder, with the tools pinned in package-lock.json (componentize-js, jco) and
// Debian's clang, lld and wasi-libc. See README.md.
//
//   node build.mjs --out DIR [--jobs N] [NAME ...]
//
// Writes DIR/NAME.wasm and DIR/NAME.wit (the component's WIT world) for each
// component, and DIR/corpus.json (what was built, with which tools, how long it
// took). Needs `npm ci` in this folder first; .ci/corpus.sh does both.

// The preview2-shim that componentize-js and jco's wasm-tools run on (0.26)
// no longer preopens '/', so they cannot read WIT files; preopen it before
// either of them runs.
import './lib/preopen.mjs';

import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile, rename } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

import { checkReferenceExample } from './lib/reference.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/** The corpus: name -> how it is built. */
const COMPONENTS = {
  'js-env': { lang: 'js', world: 'env' },
  'js-kinds': { lang: 'js', world: 'kinds' },
  'js-iface': { lang: 'js', world: 'time-server' },
  'js-limits': { lang: 'js', world: 'limits' },
  'fs-list': { lang: 'js', world: 'fs-list' },
  'ref-example': { lang: 'js', world: 'ref-example' },
  'js-weather': { lang: 'js', world: 'weather' },
  'c-direct': { lang: 'c-direct', world: 'c-direct' },
  'c-adapter': { lang: 'c-adapter', world: 'c-adapter' },
};

// WASI packages come from jco's bundled snapshot of the WASI 0.2.12 WIT; the
// wasi:config packages are ours (wit-deps/).
const JCO_WIT = join(HERE, 'node_modules/@bytecodealliance/jco/lib/wit/builtin/0.2.12');
const WASI_PACKAGES = ['cli', 'clocks', 'filesystem', 'http', 'io', 'random', 'sockets'];

function usage(msg) {
  if (msg) process.stderr.write(`build.mjs: ${msg}\n`);
  process.stderr.write('usage: node build.mjs --out DIR [--jobs N] [NAME ...]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { out: null, jobs: Math.min(2, availableParallelism()), names: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') opts.out = argv[++i];
    else if (a === '--jobs') opts.jobs = Number(argv[++i]);
    else if (a.startsWith('-')) usage(`unknown flag ${a}`);
    else opts.names.push(a);
  }
  if (!opts.out) usage('--out is required');
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1) usage('--jobs wants a positive integer');
  for (const n of opts.names) if (!COMPONENTS[n]) usage(`unknown component ${n}; known: ${Object.keys(COMPONENTS).join(', ')}`);
  if (opts.names.length === 0) opts.names = Object.keys(COMPONENTS);
  return opts;
}

/** Lays out NAME's world with every package it may use under deps/. */
async function stageWit(name, work) {
  const dir = join(work, name, 'wit');
  for (const p of WASI_PACKAGES) {
    await mkdir(join(dir, 'deps', p), { recursive: true });
    await copyFile(join(JCO_WIT, `wasi-${p}`, 'package.wit'), join(dir, 'deps', p, 'package.wit'));
  }
  for (const p of await readdir(join(HERE, 'wit-deps'))) {
    await mkdir(join(dir, 'deps', p), { recursive: true });
    for (const f of await readdir(join(HERE, 'wit-deps', p))) await copyFile(join(HERE, 'wit-deps', p, f), join(dir, 'deps', p, f));
  }
  await copyFile(join(HERE, name, 'world.wit'), join(dir, 'world.wit'));
  return dir;
}

function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (e) => rej(new Error(`${cmd}: ${e.message}`)));
    child.on('close', (code, sig) => (code === 0 ? res(out) : rej(new Error(`${cmd} ${args.join(' ')} failed (${sig ?? `exit ${code}`}):\n${out}`))));
  });
}

async function buildJS(name, wit, outFile) {
  // componentize runs wizer with spawnSync, which holds its process: one
  // process per component lets components build side by side.
  await run(process.execPath, [join(HERE, 'lib', 'componentize.mjs'), join(HERE, name, 'component.js'), wit, COMPONENTS[name].world, outFile], { cwd: HERE });
}

async function buildC(name, wit, outFile, work) {
  const { componentEmbed, componentNew } = await import('@bytecodealliance/jco');
  const core = join(work, name, 'core.wasm');
  const src = join(HERE, name, 'main.c');
  const common = ['-O2', '-Wall', '-Werror', '-ffile-prefix-map=' + HERE + '/=', '-o', core, src];
  if (COMPONENTS[name].lang === 'c-direct') {
    await run('clang', ['--target=wasm32', '-nostdlib', '-Wl,--no-entry', ...common]);
  } else {
    await run('clang', ['--target=wasm32-wasi', '-mexec-model=reactor', ...common]);
  }
  const embedded = await componentEmbed({
    binary: await readFile(core),
    witPath: wit,
    world: COMPONENTS[name].world,
    stringEncoding: 'utf8',
  });
  const adapters = [];
  if (COMPONENTS[name].lang === 'c-adapter') {
    const { preview1AdapterReactorPath } = await import('@bytecodealliance/jco');
    adapters.push(['wasi_snapshot_preview1', await readFile(preview1AdapterReactorPath())]);
  }
  await writeFile(outFile, await componentNew(embedded, adapters));
}

async function toolVersions() {
  const pkg = async (p) => JSON.parse(await readFile(join(HERE, 'node_modules', p, 'package.json'), 'utf8')).version;
  const first = (cmd, args) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
    } catch {
      return null;
    }
  };
  const deb = (p) => first('dpkg-query', ['-W', '-f=${Version}', p]);
  return {
    node: process.version,
    '@bytecodealliance/componentize-js': await pkg('@bytecodealliance/componentize-js'),
    '@bytecodealliance/jco': await pkg('@bytecodealliance/jco'),
    '@bytecodealliance/preview2-shim': await pkg('@bytecodealliance/preview2-shim'),
    '@bytecodealliance/wizer': await pkg('@bytecodealliance/wizer'),
    clang: first('clang', ['--version']),
    'deb:clang': deb('clang'),
    'deb:lld': deb('lld'),
    'deb:wasi-libc': deb('wasi-libc'),
    'deb:libclang-rt-14-dev-wasm32': deb('libclang-rt-14-dev-wasm32'),
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!existsSync(join(HERE, 'node_modules', '@bytecodealliance', 'componentize-js'))) {
    throw new Error(`no node_modules in ${HERE}: run \`npm ci\` there first (or bash .ci/corpus.sh)`);
  }
  const ref = await checkReferenceExample();
  if (ref.status === 'differs') throw new Error(ref.message);
  process.stderr.write(`build.mjs: ${ref.message}\n`);

  const out = resolve(opts.out);
  await mkdir(out, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'wassette-corpus-'));
  const started = Date.now();
  const built = {};
  try {
    const queue = [...opts.names].sort((a, b) => (COMPONENTS[a].lang === 'js' ? 0 : 1) - (COMPONENTS[b].lang === 'js' ? 0 : 1));
    const failures = [];
    const worker = async () => {
      while (queue.length > 0) {
        const name = queue.shift();
        const t0 = Date.now();
        try {
          const wit = await stageWit(name, work);
          const tmpOut = join(work, `${name}.wasm`);
          if (COMPONENTS[name].lang === 'js') await buildJS(name, wit, tmpOut);
          else await buildC(name, wit, tmpOut, work);
          const bytes = await readFile(tmpOut);
          await copyFile(join(HERE, name, 'world.wit'), join(out, `${name}.wit`));
          await rename(tmpOut, join(out, `${name}.wasm`)).catch(async () => {
            await copyFile(tmpOut, join(out, `${name}.wasm`));
          });
          built[name] = {
            wasm: `${name}.wasm`,
            wit: `${name}.wit`,
            bytes: bytes.length,
            sha256: createHash('sha256').update(bytes).digest('hex'),
            seconds: (Date.now() - t0) / 1000,
          };
          process.stderr.write(`build.mjs: ${name}: ${bytes.length} bytes in ${built[name].seconds.toFixed(1)} s\n`);
        } catch (e) {
          failures.push(`${name}: ${e.message}`);
          process.stderr.write(`build.mjs: ${name} FAILED: ${e.message}\n`);
        }
      }
    };
    await Promise.all(Array.from({ length: opts.jobs }, worker));
    if (failures.length > 0) throw new Error(`${failures.length} component(s) failed to build:\n${failures.join('\n')}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const manifest = {
    components: built,
    tools: await toolVersions(),
    seconds: (Date.now() - started) / 1000,
    jobs: opts.jobs,
  };
  // Merge with an earlier manifest when only some components were built.
  const manifestPath = join(out, 'corpus.json');
  if (existsSync(manifestPath) && opts.names.length < Object.keys(COMPONENTS).length) {
    const old = JSON.parse(await readFile(manifestPath, 'utf8'));
    manifest.components = { ...old.components, ...built };
  }
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  process.stderr.write(`build.mjs: built ${Object.keys(built).length} component(s) into ${out} in ${manifest.seconds.toFixed(1)} s (${opts.jobs} at a time)\n`);
}

main().catch((e) => {
  process.stderr.write(`build.mjs: ${e.message}\n`);
  process.exit(1);
});
