// Broadcast: exact JSON to exactly the members of one channel, once each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { startServer, connect, join, waitFor, fires, collect, eventually } from './support/helpers.mjs';

test('delivers the exact JSON (unicode, nesting, numbers) only to that channel id', async (t) => {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { channels: [chat] });
  const member = await connect(t, url);
  const otherRoom = await connect(t, url);
  const notJoined = await connect(t, url);
  await join(member, 'chat:r1');
  await join(otherRoom, 'chat:r2');

  const payload = {
    text: 'héllo 👋 \u2028 "quoted" \\ back',
    nested: { deep: [1, [2, [3, { x: null }]]], empty: {}, list: [] },
    numbers: [0, -1, 1.5, 1e21, Number.MAX_SAFE_INTEGER, -0.000001],
    flags: [true, false],
  };
  const got = waitFor(member, 'chat');
  chat.broadcast('r1', payload);
  assert.deepEqual(await got, JSON.parse(JSON.stringify(payload)));
  assert.equal(await fires(otherRoom, 'chat', 200), false);
  assert.equal(await fires(notJoined, 'chat', 50), false);
});

test('primitives, arrays and undefined arrive as JSON values', async (t) => {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { channels: [chat] });
  const member = await connect(t, url);
  await join(member, 'chat:r');
  const received = collect(member, 'chat');
  for (const value of ['s', 7, true, null, [1, 'a'], undefined]) chat.broadcast('r', value);
  await eventually(() => received.length === 6, 3000, 'six messages');
  assert.deepEqual(received, ['s', 7, true, null, [1, 'a'], null]);
});

/**
 * Joins `members` clients to chat:all, broadcasts `count` messages in one tick, and asserts
 * every member got all of them, in order, once.
 */
async function assertBurstArrivesInOrder(t, members, count) {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { channels: [chat] });
  const clients = await Promise.all(Array.from({ length: members }, () => connect(t, url)));
  await Promise.all(clients.map((c) => join(c, 'chat:all')));
  const inboxes = clients.map((c) => collect(c, 'chat'));
  for (let i = 0; i < count; i++) chat.broadcast('all', { seq: i });
  const expected = Array.from({ length: count }, (_, i) => ({ seq: i }));
  await eventually(() => inboxes.every((inbox) => inbox.length >= count), 10000, `every client to get ${count} messages`);
  await new Promise((r) => setTimeout(r, 100));
  for (const inbox of inboxes) assert.deepEqual(inbox, expected);
}

test('fan-out to 250 clients delivers each message exactly once, in order', async (t) => {
  await assertBurstArrivesInOrder(t, 250, 20);
});

test('a burst written with the worker handed over (batches of 32+) arrives complete and in order', async (t) => {
  await assertBurstArrivesInOrder(t, 50, 300);
});

test('a broadcast reaches members on every server that registered the channel', async (t) => {
  const chat = new ServerChannel('chat');
  const a = await startServer(t, { channels: [chat] });
  const b = await startServer(t, { channels: [chat], standalone: true });
  const onA = await connect(t, a.url);
  const onB = await connect(t, b.url);
  await join(onA, 'chat:x');
  await join(onB, 'chat:x');
  const gotA = waitFor(onA, 'chat');
  const gotB = waitFor(onB, 'chat');
  chat.broadcast('x', 'both');
  assert.deepEqual(await Promise.all([gotA, gotB]), ['both', 'both']);
});

test('bad broadcast arguments throw TypeErrors that say what was wrong', async (t) => {
  const chat = new ServerChannel('chat');
  await startServer(t, { channels: [chat] });
  assert.throws(() => chat.broadcast(42, {}), {
    name: 'TypeError',
    code: 'MNW_INVALID_ARGUMENT',
    message: 'ServerChannel("chat").broadcast: id must be a string, got number 42',
  });
  const cyclic = {};
  cyclic.self = cyclic;
  assert.throws(() => chat.broadcast('r', cyclic), {
    name: 'TypeError',
    code: 'MNW_UNSERIALIZABLE_DATA',
    message: /^ServerChannel\("chat"\)\.broadcast: data cannot be serialized to JSON \(Converting circular structure/,
  });
  assert.throws(() => chat.broadcast('r', { n: 10n }), {
    name: 'TypeError',
    code: 'MNW_UNSERIALIZABLE_DATA',
    message: /BigInt/,
  });
  assert.throws(() => chat.broadcast('', 1), { name: 'TypeError', message: /the id is empty/ });
});

test('broadcasting on a channel no running server registered throws an Error', async (t) => {
  const lonely = new ServerChannel('lonely');
  assert.throws(() => lonely.broadcast('1', {}), {
    name: 'Error',
    code: 'MNW_CHANNEL_NOT_REGISTERED',
    message:
      'ServerChannel("lonely").broadcast: no running websocket server registered this channel; pass it to startWebsocketServer({ channels }) or a Module before broadcasting',
  });
  const server = await startWebsocketServer({ host: '127.0.0.1', port: 0, channels: [lonely] });
  lonely.broadcast('1', {});
  await server.close();
  assert.throws(() => lonely.broadcast('1', {}), { code: 'MNW_CHANNEL_NOT_REGISTERED' });
});

test('server.broadcast checks the category and refuses after close', async (t) => {
  const chat = new ServerChannel('chat');
  const { server } = await startServer(t, { channels: [chat], standalone: true });
  assert.throws(() => server.broadcast('other', 'r', 1), {
    code: 'MNW_CHANNEL_NOT_REGISTERED',
    message: /"other" is not registered with this server/,
  });
  await server.close();
  assert.throws(() => server.broadcast('chat', 'r', 1), { code: 'MNW_SERVER_CLOSED' });
});
