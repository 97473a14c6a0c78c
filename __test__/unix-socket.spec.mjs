// Attach mode on an http.Server listening on a Unix socket path (common behind nginx): the
// upgraded socket has no TCP descriptor to hand over, so it is bridged; polling is forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import WebSocket from 'ws';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { waitFor, eventually } from './support/helpers.mjs';

/** An attached server on a fresh Unix socket path; returns `{ socketPath, chat }`, cleaned up on `t`. */
async function startOnUnixSocket(t) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mnw-unix-'));
  const socketPath = path.join(dir, 'app.sock');
  const chat = new ServerChannel('chat');
  const httpServer = http.createServer((req, res) => res.end('app route'));
  const server = await startWebsocketServer({ httpServer, channels: [chat] });
  httpServer.listen(socketPath);
  await once(httpServer, 'listening');
  t.after(async () => {
    await server.close();
    httpServer.closeAllConnections();
    await new Promise((r) => httpServer.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });
  return { socketPath, chat };
}

/** A raw websocket client over the Unix socket; `messages` collects every text frame. */
async function unixWebsocket(t, socketPath) {
  const ws = new WebSocket(`ws+unix://${socketPath}:/socket.io/?EIO=4&transport=websocket`);
  t.after(() => ws.terminate());
  const messages = [];
  ws.on('message', (data) => {
    const text = data.toString();
    if (text === '2') ws.send('3');
    else messages.push(text);
  });
  await waitFor(ws, 'open');
  return { ws, messages };
}

const received = (messages, predicate, what) => eventually(() => messages.some(predicate), 3000, what);

test('a websocket client reaches an attached server listening on a Unix socket', async (t) => {
  const { socketPath, chat } = await startOnUnixSocket(t);
  const { ws, messages } = await unixWebsocket(t, socketPath);
  await received(messages, (m) => m.startsWith('0{') && JSON.parse(m.slice(1)).sid, 'the Engine.IO open packet');

  ws.send('40');
  await received(messages, (m) => m.startsWith('40{"sid":'), 'the CONNECT acknowledgement');

  ws.send('42["joinChannel","chat:1"]');
  await received(messages, (m) => m === '42["joinedChannel","chat:1"]', 'joinedChannel');

  chat.broadcast('1', { text: 'over a unix socket' });
  await received(messages, (m) => m === '42["chat",{"text":"over a unix socket"}]', 'the broadcast');
});

test('a long-polling handshake over the Unix socket gets the Engine.IO open packet', async (t) => {
  const { socketPath } = await startOnUnixSocket(t);
  const res = await new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: '/socket.io/?EIO=4&transport=polling' }, resolve);
    req.on('error', reject);
    req.end();
  });
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.equal(res.statusCode, 200);
  assert.ok(body.startsWith('0{'), `an open packet, got ${JSON.stringify(body)}`);
  assert.equal(typeof JSON.parse(body.slice(1)).sid, 'string');
});

test("the app's own routes keep working on the Unix socket", async (t) => {
  const { socketPath } = await startOnUnixSocket(t);
  const res = await new Promise((resolve, reject) => {
    http.get({ socketPath, path: '/hello' }, resolve).on('error', reject);
  });
  let body = '';
  for await (const chunk of res) body += chunk;
  assert.equal(body, 'app route');
});
