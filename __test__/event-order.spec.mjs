// One client's events reach their handlers in the order sent, on both engines, and what a
// long-polling client (which cannot be paused) may keep waiting is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, waitFor, sleep, eventually } from './support/helpers.mjs';

for (const transports of [['websocket'], ['polling']]) {
  test(`one client's events reach their handlers in the order sent (${transports[0]}), slow handlers notwithstanding`, async (t) => {
    const { url, server } = await startServer(t, {});
    const seen = [];
    // Handlers that settle in a shuffled order: only the calls must keep the client's order.
    server.onEvent('first', async (socket, n) => {
      seen.push(n);
      await sleep(n % 7);
      return n;
    });
    server.onEvent('second', (socket, n) => {
      seen.push(n);
      return n;
    });
    const client = await connect(t, url, { transports });
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, n) => client.emitWithAck(n % 3 === 0 ? 'second' : 'first', n)),
    );
    const sent = Array.from({ length: 200 }, (_, n) => n);
    assert.deepEqual(answers, sent, 'every event is answered');
    assert.deepEqual(seen, sent, 'handlers ran in the order the client sent');
  });
}

test('a long-polling client may keep maxHttpBufferSize bytes of events in line behind the in-flight cap, not more', async (t) => {
  const { url, server } = await startServer(t, { maxInflightEventsPerSocket: 1, maxHttpBufferSize: 20_000 });
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const seen = [];
  server.onEvent('work', async (socket, n) => {
    seen.push(n);
    await gate;
    return n;
  });
  const kb = 'x'.repeat(1000);
  const patient = await connect(t, url, { transports: ['polling'] });
  // 1 in flight and ~10 kB in line: within bounds, all answered in order once released.
  const answers = Array.from({ length: 11 }, (_, n) => patient.emitWithAck('work', n, kb));
  await eventually(() => seen.length === 1, 3000, 'the first event to reach its handler');
  await sleep(100);
  assert.deepEqual(seen, [0], 'the rest wait in line for the one slot');
  release();
  assert.deepEqual(await Promise.all(answers), Array.from({ length: 11 }, (_, n) => n));
  assert.ok(patient.connected, 'a client within the bounds stays connected');

  // Now the handler never settles: ~30 kB in line passes 20 kB, and the client is cut off.
  server.onEvent('stuck', () => new Promise(() => {}));
  const greedy = await connect(t, url, { transports: ['polling'] });
  const gone = waitFor(greedy, 'disconnect');
  for (let n = 0; n < 30; n += 1) greedy.emit('stuck', kb);
  assert.equal(await gone, 'io server disconnect');
  assert.ok(patient.connected, 'other clients are unaffected');
});

test("more hook calls than one JS call carries arrive whole and in each client's order", async (t) => {
  const { url, server } = await startServer(t, {});
  const seen = new Map();
  server.onEvent('n', (socket, n) => {
    const mine = seen.get(socket.id) ?? [];
    mine.push(n);
    seen.set(socket.id, mine);
    return n;
  });
  const clients = await Promise.all(Array.from({ length: 40 }, () => connect(t, url, {})));
  const answers = clients.map((client) => Array.from({ length: 16 }, (_, n) => client.emitWithAck('n', n)));
  // The clients write what they buffered on the next turns; then Node's thread stops while
  // the native side reads the 640 events, so they wait in the queue together: more than the
  // 256 calls one JS call carries.
  for (let turn = 0; turn < 3; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 400);
  const sent = Array.from({ length: 16 }, (_, n) => n);
  for (const pending of answers) assert.deepEqual(await Promise.all(pending), sent, 'every event answered');
  assert.equal(seen.size, 40);
  for (const [, got] of seen) assert.deepEqual(got, sent, "each client's events in the order sent");
});
