// Hostile and broken input: each row of the README's "Limits and errors" table. Whatever a
// client sends, the server stays up and other clients keep being served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { ServerChannel } from '../lib/index.js';
import { startServer, connect, join, waitFor, collect, eventually, sleep } from './support/helpers.mjs';
import { rawSocket, closesWithin } from './support/raw.mjs';

async function setup(t, opts = {}) {
  const chat = new ServerChannel('chat');
  const started = await startServer(t, { channels: [chat], ...opts });
  const bystander = await connect(t, started.url);
  await join(bystander, 'chat:room');
  const stillServed = async () => {
    const got = waitFor(bystander, 'chat');
    chat.broadcast('room', 'still here');
    assert.equal(await got, 'still here');
    const fresh = await connect(t, started.url);
    assert.deepEqual(await join(fresh, 'chat:x'), { joined: 'chat:x' });
  };
  return { ...started, chat, bystander, stillServed };
}

const garbage = [
  ['garbage text', 'xyz'],
  ['an unknown Engine.IO packet type', '9hello'],
  ['an unknown Socket.IO packet type', '49["x"]'],
  ['a truncated event', '42["joinChannel"'],
  ['a non-JSON event payload', '42not json'],
  ['an event that is not an array', '42{"a":1}'],
  ['an empty message packet', '4'],
];

for (const [what, frame] of garbage) {
  test(`${what} closes only that connection`, async (t) => {
    const { url, stillServed } = await setup(t);
    const raw = await rawSocket(t, url);
    raw.ws.send(frame);
    assert.equal(await closesWithin(raw, 1500), true, 'the sender is disconnected (as socket.io does)');
    await stillServed();
  });
}

test('binary garbage closes only that connection', async (t) => {
  const { url, stillServed } = await setup(t);
  const raw = await rawSocket(t, url);
  raw.ws.send(Buffer.from([0xff, 0x00, 0x13, 0x37]));
  assert.equal(await closesWithin(raw, 1500), true);
  await stillServed();
});

test('a packet over maxHttpBufferSize disconnects that client only', async (t) => {
  const { url, stillServed } = await setup(t, { maxHttpBufferSize: 10_000 });
  const raw = await rawSocket(t, url);
  raw.ws.send(`42["big","${'x'.repeat(20_000)}"]`);
  assert.equal(await closesWithin(raw, 2000), true);
  await stillServed();
});

test('a polling request with an unknown or expired sid gets HTTP 400', async (t) => {
  const { url, stillServed } = await setup(t);
  const unknown = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=doesnotexist`);
  assert.equal(unknown.status, 400);
  const handshake = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const { sid } = JSON.parse(handshake.slice(1));
  const closed = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1' });
  assert.equal(closed.status, 200);
  await sleep(100);
  const expired = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  assert.equal(expired.status, 400);
  await stillServed();
});

test('a polling body over maxHttpBufferSize is refused', async (t) => {
  const { url, stillServed } = await setup(t, { maxHttpBufferSize: 10_000 });
  const handshake = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const { sid } = JSON.parse(handshake.slice(1));
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: 'POST',
    body: `42["big","${'x'.repeat(20_000)}"]`,
  }).catch(() => ({ status: 'reset' }));
  assert.ok(res.status === 413 || res.status === 'reset', `status ${res.status}`);
  await stillServed();
});

test('thousands of joins from one socket hit the cap and the rate limit; the socket survives', async (t) => {
  const { url, stillServed } = await setup(t, { maxChannelsPerSocket: 1000, maxJoinsPerSecond: 2000 });
  const socket = await connect(t, url);
  const joined = collect(socket, 'joinedChannel');
  const errors = collect(socket, 'joinError');
  for (let i = 0; i < 6000; i++) socket.emit('joinChannel', `chat:${i}`);
  await eventually(() => joined.length + errors.length === 6000, 15000, 'a reply to every join');
  const reasons = new Set(errors.map((e) => e.error));
  assert.ok(joined.length <= 1000, `joined ${joined.length}`);
  assert.ok(reasons.has('Too many joins: slow down (limit 2000 per second)'), [...reasons].join(' | '));
  assert.ok(socket.connected);
  await stillServed();
});

test('a socket that stays under the join rate is never limited', async (t) => {
  const { url } = await setup(t, { maxJoinsPerSecond: 50 });
  const socket = await connect(t, url);
  for (let i = 0; i < 100; i++) assert.deepEqual(await join(socket, `chat:${i}`), { joined: `chat:${i}` });
  const errors = collect(socket, 'joinError');
  for (let i = 100; i < 200; i++) socket.emit('joinChannel', `chat:${i}`);
  await eventually(() => errors.length > 0, 3000, 'the rate limit');
  assert.equal(errors[0].error, 'Too many joins: slow down (limit 50 per second)');
});

test('a client that stops reading is cut off; others keep receiving everything', async (t) => {
  const { url, chat, bystander } = await setup(t, { standalone: true, maxBufferedPackets: 64 });
  // A raw TCP client: websocket handshake, CONNECT, join, then never read again.
  const port = Number(new URL(url).port);
  const slow = net.connect(port, '127.0.0.1');
  t.after(() => slow.destroy());
  await once(slow, 'connect');
  slow.write(
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  const frame = (text) => {
    const payload = Buffer.from(text);
    const mask = Buffer.from([1, 2, 3, 4]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
  };
  await sleep(100);
  slow.write(frame('40'));
  await sleep(100);
  slow.write(frame('42["joinChannel","chat:room"]'));
  await sleep(200);
  slow.pause();
  let slowClosed = false;
  slow.on('close', () => (slowClosed = true));

  const inbox = collect(bystander, 'chat');
  const big = 'z'.repeat(100_000);
  const total = 300; // 30 MB towards a client that reads nothing
  for (let i = 0; i < total; i++) {
    chat.broadcast('room', { i, big });
    if (i % 20 === 0) await sleep(5);
  }
  await eventually(() => inbox.length >= total, 30000, 'every message at the reading client');
  assert.deepEqual(
    inbox.map((m) => m.i),
    Array.from({ length: total }, (_, i) => i),
  );
  slow.resume();
  await eventually(() => slowClosed, 10000, 'the slow client to be cut off');
});

/**
 * Opens a websocket with `origin` and resolves with how the upgrade went:
 * `{ status }` from a refused upgrade, or `{ open: true }`.
 */
function upgradeFrom(t, url, origin) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`, { origin });
  t.after(() => ws.terminate());
  return new Promise((resolve, reject) => {
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode });
      req.destroy();
    });
    ws.on('open', () => resolve({ open: true }));
    ws.on('error', (error) => reject(error));
  });
}

for (const standalone of [false, true]) {
  const mode = standalone ? 'standalone' : 'attach mode';
  test(`a websocket upgrade from an origin not in cors.origin gets HTTP 403 (${mode})`, async (t) => {
    const { url, stillServed } = await setup(t, { standalone, cors: { origin: 'https://ok.example' } });
    assert.deepEqual(await upgradeFrom(t, url, 'https://evil.example'), { status: 403 });
    assert.deepEqual(await upgradeFrom(t, url, 'https://ok.example'), { open: true });
    await stillServed();
  });
}
