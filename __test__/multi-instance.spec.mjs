// Horizontal scaling across real processes: three instances share channels through Redis
// (a real redis-server) or MongoDB (a real replica set at MONGODB_URI, else the project's
// emulator). The same suite runs for each backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createEmitter } from '../lib/index.js';
import { connect, join, collect, eventually, sleep, waitFor } from './support/helpers.mjs';
import { startRedis, startMongo, startInstance, hasRedis } from './support/cluster.mjs';

const backends = {
  redis: {
    skip: !hasRedis && 'redis-server is not installed (CI installs it from Debian)',
    async start(t) {
      const redis = await startRedis(t);
      return { options: { redis: { url: redis.url, channel: `test-${randomUUID()}` } } };
    },
  },
  mongodb: {
    skip: false,
    async start(t) {
      const mongo = await startMongo(t);
      const collection = `_modelenceSocketio_${randomUUID().slice(0, 8)}`;
      return { mongo, options: { mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection } } };
    },
  },
};

/** Three instances, a member on each, and a non-member. */
async function threeInstances(t, backend) {
  const { options, mongo } = await backend.start(t);
  const instances = await Promise.all([0, 1, 2].map(() => startInstance(t, options)));
  const members = await Promise.all(instances.map((i) => connect(t, i.url)));
  await Promise.all(members.map((m) => join(m, 'chat:room')));
  const outsider = await connect(t, instances[1].url);
  await join(outsider, 'chat:other');
  return { options, mongo, instances, members, outsider };
}

for (const [name, backend] of Object.entries(backends)) {
  test(`${name}: a broadcast from any instance reaches every member exactly once`, { skip: backend.skip }, async (t) => {
    const { instances, members, outsider } = await threeInstances(t, backend);
    const inboxes = members.map((m) => collect(m, 'chat'));
    const stray = collect(outsider, 'chat');
    instances.forEach((instance, i) => instance.broadcast('room', { from: i }));
    await eventually(() => inboxes.every((inbox) => inbox.length >= 3), 10000, 'three messages everywhere');
    await sleep(300);
    for (const inbox of inboxes) {
      assert.deepEqual(inbox.map((m) => m.from).sort(), [0, 1, 2]);
    }
    assert.deepEqual(stray, []);
  });

  test(`${name}: the emitter reaches members on every instance`, { skip: backend.skip }, async (t) => {
    const { options, members } = await threeInstances(t, backend);
    const emitter = await createEmitter(options);
    t.after(() => emitter.close());
    const inboxes = members.map((m) => collect(m, 'chat'));
    emitter.broadcast('chat', 'room', { from: 'cron' });
    await eventually(() => inboxes.every((inbox) => inbox.length === 1), 10000, 'the emitted message everywhere');
    await emitter.close();
    for (const inbox of inboxes) assert.deepEqual(inbox, [{ from: 'cron' }]);
  });

  test(`${name}: a leave takes effect across instances`, { skip: backend.skip }, async (t) => {
    const { instances, members } = await threeInstances(t, backend);
    const left = waitFor(members[2], 'leftChannel');
    members[2].emit('leaveChannel', 'chat:room');
    await left;
    const inboxes = members.map((m) => collect(m, 'chat'));
    instances[0].broadcast('room', 'after leave');
    await eventually(() => inboxes[0].length === 1 && inboxes[1].length === 1, 10000, 'delivery to the others');
    await sleep(300);
    assert.deepEqual(inboxes[2], []);
  });

  test(`${name}: an instance killed with SIGKILL does not disturb the others`, { skip: backend.skip }, async (t) => {
    const { instances, members } = await threeInstances(t, backend);
    instances[2].kill();
    await sleep(200);
    const inboxes = members.slice(0, 2).map((m) => collect(m, 'chat'));
    instances[0].broadcast('room', 'still alive');
    instances[1].broadcast('room', 'me too');
    await eventually(() => inboxes.every((inbox) => inbox.length === 2), 10000, 'delivery between survivors');
    for (const inbox of inboxes) assert.deepEqual(inbox.sort(), ['me too', 'still alive']);
  });
}

/** Three instances with `options`, and ann, bob and cat in chat:room on instances 0, 1, 2. */
async function presenceCluster(t, backend, options) {
  const { options: backendOptions } = await backend.start(t);
  const instances = await Promise.all([0, 1, 2].map(() => startInstance(t, backendOptions, options)));
  const names = ['ann', 'bob', 'cat'];
  const sockets = await Promise.all(names.map((name, i) => connect(t, instances[i].url, { auth: { token: name } })));
  await Promise.all(sockets.map((s) => join(s, 'chat:room')));
  return { instances, sockets };
}

const byName = (members) => [...members].sort((a, b) => a.user.name.localeCompare(b.user.name));

for (const [name, backend] of Object.entries(backends)) {
  test(`${name}: members and count span every instance`, { skip: backend.skip }, async (t) => {
    const options = { presenceTimeoutMs: 3000, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 3000 };
    const { instances, sockets } = await presenceCluster(t, backend, options);
    const [ann, bob, cat] = sockets;
    const dan = await connect(t, instances[1].url, { auth: { token: 'dan' } });
    await join(dan, 'chat:other');
    // Instances learn their peers from each other's hello/alive messages right after start-up.
    await eventually(async () => (await instances[0].members('room')).members.length === 3, 10000, 'three members seen from instance 0');
    for (const instance of instances) {
      const { members } = await instance.members('room');
      assert.deepEqual(byName(members), [
        { socketId: ann.id, user: { name: 'ann' } },
        { socketId: bob.id, user: { name: 'bob' } },
        { socketId: cat.id, user: { name: 'cat' } },
      ]);
    }
    assert.deepEqual((await instances[2].members('other')).members, [{ socketId: dan.id, user: { name: 'dan' } }]);

    cat.disconnect();
    await eventually(async () => (await instances[0].members('room')).members.length === 2, 10000, 'cat gone from the list');

    // A closing instance says so: the others stop waiting for it at once.
    await instances[1].close();
    const after = await instances[0].members('room');
    assert.deepEqual(after.members, [{ socketId: ann.id, user: { name: 'ann' } }]);
    assert.ok(after.ms < options.presenceTimeoutMs, `the query took ${after.ms} ms: it waited for the closed instance`);
  });

  test(`${name}: a crashed instance delays one members query, not every one`, { skip: backend.skip }, async (t) => {
    // A long heartbeat timeout keeps the dead instance "alive" in the registry, so the first
    // query must find out by waiting.
    const options = { presenceTimeoutMs: 1500, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 60000 };
    const { instances, sockets } = await presenceCluster(t, backend, options);
    await eventually(async () => (await instances[0].members('room')).members.length === 3, 10000, 'three members seen from instance 0');
    instances[2].kill();
    const first = await instances[0].members('room');
    assert.deepEqual(byName(first.members).map((m) => m.socketId), [sockets[0].id, sockets[1].id]);
    assert.ok(first.ms >= options.presenceTimeoutMs - 100, `the first query took only ${first.ms} ms`);
    await eventually(() => instances[0].stderr().includes('did not answer a members query in time'), 3000, 'the warning');
    const second = await instances[0].members('room');
    assert.equal(second.members.length, 2);
    assert.ok(second.ms < options.presenceTimeoutMs - 500, `the second query took ${second.ms} ms: the dead instance was not dropped`);
  });
}

test('redis: cross-instance latency (p50/p99) is recorded', { skip: backends.redis.skip }, async (t) => {
  const { instances, members } = await threeInstances(t, backends.redis);
  const latencies = [];
  members[2].on('chat', (m) => latencies.push(Date.now() - m.sentAt));
  for (let i = 0; i < 200; i++) {
    instances[0].broadcast('room', { sentAt: Date.now(), i });
    await sleep(2);
  }
  await eventually(() => latencies.length === 200, 10000, '200 messages');
  latencies.sort((a, b) => a - b);
  const p50 = latencies[100];
  const p99 = latencies[197];
  t.diagnostic(`redis cross-instance latency: p50 ${p50} ms, p99 ${p99} ms (200 messages, includes IPC to the instance)`);
  assert.ok(p99 < 1000, `p99 ${p99} ms`);
});
