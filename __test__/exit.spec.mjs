// Lifecycle: after close(), the Node process exits by itself (no leftover handles).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

const libUrl = new URL('../lib/index.js', import.meta.url).href;
const clientUrl = import.meta.resolve('socket.io-client');

function runChild(t, source, ms = 10000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within ${ms} ms; output:\n${output}`));
    }, ms);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
    t.after(() => child.kill('SIGKILL'));
  });
}

const scenario = (mode) => `
  import http from 'node:http';
  import { once } from 'node:events';
  import { io } from ${JSON.stringify(clientUrl)};
  import { startWebsocketServer, ServerChannel } from ${JSON.stringify(libUrl)};
  const chat = new ServerChannel('chat', async () => true);
  let server, httpServer, port;
  if (${JSON.stringify(mode)} === 'attach') {
    httpServer = http.createServer((req, res) => { res.writeHead(404); res.end(); });
    server = await startWebsocketServer({ httpServer, channels: [chat], authenticate: async () => ({ user: null, session: null, roles: [] }) });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    port = httpServer.address().port;
  } else {
    server = await startWebsocketServer({ host: '127.0.0.1', port: 0, channels: [chat], authenticate: async () => ({ user: null, session: null, roles: [] }) });
    port = server.port;
  }
  const ws = io('http://127.0.0.1:' + port, { transports: ['websocket'], reconnection: false });
  const polling = io('http://127.0.0.1:' + port, { transports: ['polling'], reconnection: false, forceNew: true });
  await Promise.all([once(ws, 'connect'), once(polling, 'connect')]);
  ws.emit('joinChannel', 'chat:1');
  await once(ws, 'joinedChannel');
  const disconnected = once(ws, 'disconnect');
  await server.close();
  await server.close(); // idempotent
  await disconnected;
  polling.close();
  if (httpServer) httpServer.close();
  console.log('closed');
`;

for (const mode of ['standalone', 'attach']) {
  test(`${mode}: the process exits by itself after close()`, async (t) => {
    const started = Date.now();
    const { code, signal, output } = await runChild(t, scenario(mode));
    assert.equal(signal, null, output);
    assert.equal(code, 0, output);
    assert.match(output, /closed/);
    assert.ok(Date.now() - started < 10000);
  });
}

test('a standalone server keeps the process alive until closed', async (t) => {
  const source = `
    import { startWebsocketServer } from ${JSON.stringify(libUrl)};
    const server = await startWebsocketServer({ host: '127.0.0.1', port: 0 });
    setTimeout(async () => { console.log('still alive'); await server.close(); }, 500);
  `;
  const { code, output } = await runChild(t, source);
  assert.equal(code, 0, output);
  assert.match(output, /still alive/);
});
