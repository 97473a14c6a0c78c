// joinChannel / leaveChannel per PROTOCOL.md, including every way a join can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerChannel } from '../lib/index.js';
import { startServer, connect, join, waitFor, fires, sleep } from './support/helpers.mjs';

function channels() {
  return [
    new ServerChannel('chat'),
    new ServerChannel('private', ({ channelId }) => channelId === 'yes'),
    new ServerChannel('throws', () => {
      throw new Error('database down: secret internals');
    }),
    new ServerChannel('rejects', async () => {
      throw new Error('nope');
    }),
    new ServerChannel('hangs', () => new Promise(() => {})),
    new ServerChannel('weird', () => 'yes'),
  ];
}

async function setup(t, extra = {}) {
  const list = channels();
  const { url } = await startServer(t, { channels: list, accessCheckTimeoutMs: 300, ...extra });
  const socket = await connect(t, url);
  return { socket, chat: list[0], list };
}

test('join replies joinedChannel; leave replies leftChannel and stops delivery', async (t) => {
  const { socket, chat } = await setup(t);
  assert.deepEqual(await join(socket, 'chat:room123'), { joined: 'chat:room123' });
  const first = waitFor(socket, 'chat');
  chat.broadcast('room123', 'one');
  assert.equal(await first, 'one');

  const left = waitFor(socket, 'leftChannel');
  socket.emit('leaveChannel', 'chat:room123');
  assert.equal(await left, 'chat:room123');
  chat.broadcast('room123', 'two');
  assert.equal(await fires(socket, 'chat', 300), false);
});

test('ids may contain colons', async (t) => {
  const { socket, chat } = await setup(t);
  assert.deepEqual(await join(socket, 'chat:a:b:c'), { joined: 'chat:a:b:c' });
  const got = waitFor(socket, 'chat');
  chat.broadcast('a:b:c', 1);
  assert.equal(await got, 1);
});

const refusals = [
  ['an unregistered category', 'nosuch:1', 'Access denied'],
  ['a check that resolves false', 'private:no', 'Access denied'],
  ['a check that throws (internals not leaked)', 'throws:1', 'Access check failed'],
  ['a check that rejects', 'rejects:1', 'Access check failed'],
  ['a check that returns a non-boolean', 'weird:1', 'Access check failed'],
  ['a check that never settles', 'hangs:1', 'Access check timed out'],
  ['an empty name', '', 'Invalid channel name: the name is empty'],
  ['a name without a colon', 'chat', "Invalid channel name: expected 'category:id'"],
  ['an empty category', ':room', 'Invalid channel name: the category is empty'],
  ['an empty id', 'chat:', 'Invalid channel name: the id is empty'],
  // Replies echo the client's text only when it is a string within the name limit.
  ['a name over 256 bytes', `chat:${'x'.repeat(260)}`, 'Invalid channel name: the name is longer than 256 bytes', null],
  ['a number', 42, 'Channel name must be a string', null],
  ['an object', { category: 'chat' }, 'Channel name must be a string', null],
  ['null', null, 'Channel name must be a string'],
];

for (const [what, name, error, echoed = name] of refusals) {
  test(`joinError for ${what}; the connection survives`, async (t) => {
    const { socket } = await setup(t);
    assert.deepEqual(await join(socket, name), { error: { channel: echoed, error } });
    assert.ok(socket.connected);
    assert.deepEqual(await join(socket, 'chat:after'), { joined: 'chat:after' });
  });
}

test('an allowed check joins', async (t) => {
  const { socket } = await setup(t);
  assert.deepEqual(await join(socket, 'private:yes'), { joined: 'private:yes' });
});

test('a join sent right after connect is never missed', async (t) => {
  const { url } = await startServer(t, { channels: [new ServerChannel('chat')] });
  const sockets = await Promise.all(Array.from({ length: 50 }, () => connect(t, url)));
  const replies = await Promise.all(sockets.map((s, i) => join(s, `chat:${i}`)));
  assert.deepEqual(
    replies,
    sockets.map((_, i) => ({ joined: `chat:${i}` })),
  );
});

test('a join with no argument gets joinError', async (t) => {
  const { socket } = await setup(t);
  const reply = waitFor(socket, 'joinError');
  socket.emit('joinChannel');
  assert.deepEqual(await reply, { channel: null, error: 'Channel name must be a string' });
});

test('the per-socket channel cap refuses further joins with a reason', async (t) => {
  const { socket } = await setup(t, { maxChannelsPerSocket: 3 });
  for (const id of ['1', '2', '3']) assert.deepEqual(await join(socket, `chat:${id}`), { joined: `chat:${id}` });
  assert.deepEqual(await join(socket, 'chat:4'), {
    error: { channel: 'chat:4', error: 'Too many channels joined (limit 3)' },
  });
  // Re-joining a channel it is already in is fine.
  assert.deepEqual(await join(socket, 'chat:2'), { joined: 'chat:2' });
});

test('too many joins waiting on checks are refused; the socket stays usable', async (t) => {
  const { socket } = await setup(t, { maxPendingJoinsPerSocket: 2, accessCheckTimeoutMs: 500 });
  const errors = [];
  socket.on('joinError', (e) => errors.push(e));
  for (let i = 0; i < 5; i++) socket.emit('joinChannel', `hangs:${i}`);
  await sleep(900);
  const reasons = errors.map((e) => e.error).sort();
  assert.deepEqual(reasons, [
    'Access check timed out',
    'Access check timed out',
    'Too many joins in progress (limit 2)',
    'Too many joins in progress (limit 2)',
    'Too many joins in progress (limit 2)',
  ]);
  assert.deepEqual(await join(socket, 'chat:ok'), { joined: 'chat:ok' });
});

test('a leave with a non-string name is ignored without harm', async (t) => {
  const { socket } = await setup(t);
  socket.emit('leaveChannel', { bad: true });
  assert.equal(await fires(socket, 'leftChannel', 200), false);
  assert.deepEqual(await join(socket, 'chat:x'), { joined: 'chat:x' });
});

test('later Modelence clients join and leave with { channelName, authToken }', async (t) => {
  const { socket, chat } = await setup(t);
  const joined = waitFor(socket, 'joinedChannel');
  socket.emit('joinChannel', { channelName: 'chat:obj', authToken: 'ignored' });
  assert.equal(await joined, 'chat:obj');
  const got = waitFor(socket, 'chat');
  chat.broadcast('obj', 1);
  assert.equal(await got, 1);
  const left = waitFor(socket, 'leftChannel');
  socket.emit('leaveChannel', { channelName: 'chat:obj' });
  assert.equal(await left, 'chat:obj');
});
