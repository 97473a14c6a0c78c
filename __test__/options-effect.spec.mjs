// Socket.IO server options take effect on the wire: heartbeat timing and transports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, eventually } from './support/helpers.mjs';
import { rawSocket } from './support/raw.mjs';

test('pingInterval and pingTimeout are announced and enforced', async (t) => {
  const { url } = await startServer(t, { pingInterval: 300, pingTimeout: 200 });
  const raw = await rawSocket(t, url, { connect: false });
  const open = JSON.parse(raw.messages.find((m) => m.startsWith('0{')).slice(1));
  assert.equal(open.pingInterval, 300);
  assert.equal(open.pingTimeout, 200);
  assert.equal(open.maxPayload, 1e6);
  // A client that answers pings stays; one that never does is closed by the server.
  const client = await connect(t, url);
  raw.ws.removeAllListeners('message'); // stop answering pings
  const silentClosed = await Promise.race([raw.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  assert.equal(silentClosed, true, 'a client that never pongs is closed after pingInterval + pingTimeout');
  await new Promise((r) => setTimeout(r, 800));
  assert.ok(client.connected, 'a client that answers pings stays connected');
});

test('transports limits what clients may use', async (t) => {
  const { url } = await startServer(t, { transports: ['polling'] });
  const polling = await connect(t, url, { transports: ['polling'] });
  assert.ok(polling.connected);
  const { error } = await connect(t, url, { transports: ['websocket'], expectError: true });
  assert.ok(error instanceof Error);
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=websocket`);
  assert.equal(res.status, 400);
});

test('maxHttpBufferSize is announced to clients', async (t) => {
  const { url } = await startServer(t, { maxHttpBufferSize: 12345 });
  const raw = await rawSocket(t, url, { connect: false });
  const open = JSON.parse(raw.messages.find((m) => m.startsWith('0{')).slice(1));
  assert.equal(open.maxPayload, 12345);
  await eventually(() => raw.ws.readyState === 1, 1000, 'open socket');
});

test('a small wsReadBufferSize still reads large messages whole', async (t) => {
  const { url, server } = await startServer(t, { wsReadBufferSize: 64 });
  server.onEvent('upload', (socket, text) => ({ length: text.length, tail: text.slice(-8) }));
  const client = await connect(t, url);
  const text = `${'x'.repeat(200_000)}end-mark`;
  const answer = await client.timeout(5000).emitWithAck('upload', text);
  assert.deepEqual(answer, { length: text.length, tail: 'end-mark' });
});
