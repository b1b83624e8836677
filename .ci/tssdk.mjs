// Drives wassette with the official TypeScript SDK (pinned in .ci/npm) on one transport:
// tools/list, a call, a slow call cancelled with an AbortSignal, then ping. The SDK
// reports an answer to a cancelled request as "Received a response for an unknown
// message ID"; any error it reports fails the run. Run by .ci/tssdk.sh:
//
//	node tssdk.mjs stdio <wassette> <data-dir> <misbehave.wasm>
//	node tssdk.mjs sse|http <url> <misbehave.wasm>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [mode, target, ...rest] = process.argv.slice(2);
let transport, wasm;
if (mode === 'stdio') {
  transport = new StdioClientTransport({ command: target, args: ['serve', '--stdio', '--data-dir', rest[0]], stderr: 'ignore' });
  wasm = rest[1];
} else {
  transport = mode === 'sse' ? new SSEClientTransport(new URL(target)) : new StreamableHTTPClientTransport(new URL(target));
  wasm = rest[0];
}
const errors = [];
const client = new Client({ name: 'wassette-ci-tssdk', version: '0' });
client.onerror = (e) => errors.push(String(e && e.message ? e.message : e));
const fail = (msg) => { console.error(`tssdk ${mode}: FAIL: ${msg}`); process.exit(1); };

await client.connect(transport);
const { tools } = await client.listTools();
if (!tools.some((t) => t.name === 'list-secrets')) fail('tools/list lacks list-secrets');
let res = await client.callTool({ name: 'load-component', arguments: { path: wasm } });
if (res.isError) fail(`load-component: ${JSON.stringify(res.content)}`);
for (let i = 0; i < 100 && !(await client.listTools()).tools.some((t) => t.name === 'sleep'); i++) {
  await new Promise((r) => setTimeout(r, 100));
}
const abort = new AbortController();
const slow = client.callTool({ name: 'sleep', arguments: {} }, undefined, { signal: abort.signal, timeout: 600000 });
await new Promise((r) => setTimeout(r, 1000));
abort.abort('cancelled by the test');
try {
  await slow;
  fail('the cancelled call returned a result');
} catch {}
// Any answer to the cancelled request arrives before these.
await client.ping();
res = await client.callTool({ name: 'count', arguments: {} });
if (res.isError) fail(`count: ${JSON.stringify(res.content)}`);
await client.ping();
await client.close();
if (errors.length > 0) fail(`the SDK reported: ${errors.join('; ')}`);
console.log(`tssdk ${mode}: ok`);
