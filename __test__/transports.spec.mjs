// Transports and modes: websocket-only, polling then upgrade, polling-only; attach mode
// keeps the app's routes and upgrade listeners; standalone mode listens on its own port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { startServer, connect, join, waitFor } from './support/helpers.mjs';

const clientKinds = [
  ['websocket only (Modelence client)', { transports: ['websocket'] }],
  ['polling first, then upgrade (socket.io-client default)', { transports: ['polling', 'websocket'] }],
  ['polling only', { transports: ['polling'] }],
];

for (const mode of ['attach', 'standalone']) {
  for (const [kind, clientOpts] of clientKinds) {
    test(`${mode} mode: ${kind} joins and receives`, async (t) => {
      const chat = new ServerChannel('chat');
      const { url } = await startServer(t, { channels: [chat], standalone: mode === 'standalone' });
      const socket = await connect(t, url, clientOpts);
      assert.deepEqual(await join(socket, 'chat:r'), { joined: 'chat:r' });
      if (clientOpts.transports.length === 2) {
        await waitFor(socket.io.engine, 'upgrade', 3000).catch(() => {});
        assert.equal(socket.io.engine.transport.name, 'websocket');
      }
      const got = waitFor(socket, 'chat');
      chat.broadcast('r', { kind });
      assert.deepEqual(await got, { kind });
    });
  }
}

test("attach mode: the app's own routes still answer", async (t) => {
  const { url } = await startServer(t, {});
  const res = await fetch(`${url}/hello`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello from the app');
  const missing = await fetch(`${url}/socket.iox`);
  assert.equal(missing.status, 404);
});

test("attach mode: the app's own upgrade listeners keep working on other paths", async (t) => {
  const httpServer = http.createServer();
  httpServer.on('upgrade', (req, socket) => {
    if (req.url === '/custom') {
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: custom\r\nConnection: Upgrade\r\n\r\nhi-from-app');
    }
  });
  const server = await startWebsocketServer({ httpServer });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await server.close();
    httpServer.close();
  });
  const raw = net.connect(httpServer.address().port, '127.0.0.1');
  raw.write('GET /custom HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: custom\r\n\r\n');
  let text = '';
  raw.on('data', (d) => (text += d));
  await once(raw, 'end');
  assert.match(text, /101 Switching Protocols[\s\S]*hi-from-app$/);
});

test('attach mode works on a server that starts listening after init (Modelence order)', async (t) => {
  const chat = new ServerChannel('chat');
  const httpServer = http.createServer();
  const server = await startWebsocketServer({ httpServer, channels: [chat] });
  assert.equal(server.port, 0);
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await server.close();
    httpServer.close();
  });
  assert.equal(server.port, httpServer.address().port);
  const socket = await connect(t, `http://127.0.0.1:${server.port}`);
  assert.deepEqual(await join(socket, 'chat:1'), { joined: 'chat:1' });
});

test('a custom path is honoured and the default path is then not served', async (t) => {
  const { url } = await startServer(t, { path: '/ws' });
  await connect(t, url, { path: '/ws' });
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(res.status, 404);
});

test('CORS: any origin by default; configured origins are enforced', async (t) => {
  const open = await startServer(t, {});
  const handshake = await fetch(`${open.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { origin: 'https://anywhere.example' },
  });
  assert.equal(handshake.status, 200);
  assert.equal(handshake.headers.get('access-control-allow-origin'), '*');

  const strict = await startServer(t, { cors: { origin: ['https://app.example'] } });
  const allowed = await fetch(`${strict.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { origin: 'https://app.example' },
  });
  assert.equal(allowed.status, 200);
  assert.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
  const refused = await fetch(`${strict.url}/socket.io/?EIO=4&transport=polling`, {
    headers: { origin: 'https://evil.example' },
  });
  assert.equal(refused.status, 403);
  const preflight = await fetch(`${strict.url}/socket.io/?EIO=4&transport=polling`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
  });
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get('access-control-allow-methods'), 'GET, POST');
});

test('standalone mode reports its port and releases it on close', async (t) => {
  const server = await startWebsocketServer({ host: '127.0.0.1', port: 0 });
  const port = server.port;
  assert.ok(port > 0);
  await server.close();
  const again = await startWebsocketServer({ host: '127.0.0.1', port });
  assert.equal(again.port, port);
  await again.close();
});

test('standalone mode on a busy port fails with a clear Error', async (t) => {
  const first = await startWebsocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => first.close());
  await assert.rejects(startWebsocketServer({ host: '127.0.0.1', port: first.port }), {
    code: 'MNW_START_FAILED',
    message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: .*choose another port`),
  });
});
