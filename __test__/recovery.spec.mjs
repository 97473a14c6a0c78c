// Connection state recovery with an unchanged socket.io-client 4.8: a connection cut
// abruptly (through a proxy that resets it) comes back with its channel and every missed
// broadcast, in order, once; beyond the window, or for a channel now denied, it does not.
import test from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { ServerChannel } from '../lib/index.js';
import { startServer, waitFor, eventually, sleep } from './support/helpers.mjs';
import { resetProxy, replayLatency } from './support/reset-proxy.mjs';

function recoveringClient(t, url) {
  const socket = io(url, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  t.after(() => socket.close());
  return socket;
}

async function setup(t, { window = 5000, allowed = () => true } = {}) {
  const ticks = new ServerChannel('ticks');
  const vip = new ServerChannel('vip', () => allowed());
  const { server, port } = await startServer(t, {
    standalone: true,
    channels: [ticks, vip],
    connectionStateRecovery: { maxDisconnectionDuration: window },
  });
  const proxy = await resetProxy(t, port);
  return { server, ticks, proxy };
}

test('a reset connection recovers its channel and every missed broadcast, in order, once', async (t) => {
  const { server, ticks, proxy } = await setup(t);
  const socket = recoveringClient(t, proxy.url);
  const received = [];
  socket.on('ticks', (n) => received.push(n));
  let joins = 0;
  socket.on('connect', () => {
    if (!socket.recovered) {
      joins++;
      socket.emit('joinChannel', 'ticks:1');
    }
  });
  await waitFor(socket, 'joinedChannel');
  let n = 0;
  const timer = setInterval(() => ticks.broadcast('1', ++n), 10);
  t.after(() => clearInterval(timer));
  await eventually(() => received.length >= 20, 3000, 'the first broadcasts');
  const before = received.length;
  const cut = performance.now();
  const latency = replayLatency(socket, 'ticks');
  proxy.reset();
  await waitFor(socket, 'connect', 5000);
  assert.equal(socket.recovered, true, 'the session was recovered');
  t.diagnostic(
    `reset → recovered connect in ${(performance.now() - cut).toFixed(1)} ms ` +
      `(client reconnection delay 50–100 ms); transport open → first replayed broadcast ` +
      `${latency().toFixed(1)} ms; ${received.length - before} broadcasts replayed or received by then`,
  );
  await eventually(() => n >= 150, 5000, 'more broadcasts');
  clearInterval(timer);
  await eventually(() => received.length >= n, 3000, 'every broadcast');
  assert.deepEqual(
    received,
    Array.from({ length: n }, (_, i) => i + 1),
  );
  assert.equal(joins, 1, 'no joinChannel after the recovered reconnect');
  assert.deepEqual((await server.stats()).recoveries, { recovered: 1, expired: 0, gap: 0 });
});

test('a client away longer than the window is not recovered', async (t) => {
  const { proxy } = await setup(t, { window: 100 });
  const socket = recoveringClient(t, proxy.url);
  await waitFor(socket, 'connect');
  socket.emit('joinChannel', 'ticks:1');
  await waitFor(socket, 'joinedChannel');
  proxy.refuse(400);
  proxy.reset();
  await waitFor(socket, 'connect', 5000);
  assert.equal(socket.recovered, false);
});

test('a channel whose access check now says no is not restored: joinError instead', async (t) => {
  let allow = true;
  const { server, ticks, proxy } = await setup(t, { allowed: () => allow });
  const socket = recoveringClient(t, proxy.url);
  await waitFor(socket, 'connect');
  socket.emit('joinChannel', 'vip:1');
  await waitFor(socket, 'joinedChannel');
  socket.emit('joinChannel', 'ticks:1');
  await eventually(async () => (await server.stats()).categories.ticks.joins.ok === 1, 3000, 'the second join');
  allow = false;
  const refused = waitFor(socket, 'joinError', 5000);
  proxy.reset();
  await waitFor(socket, 'connect', 5000);
  assert.equal(socket.recovered, true);
  assert.deepEqual(await refused, { channel: 'vip:1', error: 'Access denied' });
  const got = waitFor(socket, 'ticks');
  ticks.broadcast('1', 'still here');
  assert.equal(await got, 'still here');
  await sleep(10);
});

test('a binary event carries the offset after its attachments, and the client recovers from it', async (t) => {
  const { server, ticks, proxy } = await setup(t);
  let handle;
  server.onConnection((socket) => (handle = socket));
  const socket = recoveringClient(t, proxy.url);
  const received = [];
  socket.on('ticks', (n) => received.push(n));
  await waitFor(socket, 'connect');
  socket.emit('joinChannel', 'ticks:1');
  await waitFor(socket, 'joinedChannel');
  ticks.broadcast('1', 1);
  await eventually(() => received.length === 1, 3000, 'the first broadcast');
  await eventually(() => handle, 3000, 'the handle');
  const file = new Promise((resolve) => socket.once('file', (...args) => resolve(args)));
  handle.emit('file', Buffer.from([1, 2, 3]));
  const [bytes, offset] = await file;
  assert.deepEqual([...bytes], [1, 2, 3], 'the attachment arrives intact');
  assert.equal(typeof offset, 'string', 'and the offset after it');
  assert.equal(socket._lastOffset, offset, 'the client took it as its position');
  proxy.refuse(150);
  proxy.reset();
  ticks.broadcast('1', 2);
  await waitFor(socket, 'connect', 5000);
  assert.equal(socket.recovered, true);
  await eventually(() => received.length === 2, 3000, 'the missed broadcast');
  assert.deepEqual(received, [1, 2]);
});

test('a burst bigger than the history bound keeps memory flat', async (t) => {
  const ticks = new ServerChannel('ticks');
  const maxHistoryBytes = 4 * 1024 * 1024;
  const { server } = await startServer(t, {
    standalone: true,
    channels: [ticks],
    connectionStateRecovery: { maxHistoryBytes },
  });
  const data = { text: 'x'.repeat(1000) };
  const burst = async (from) => {
    for (let n = from; n < from + 25_000; n++) ticks.broadcast(String(n % 50), data);
    await eventually(async () => (await server.stats()).categories.ticks?.broadcasts >= from + 25_000, 10000, 'the burst delivered');
  };
  await burst(0); // warm up: the history fills to its bound
  global.gc?.();
  const before = process.memoryUsage().rss;
  await burst(25_000);
  await burst(50_000);
  await burst(75_000);
  const grown = process.memoryUsage().rss - before;
  const { history } = await server.stats();
  t.diagnostic(
    `75,000 more broadcasts of 1 kB (75 MB): RSS +${(grown / 2 ** 20).toFixed(1)} MiB; history ` +
      `${history.messages} messages, ${(history.bytes / 2 ** 20).toFixed(2)} MiB`,
  );
  assert.ok(history.bytes <= maxHistoryBytes, `history within its bound (${history.bytes} bytes)`);
  assert.ok(history.messages > 1000 && history.messages < 5000, `it holds what fits (${history.messages})`);
  assert.ok(grown < 40 * 2 ** 20, `RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB for 75 MB broadcast`);
});
