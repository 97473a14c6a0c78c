// Connection state recovery across instances (real processes, a real redis-server, and
// MongoDB: a real replica set at MONGODB_URI, else the project's emulator). An unchanged
// socket.io-client 4.8 cut off from one instance comes back, through a proxy, on another,
// and gets its channel and every broadcast it missed, in the cluster's order, once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { io } from 'socket.io-client';
import { createEmitter } from '../lib/index.js';
import { connect, join, eventually, waitFor } from './support/helpers.mjs';
import { startRedis, startMongo, startInstance, hasRedis } from './support/cluster.mjs';
import { resetProxy, replayLatency } from './support/reset-proxy.mjs';

const backends = {
  redis: {
    skip: !hasRedis && 'redis-server is not installed (CI installs it from Debian)',
    async start(t) {
      const redis = await startRedis(t);
      return { redis: { url: redis.url, channel: `test-${randomUUID()}` } };
    },
  },
  mongodb: {
    skip: false,
    async start(t) {
      const mongo = await startMongo(t);
      const collection = `_modelenceSocketio_${randomUUID().slice(0, 8)}`;
      return { mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection } };
    },
  },
};

const RECOVERY = { connectionStateRecovery: { maxDisconnectionDuration: 10000 } };
const portOf = (url) => Number(new URL(url).port);

/** Two instances with recovery on, a proxy in front of the first, a client through it. */
async function twoInstances(t, backend, recovery = RECOVERY) {
  const options = await backend.start(t);
  const [a, b] = await Promise.all([startInstance(t, options, recovery), startInstance(t, options, recovery)]);
  const proxy = await resetProxy(t, portOf(a.url));
  const client = io(proxy.url, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 });
  t.after(() => client.close());
  const received = [];
  client.on('chat', (data, offset) => received.push({ data, offset }));
  let joins = 0;
  client.on('connect', () => {
    if (!client.recovered) {
      joins += 1;
      client.emit('joinChannel', 'chat:1');
    }
  });
  await waitFor(client, 'joinedChannel', 10000);
  return { options, a, b, proxy, client, received, joins: () => joins };
}

/** Broadcasts 1, 2, 3… to chat:1 every 10 ms, alternating between `instances`. */
function pace(t, instances) {
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    instances[n % instances.length].broadcast('1', n);
  }, 10);
  t.after(() => clearInterval(timer));
  return { sent: () => n, stop: () => clearInterval(timer) };
}

for (const [name, backend] of Object.entries(backends)) {
  test(`${name}: a client cut off from one instance recovers on another, every broadcast in the cluster's order, once`, { skip: backend.skip, timeout: 60000 }, async (t) => {
    const { a, b, proxy, client, received, joins } = await twoInstances(t, backend);
    // A member that stays connected on the other instance sees the cluster's order.
    const observer = await connect(t, b.url);
    await join(observer, 'chat:1');
    const observed = [];
    observer.on('chat', (data, offset) => observed.push({ data, offset }));
    const paced = pace(t, [a, b]);
    await eventually(() => received.length >= 30, 10000, 'the first broadcasts');
    proxy.retarget(portOf(b.url));
    const cut = performance.now();
    const latency = replayLatency(client, 'chat');
    proxy.reset();
    await waitFor(client, 'connect', 10000);
    assert.equal(client.recovered, true, 'recovered on the other instance');
    t.diagnostic(
      `${name}: reset → recovered on the other instance in ${(performance.now() - cut).toFixed(1)} ms; ` +
        `transport open → first replayed broadcast ${latency().toFixed(1)} ms`,
    );
    await eventually(() => paced.sent() >= 150, 10000, 'more broadcasts');
    paced.stop();
    await eventually(() => observed.length >= paced.sent(), 10000, 'the observer got every broadcast');
    await eventually(() => received.length >= observed.length, 10000, 'the recovered client caught up');
    assert.deepEqual(
      received.map((r) => r.data),
      observed.map((o) => o.data),
      'the same broadcasts in the same order, none twice',
    );
    assert.deepEqual(
      [...received.map((r) => r.data)].sort((x, y) => x - y),
      Array.from({ length: paced.sent() }, (_, i) => i + 1),
      'every broadcast, once',
    );
    assert.deepEqual(received.map((r) => r.offset), observed.map((o) => o.offset), 'one offset per broadcast cluster-wide');
    assert.equal(joins(), 1, 'no joinChannel after the recovered reconnect');
  });

  test(`${name}: a session left by an instance that shut down (a rolling deploy) is recovered on another`, { skip: backend.skip, timeout: 60000 }, async (t) => {
    const { a, b, proxy, client, received } = await twoInstances(t, backend);
    b.broadcast('1', 'before');
    await eventually(() => received.length === 1, 10000, 'the first broadcast');
    proxy.retarget(portOf(b.url));
    const gone = waitFor(client, 'disconnect', 10000);
    await a.close();
    await gone;
    b.broadcast('1', 'while away');
    await waitFor(client, 'connect', 10000);
    assert.equal(client.recovered, true);
    b.broadcast('1', 'after');
    await eventually(() => received.length === 3, 10000, 'every broadcast');
    assert.deepEqual(received.map((r) => r.data), ['before', 'while away', 'after']);
  });

  test(`${name}: an emitter's broadcasts (a worker without a server) are recovered too`, { skip: backend.skip, timeout: 60000 }, async (t) => {
    const { options, b, proxy, client, received } = await twoInstances(t, backend);
    const emitter = await createEmitter(options);
    t.after(() => emitter.close());
    emitter.broadcast('chat', '1', 'before');
    await eventually(() => received.length === 1, 10000, 'the first broadcast');
    proxy.retarget(portOf(b.url));
    proxy.refuse(300);
    proxy.reset();
    emitter.broadcast('chat', '1', 'while away');
    await waitFor(client, 'connect', 10000);
    assert.equal(client.recovered, true);
    await eventually(() => received.length === 2, 10000, 'the missed broadcast');
    assert.deepEqual(received.map((r) => r.data), ['before', 'while away']);
    assert.ok(received.every((r) => typeof r.offset === 'string'), 'each with its offset');
  });

  test(`${name}: a client away longer than the window is not recovered on the other instance`, { skip: backend.skip, timeout: 60000 }, async (t) => {
    const { b, proxy, client, received } = await twoInstances(t, backend, {
      connectionStateRecovery: { maxDisconnectionDuration: 300 },
    });
    b.broadcast('1', 'first');
    await eventually(() => received.length === 1, 10000, 'the first broadcast');
    proxy.retarget(portOf(b.url));
    proxy.refuse(800);
    proxy.reset();
    await waitFor(client, 'connect', 10000);
    assert.equal(client.recovered, false);
  });

  test(`${name}: a session is recovered once: the same private id again connects afresh`, { skip: backend.skip, timeout: 60000 }, async (t) => {
    const { a, b, proxy, client, received } = await twoInstances(t, backend);
    a.broadcast('1', 'first');
    await eventually(() => received.length === 1, 10000, 'the first broadcast');
    const { _pid: pid } = client;
    assert.equal(typeof pid, 'string', 'the CONNECT ack carried a private id');
    proxy.retarget(portOf(b.url));
    proxy.reset();
    await waitFor(client, 'connect', 10000);
    assert.equal(client.recovered, true);
    // The same recovery request again, on the first instance: the session is spent.
    const copy = io(a.url, { transports: ['websocket'], reconnection: false, auth: { pid, offset: received[0].offset } });
    t.after(() => copy.close());
    await waitFor(copy, 'connect', 10000);
    assert.equal(copy.recovered, false);
    assert.notEqual(copy.id, client.id);
    a.broadcast('1', 'second');
    await eventually(() => received.length === 2, 10000, 'the recovered client still receives');
  });
}

test("redis: when Redis goes away, the broadcasting instance's own members still get every broadcast, once", { skip: backends.redis.skip, timeout: 60000 }, async (t) => {
  const redis = await startRedis(t);
  const options = { redis: { url: redis.url, channel: `test-${randomUUID()}` } };
  const [a] = await Promise.all([startInstance(t, options, RECOVERY), startInstance(t, options, RECOVERY)]);
  // A member of the broadcasting instance: its broadcasts reach it through Redis (sequenced)
  // while Redis is there, and from the instance itself once it is not.
  const member = await connect(t, a.url);
  await join(member, 'chat:1');
  const received = [];
  member.on('chat', (n) => received.push(n));
  const paced = pace(t, [a]);
  await eventually(() => received.length >= 30, 10000, 'the first broadcasts');
  redis.stop();
  await eventually(() => paced.sent() >= 150, 10000, 'more broadcasts');
  paced.stop();
  await eventually(() => received.length >= paced.sent(), 10000, `every broadcast (${received.length} of ${paced.sent()})`);
  assert.deepEqual(
    [...received].sort((x, y) => x - y),
    Array.from({ length: paced.sent() }, (_, i) => i + 1),
    'every broadcast, once',
  );
});
