// Presence: members and counts of a channel, following joins, leaves and disconnects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerChannel } from '../lib/index.js';
import { randomUUID } from 'node:crypto';
import { startServer, connect, join, waitFor, eventually } from './support/helpers.mjs';
import { startRedis, hasRedis } from './support/cluster.mjs';

test('members and count follow joins, leaves and disconnects, on every server', async (t) => {
  const room = new ServerChannel('room');
  const authenticate = (token) => ({ user: token ? { name: token } : null, session: null, roles: [] });
  const a = await startServer(t, { channels: [room], authenticate });
  const b = await startServer(t, { channels: [room], authenticate, standalone: true });
  assert.equal(await room.count('1'), 0);
  assert.deepEqual(await room.members('1'), []);

  const ann = await connect(t, a.url, { auth: { token: 'ann' } });
  const bob = await connect(t, b.url, { auth: { token: 'bob' } });
  const anon = await connect(t, a.url);
  await join(ann, 'room:1');
  await join(bob, 'room:1');
  await join(anon, 'room:2');
  assert.equal(await room.count('1'), 2);
  const members = (await room.members('1')).sort((x, y) => x.user.name.localeCompare(y.user.name));
  assert.deepEqual(members, [
    { socketId: ann.id, user: { name: 'ann' } },
    { socketId: bob.id, user: { name: 'bob' } },
  ]);
  assert.deepEqual(await room.members('2'), [{ socketId: anon.id, user: null }]);

  const left = waitFor(bob, 'leftChannel');
  bob.emit('leaveChannel', 'room:1');
  await left;
  assert.equal(await room.count('1'), 1);
  ann.disconnect();
  await eventually(async () => (await room.count('1')) === 0, 3000, 'the count to drop to 0');
  await assert.rejects(room.count(5), { name: 'TypeError', message: /id must be a string/ });
});

test('two servers in one process sharing an adapter list each member once', { skip: !hasRedis && 'redis-server is not installed' }, async (t) => {
  const { url } = await startRedis(t);
  const room = new ServerChannel('room');
  const authenticate = (token) => ({ user: { name: token }, session: null, roles: [] });
  const redis = { url, channel: `presence-${randomUUID()}` };
  const options = { channels: [room], authenticate, redis, heartbeatIntervalMs: 200 };
  const a = await startServer(t, options);
  const b = await startServer(t, { ...options, standalone: true });
  const ann = await connect(t, a.url, { auth: { token: 'ann' } });
  const bob = await connect(t, b.url, { auth: { token: 'bob' } });
  await join(ann, 'room:1');
  await join(bob, 'room:1');
  // Each server also reaches the other through Redis, so each member is found twice.
  await eventually(async () => (await a.server.membersOf('room', '1')).length === 2, 5000, 'a to see bob through Redis');
  const members = (await room.members('1')).sort((x, y) => x.user.name.localeCompare(y.user.name));
  assert.deepEqual(members, [
    { socketId: ann.id, user: { name: 'ann' } },
    { socketId: bob.id, user: { name: 'bob' } },
  ]);
  assert.equal(await room.count('1'), 2);
  await Promise.all([a.close(), b.close()]); // before Redis stops, so no reconnect warnings
});
