// Attach mode's early takeover (lib/takeover.js): on a plain TCP http.Server, websocket
// sessions are served natively from the first byte (Node's 'upgrade' never fires for them),
// while every other connection reaches the app's server unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { connect, join, waitFor } from './support/helpers.mjs';

/** An app server with a route that echoes the request body, started with the native server. */
async function startApp(t, { listenFirst = true } = {}) {
  const httpServer = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks)}`));
  });
  const counts = { upgrade: 0, connection: 0 };
  httpServer.on('upgrade', () => counts.upgrade++);
  httpServer.on('connection', () => counts.connection++);
  const chat = new ServerChannel('chat');
  if (listenFirst) {
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
  }
  const server = await startWebsocketServer({ httpServer, channels: [chat] });
  if (!listenFirst) {
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
  }
  t.after(async () => {
    await server.close();
    httpServer.closeAllConnections();
    httpServer.close();
  });
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  return { httpServer, server, chat, counts, url };
}

for (const listenFirst of [true, false]) {
  test(`websocket sessions skip Node's upgrade path (listen ${listenFirst ? 'before' : 'after'} start)`, async (t) => {
    const { chat, counts, url } = await startApp(t, { listenFirst });
    const socket = await connect(t, url, { transports: ['websocket'] });
    assert.deepEqual(await join(socket, 'chat:r'), { joined: 'chat:r' });
    const got = waitFor(socket, 'chat');
    chat.broadcast('r', { n: 1 });
    assert.deepEqual(await got, { n: 1 });
    assert.equal(counts.upgrade, 0, "Node's 'upgrade' fired for a taken-over session");
    assert.equal(counts.connection, 0, 'the app saw the taken-over connection');
  });
}

test('app requests on the same port come back unread: bodies, keep-alive, pipelining', async (t) => {
  const { counts, url } = await startApp(t);
  const res = await fetch(`${url}/echo`, { method: 'POST', body: 'payload' });
  assert.equal(await res.text(), 'POST /echo payload');

  // Two pipelined requests on one raw connection, the second in the same packet.
  const port = new URL(url).port;
  const raw = net.connect(port, '127.0.0.1');
  raw.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let text = '';
  raw.setEncoding('utf8').on('data', (chunk) => (text += chunk));
  await once(raw, 'end');
  assert.match(text, /GET \/a [\s\S]*GET \/b /);
  assert.ok(counts.connection >= 2, `the app saw ${counts.connection} connections`);
});

test('polling, and polling upgraded to websocket, still go through Node', async (t) => {
  const { chat, counts, url } = await startApp(t);
  const socket = await connect(t, url, { transports: ['polling', 'websocket'] });
  assert.deepEqual(await join(socket, 'chat:r'), { joined: 'chat:r' });
  if (socket.io.engine.transport.name !== 'websocket') await waitFor(socket.io.engine, 'upgrade', 3000);
  assert.equal(counts.upgrade, 1, 'the upgrade of a polling session takes the upgrade path');
  const got = waitFor(socket, 'chat');
  chat.broadcast('r', 'after upgrade');
  assert.equal(await got, 'after upgrade');
});

test('a client that sends nothing and closes, or a head in two parts, loses nothing', async (t) => {
  const { counts, url } = await startApp(t);
  const port = new URL(url).port;
  const silent = net.connect(port, '127.0.0.1');
  await once(silent, 'connect');
  silent.end();
  await once(silent, 'close');

  const split = net.connect(port, '127.0.0.1');
  await once(split, 'connect');
  split.write('GET /sp');
  await new Promise((resolve) => setTimeout(resolve, 50));
  split.write('lit HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  let text = '';
  split.setEncoding('utf8').on('data', (chunk) => (text += chunk));
  await once(split, 'end');
  assert.match(text, /^HTTP\/1\.1 200[\s\S]*GET \/split $/);
  assert.ok(counts.connection >= 1);
});

test('after close() the app server accepts and serves as it did before', async (t) => {
  const { httpServer, server, counts, url } = await startApp(t);
  await server.close();
  httpServer.on('upgrade', (req, socket) => socket.destroy());
  const res = await fetch(`${url}/still`);
  assert.equal(await res.text(), 'GET /still ');
  // A websocket request now reaches Node's 'upgrade' event: nothing took it over.
  const raw = net.connect(new URL(url).port, '127.0.0.1');
  raw.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  raw.on('error', () => {});
  await once(raw, 'close');
  assert.equal(counts.upgrade, 1);
});

test('a native server that refuses the takeover leaves every connection to Node', { timeout: 10_000 }, async (t) => {
  // The hook stays installed on a server whose native side is closed (a race `close()`
  // itself avoids by unhooking first): each offered connection is refused, and Node serves
  // it as if nothing had looked at it.
  const require = createRequire(import.meta.url);
  const { NativeServer } = require('../lib/native.js');
  const { takeOverConnections } = require('../lib/takeover.js');
  const native = new NativeServer({ channels: [] }, false, () => {});
  await native.close();
  const httpServer = http.createServer((req, res) => res.end(`served ${req.url}`));
  const upgrades = [];
  httpServer.on('upgrade', (req, socket) => {
    upgrades.push(req.url);
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
  });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const unhook = takeOverConnections(httpServer, native);
  t.after(() => {
    unhook();
    httpServer.closeAllConnections();
    httpServer.close();
  });
  const { port } = httpServer.address();
  const res = await fetch(`http://127.0.0.1:${port}/page`);
  assert.equal(await res.text(), 'served /page');
  const raw = net.connect(port, '127.0.0.1');
  raw.write('GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  raw.on('error', () => {});
  let reply = '';
  raw.on('data', (chunk) => (reply += chunk));
  await once(raw, 'close');
  assert.match(reply, /^HTTP\/1\.1 400 /, 'Node answered the upgrade itself');
  assert.deepEqual(upgrades, ['/socket.io/?EIO=4&transport=websocket']);
});
