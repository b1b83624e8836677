// request-secret's one-time page, end to end, as a person meets it: the official MCP
// TypeScript SDK is the client (with URL-mode elicitation declared, and once without),
// Debian's Chromium (driven by playwright-core) is the person's browser, and the server
// is the real `wassette serve` on stdio, SSE and streamable HTTP. Every JSON-RPC message
// of each session and the server's stderr are recorded; the secret, its base64 and its
// hex must appear in none of them.
//
// Needs: go (builds wassette, unless $WASSETTE_BIN names a built one, and the test
// component), /usr/bin/chromium (or $CHROMIUM).
// Run: cd test/browser && npm ci && npm test
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitRequestSchema, ElicitationCompleteNotificationSchema, UrlElicitationRequiredError, ErrorCode,
} from '@modelcontextprotocol/sdk/types.js';

const root = resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'wassette-browser-'));
const bin = process.env.WASSETTE_BIN || join(work, 'wassette');
const wasm = join(work, 'needskey.wasm');
// Every wassette process gets a throwaway HOME and XDG folders, never the real ones.
const env = {
  ...process.env, HOME: join(work, 'home'), XDG_DATA_HOME: join(work, 'xdg-data'),
  XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache'), XDG_STATE_HOME: join(work, 'xdg-state'),
};
// Generous limits: the machine may be busy, and the first call compiles the component.
const callOptions = { timeout: 10 * 60_000 };
const secrets = []; // every value typed into the page
const wire = []; // every JSON-RPC message, both directions, of every session
const stderrs = []; // every server's stderr
let browser;

before(async () => {
  if (!process.env.WASSETTE_BIN) {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: root, stdio: 'inherit', env: { ...process.env, CGO_ENABLED: '0' } });
  }
  execFileSync('go', ['build', '-o', wasm, './component/testdata/needskey'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', CGO_ENABLED: '0' },
  });
  // The one browser launch. The flags keep Chromium off the network (this machine has
  // none but loopback) and work as root.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  // Nothing of any value typed into the page may have gone over MCP or into a log.
  const haystacks = { 'the JSON-RPC messages': wire.join('\n'), "the servers' stderr": stderrs.map((s) => s.text).join('\n') };
  for (const secret of secrets) {
    const forms = {
      plain: secret,
      base64: Buffer.from(secret).toString('base64'),
      base64url: Buffer.from(secret).toString('base64url'),
      hex: Buffer.from(secret).toString('hex'),
    };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [form, needle] of Object.entries(forms)) {
        assert.ok(!text.includes(needle), `the secret (${form}) appears in ${where}`);
      }
    }
  }
  assert.ok(wire.length > 20, `only ${wire.length} messages were recorded`);
  rmSync(work, { recursive: true, force: true });
});

function newSecret() {
  const s = `sk-browser-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
  secrets.push(s);
  return s;
}

// A data folder with the needskey component loaded (it declares API_KEY for needs_key).
function dataDir() {
  const dir = mkdtempSync(join(work, 'data-'));
  execFileSync(bin, ['component', 'load', wasm, '--data-dir', dir], { stdio: ['ignore', 'ignore', 'inherit'], env });
  return dir;
}

function wassette(args, dir) {
  return execFileSync(bin, [...args, '--data-dir', dir], { encoding: 'utf8', env });
}

// storedValue reads a value back the way a person can, at the CLI.
function storedValue(dir, id, key) {
  const out = JSON.parse(wassette(['secret', 'list', id, '-o', 'json', '--show-values', '--yes'], dir));
  return out.secrets.find((s) => s.key === key)?.value;
}

// record wraps a transport so that every message it carries is kept in `wire`.
function record(inner) {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'send') {
        return (msg, opts) => { wire.push(JSON.stringify(msg)); return target.send(msg, opts); };
      }
      const v = Reflect.get(target, prop);
      return typeof v === 'function' ? v.bind(target) : v;
    },
    set(target, prop, value) {
      if (prop === 'onmessage' && typeof value === 'function') {
        return Reflect.set(target, prop, (msg, extra) => { wire.push(JSON.stringify(msg)); return value(msg, extra); });
      }
      return Reflect.set(target, prop, value);
    },
  });
}

// startHTTP starts `wassette serve` on an HTTP transport and resolves with its base URL.
function startHTTP(flag, dir, t) {
  const proc = spawn(bin, ['serve', flag, '--bind', '127.0.0.1:0', '--data-dir', dir], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const log = { text: '' };
  stderrs.push(log);
  t.after(() => proc.kill('SIGTERM'));
  return new Promise((resolveAddr, reject) => {
    proc.stderr.on('data', (d) => {
      log.text += d.toString();
      const m = log.text.match(/msg=listening addr=(\S+)/);
      if (m) resolveAddr(`http://${m[1]}`);
    });
    proc.on('exit', (code) => reject(new Error(`wassette serve ${flag} exited ${code}:\n${log.text}`)));
  });
}

async function connect(kind, dir, t, { urlMode }) {
  let transport;
  if (kind === 'stdio') {
    transport = new StdioClientTransport({ command: bin, args: ['serve', '--stdio', '--data-dir', dir], stderr: 'pipe', env });
    const log = { text: '' };
    stderrs.push(log);
    transport.stderr.on('data', (d) => { log.text += d.toString(); });
  } else if (kind === 'sse') {
    transport = new SSEClientTransport(new URL('/sse', await startHTTP('--sse', dir, t)));
  } else {
    transport = new StreamableHTTPClientTransport(new URL('/mcp', await startHTTP('--streamable-http', dir, t)));
  }
  const client = new Client({ name: 'wassette-browser-test', version: '0' },
    { capabilities: urlMode ? { elicitation: { url: {} } } : {} });
  const session = { client, elicitations: [], completed: new Set(), typed: [] };
  if (urlMode) {
    // A person's client: it shows the URL, the person consents, the browser opens it;
    // the person types the secret there. The answer to the server is "accept" at once.
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      assert.equal(req.params.mode, 'url');
      session.elicitations.push(req.params);
      session.typed.push(enterSecret(req.params.url, session.nextSecret, { key: session.nextKey }));
      return { action: 'accept' };
    });
    client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
      session.completed.add(n.params.elicitationId);
    });
  }
  await client.connect(record(transport), callOptions);
  t.after(() => client.close());
  return session;
}

// enterSecret is the person at the browser: open the page, check what it says, type
// the value, submit, and check the confirmation. It returns the page's response headers.
async function enterSecret(url, secret, { component = 'needskey', key = 'API_KEY' } = {}) {
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/secret\/[A-Za-z0-9_-]{43}$/);
  const context = await browser.newContext();
  context.setDefaultTimeout(5 * 60_000);
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
  try {
    const resp = await page.goto(url);
    assert.equal(resp.status(), 200);
    const h = resp.headers();
    assert.equal(h['cache-control'], 'no-store');
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.equal(h['x-frame-options'], 'DENY');
    assert.match(h['content-security-policy'], /default-src 'none'/);
    const text = await page.textContent('main');
    for (const want of [component, key, 'wassette']) assert.ok(text.includes(want), `the page does not say ${want}`);
    assert.equal(await page.getAttribute('#value', 'type'), 'password');
    await page.fill('#value', secret);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const done = await page.textContent('main');
    assert.ok(done.includes('Secret stored'), done);
    assert.ok(!done.includes(secret), 'the confirmation shows the value');
    assert.deepEqual(external, [], 'the page loaded something from elsewhere');
    // The same link again is refused.
    const again = await page.goto(url);
    assert.equal(again.status(), 410);
    return text;
  } finally {
    await context.close();
  }
}

function structured(res) {
  assert.ok(res.structuredContent, JSON.stringify(res));
  return res.structuredContent;
}

function text(res) {
  return res.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
}

// urlModeFlow: a client with URL-mode elicitation. A call that needs the missing declared
// secret gets -32042 carrying the page; the person enters it; the retried call runs.
// Then request-secret for another key: the client is asked to open the page, and the
// result says it was stored, masked.
async function urlModeFlow(kind, t) {
  const dir = dataDir();
  const s = await connect(kind, dir, t, { urlMode: true });
  const { client } = s;

  const first = newSecret();
  let required;
  try {
    await client.callTool({ name: 'needs_key', arguments: {} }, undefined, callOptions);
  } catch (e) {
    required = e;
  }
  if (required instanceof UrlElicitationRequiredError) {
    t.diagnostic(`${kind}: -32042 with the page`);
    assert.equal(required.code, ErrorCode.UrlElicitationRequired);
    const [el] = required.elicitations;
    assert.equal(el.mode, 'url');
    assert.ok(el.elicitationId && el.message.includes('API_KEY'), JSON.stringify(el));
    await enterSecret(el.url, first);
    await waitFor(() => s.completed.has(el.elicitationId), 'notifications/elicitation/complete');
  } else {
    // A transport that cannot carry URL mode: the model is told to call request-secret.
    assert.equal(kind, 'sse', `${kind}: needs_key answered ${required ?? 'without an error'}`);
    t.diagnostic(`${kind}: an isError result naming request-secret`);
    const res = await client.callTool({ name: 'needs_key', arguments: {} }, undefined, callOptions);
    assert.ok(res.isError && text(res).includes('request-secret'), text(res));
    const out = structured(await client.callTool({ name: 'request-secret', arguments: { component_id: 'needskey', key: 'API_KEY' } }, undefined, callOptions));
    if (out.status === 'awaiting_person') await enterSecret(out.url, first);
  }
  assert.equal(storedValue(dir, 'needskey', 'API_KEY'), first);
  const ran = await client.callTool({ name: 'needs_key', arguments: {} }, undefined, callOptions);
  assert.ok(!ran.isError && text(ran).includes('"api_key_set":true'), text(ran));

  // request-secret: the client opens the page (or, on a transport that cannot ask it,
  // gets the URL to show).
  const second = newSecret();
  s.nextSecret = second;
  s.nextKey = 'OTHER_TOKEN';
  const res = await client.callTool({ name: 'request-secret',
    arguments: { component_id: 'needskey', key: 'OTHER_TOKEN', reason: 'the browser test needs a second key' } },
  undefined, callOptions);
  const out = structured(res);
  if (out.status === 'awaiting_person') {
    assert.equal(kind, 'sse', `${kind}: the client declared URL mode but was not asked to open the page`);
    t.diagnostic(`${kind}: request-secret gave the URL to show`);
    await enterSecret(out.url, second, { key: 'OTHER_TOKEN' });
  } else {
    assert.equal(s.elicitations.length, 1);
    const pageText = await s.typed[0];
    assert.ok(pageText.includes('the browser test needs a second key'), 'the page does not show the reason');
    assert.deepEqual({ set: out.set, status: out.status }, { set: true, status: 'stored' });
    assert.equal(out.masked_value, `${second.slice(0, 3)}***${second.slice(-3)}`);
    assert.ok(!('url' in out));
  }
  assert.equal(storedValue(dir, 'needskey', 'OTHER_TOKEN'), second);
}

async function waitFor(cond, what) {
  const deadline = Date.now() + 5 * 60_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('stdio, URL-mode client', (t) => urlModeFlow('stdio', t));
test('streamable HTTP, URL-mode client', (t) => urlModeFlow('streamable-http', t));
test('SSE, URL-mode client', (t) => urlModeFlow('sse', t));

test('stdio, client without URL mode', async (t) => {
  const dir = dataDir();
  const { client } = await connect('stdio', dir, t, { urlMode: false });
  const missing = await client.callTool({ name: 'needs_key', arguments: {} }, undefined, callOptions);
  assert.ok(missing.isError, 'a call missing its declared secret ran');
  assert.match(text(missing), /request-secret/);
  assert.match(text(missing), /API_KEY/);

  const res = await client.callTool({ name: 'request-secret', arguments: { component_id: 'needskey', key: 'API_KEY' } }, undefined, callOptions);
  const out = structured(res);
  assert.equal(out.status, 'awaiting_person');
  assert.equal(out.set, false);
  assert.ok(text(res).includes(out.url) && text(res).includes('NOT to type or paste'), text(res));
  const secret = newSecret();
  await enterSecret(out.url, secret);
  assert.equal(storedValue(dir, 'needskey', 'API_KEY'), secret);
  const ran = await client.callTool({ name: 'needs_key', arguments: {} }, undefined, callOptions);
  assert.ok(!ran.isError, text(ran));
  const list = await client.callTool({ name: 'list-components', arguments: {} }, undefined, callOptions);
  assert.ok(!structured(list).components[0].declared_secrets[0].missing);
});
