// Bidirectional messaging: client events with acks, socket handles, server-side emits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ServerChannel, ackArgs } from '../lib/index.js';
import { startServer, connect, join, waitFor, fires, sleep, eventually } from './support/helpers.mjs';

test('an event without ack reaches its handler with the socket handle and arguments', async (t) => {
  const { url, server } = await startServer(t, {
    authenticate: (token) => ({ user: { name: token }, session: null, roles: [] }),
  });
  const calls = [];
  server.onEvent('typing', (socket, room, state) => {
    calls.push({ id: socket.id, user: socket.auth.user, room, state });
  });
  const client = await connect(t, url, { auth: { token: 'ann' } });
  client.emit('typing', 'room1', { on: true });
  await eventually(() => calls.length === 1, 3000, 'the typing handler');
  assert.deepEqual(calls, [{ id: client.id, user: { name: 'ann' }, room: 'room1', state: { on: true } }]);
});

test('the handler result (sync or async) is the acknowledgement', async (t) => {
  const { url, server } = await startServer(t, {});
  server.onEvent('add', (socket, a, b) => a + b);
  server.onEvent('slowEcho', async (socket, value) => {
    await sleep(100);
    return { echoed: value };
  });
  const client = await connect(t, url);
  assert.equal(await client.emitWithAck('add', 2, 3), 5);
  assert.deepEqual(await client.emitWithAck('slowEcho', 'é'), { echoed: 'é' });
});

test('a throwing or rejecting handler sends no ack, reaches onError, and harms nothing', async (t) => {
  const { url, server } = await startServer(t, {});
  const errors = [];
  server.onError((error, { event, socket }) => errors.push({ message: error.message, event, id: socket.id }));
  server.onEvent('boom', () => {
    throw new Error('sync boom');
  });
  server.onEvent('reject', async () => {
    throw new Error('async boom');
  });
  server.onEvent('ok', () => 'still here');
  const client = await connect(t, url);
  await assert.rejects(client.timeout(300).emitWithAck('boom'), /operation has timed out/);
  await assert.rejects(client.timeout(300).emitWithAck('reject'), /operation has timed out/);
  assert.deepEqual(errors, [
    { message: 'sync boom', event: 'boom', id: client.id },
    { message: 'async boom', event: 'reject', id: client.id },
  ]);
  assert.equal(await client.emitWithAck('ok'), 'still here');
});

test('events without a handler are ignored; protocol events cannot be taken over', async (t) => {
  const { url, server } = await startServer(t, { channels: [new ServerChannel('chat')] });
  assert.throws(() => server.onEvent('joinChannel', () => {}), {
    name: 'TypeError',
    message: 'onEvent: "joinChannel" belongs to the channel protocol and is handled natively; pick another event name',
  });
  assert.throws(() => server.onEvent('disconnect', () => {}), { message: /reserved socket.io event name/ });
  const client = await connect(t, url);
  client.emit('nobodyListens', 1);
  await assert.rejects(client.timeout(200).emitWithAck('nobodyListens'), /operation has timed out/);
  assert.deepEqual(await join(client, 'chat:1'), { joined: 'chat:1' });
});

test('binary arguments round-trip as Buffers, nested and at top level', async (t) => {
  const { url, server } = await startServer(t, {});
  let received;
  server.onEvent('upload', (socket, file, meta) => {
    received = { file, meta };
    return { size: file.length, copy: Buffer.concat([file, meta.extra]) };
  });
  const client = await connect(t, url);
  const reply = await client.emitWithAck('upload', Buffer.from([1, 2, 3]), { name: 'f', extra: Buffer.from([9]) });
  assert.ok(Buffer.isBuffer(received.file));
  assert.deepEqual([...received.file], [1, 2, 3]);
  assert.deepEqual([...received.meta.extra], [9]);
  assert.equal(reply.size, 3);
  assert.deepEqual([...Buffer.from(reply.copy)], [1, 2, 3, 9]);
});

test('socket.emit and emitWithAck reach that client only', async (t) => {
  const { url, server } = await startServer(t, {});
  const sockets = [];
  server.onConnection((socket) => sockets.push(socket));
  const a = await connect(t, url);
  const b = await connect(t, url);
  await eventually(() => sockets.length === 2, 3000, 'two connections');
  const handleA = sockets.find((s) => s.id === a.id);
  const got = waitFor(a, 'liveQueryData');
  assert.equal(handleA.emit('liveQueryData', { rows: [1] }, Buffer.from('bin')), true);
  assert.deepEqual(await got, { rows: [1] });
  assert.equal(await fires(b, 'liveQueryData', 200), false);

  a.on('confirm', (value, ack) => ack({ confirmed: value }));
  assert.deepEqual(await handleA.emitWithAck('confirm', 7), { confirmed: 7 });
  await assert.rejects(handleA.emitWithAck('neverAnswered', { timeoutMs: 200 }), {
    code: 'MNW_ACK_TIMEOUT',
    message: 'emitWithAck("neverAnswered"): the client did not acknowledge within 200 ms',
  });
});

test('server-side join skips the access check; leave and channels reflect it', async (t) => {
  const secret = new ServerChannel('secret', () => false);
  const { url, server } = await startServer(t, { channels: [secret] });
  let handle;
  server.onConnection((socket) => (handle = socket));
  const client = await connect(t, url);
  await eventually(() => handle, 3000, 'the connection handler');
  assert.deepEqual(await join(client, 'secret:1'), { error: { channel: 'secret:1', error: 'Access denied' } });
  assert.equal(handle.join('secret:1'), true);
  assert.deepEqual(handle.channels, ['secret:1']);
  const got = waitFor(client, 'secret');
  secret.broadcast('1', 'server let you in');
  assert.equal(await got, 'server let you in');
  assert.equal(handle.leave('secret:1'), true);
  assert.deepEqual(handle.channels, []);
  assert.throws(() => handle.join('nocolon'), { name: 'TypeError', message: /expected 'category:id'/ });
});

test('disconnect() closes the client; the handle then reports it is gone', async (t) => {
  const { url, server } = await startServer(t, {});
  let handle;
  const disconnects = [];
  server.onConnection((socket) => (handle = socket));
  server.onDisconnect((socket, reason) => disconnects.push({ id: socket.id, reason }));
  const client = await connect(t, url);
  const clientId = client.id;
  await eventually(() => handle, 3000, 'the connection handler');
  const closed = waitFor(client, 'disconnect');
  assert.equal(handle.disconnect(), true);
  assert.equal(await closed, 'io server disconnect');
  await eventually(() => disconnects.length === 1, 3000, 'the disconnect handler');
  assert.deepEqual(disconnects, [{ id: clientId, reason: 'server namespace disconnect' }]);
  assert.equal(handle.connected, false);
  assert.equal(handle.emit('late', 1), false);
  assert.equal(handle.join('chat:1'), false);
  assert.equal(handle.disconnect(), false);
  await assert.rejects(handle.emitWithAck('late'), { code: 'MNW_SOCKET_GONE' });
});

for (const [transport, standalone] of [
  ['websocket', true],
  ['websocket', false],
  ['polling', false],
  ['polling', true],
]) {
  test(`onConnection sees where a ${transport} client comes from (${standalone ? 'standalone' : 'attach'})`, async (t) => {
    const { url, server } = await startServer(t, { standalone });
    const seen = [];
    server.onConnection((socket) => seen.push(socket.connectionInfo));
    await connect(t, url, { transports: [transport], extraHeaders: { 'user-agent': 'test-agent/1.0' } });
    await eventually(() => seen.length === 1, 3000, 'the connection handler');
    assert.deepEqual(seen[0], { ip: '127.0.0.1', userAgent: 'test-agent/1.0' });
  });
}

test('a client that disconnects is reported with its reason, and its handle goes stale', async (t) => {
  const { url, server } = await startServer(t, {});
  const seen = [];
  server.onDisconnect((socket, reason) => seen.push(reason));
  let handle;
  server.onConnection((socket) => (handle = socket));
  const client = await connect(t, url);
  await eventually(() => handle, 3000, 'the connection handler');
  client.disconnect();
  await eventually(() => seen.length === 1, 3000, 'the disconnect handler');
  assert.match(seen[0], /client/);
  assert.equal(handle.emit('x'), false);
});

test('a throwing connection handler goes to onError and the connection stays up', async (t) => {
  const { url, server } = await startServer(t, {});
  const errors = [];
  server.onError((error) => errors.push(error.message));
  server.onConnection(() => {
    throw new Error('handler bug');
  });
  server.onEvent('ping2', () => 'pong2');
  const client = await connect(t, url);
  assert.equal(await client.emitWithAck('ping2'), 'pong2');
  assert.deepEqual(errors, ['handler bug']);
});

test('live query style: subscribe, periodic pushes to that socket, unsubscribe', async (t) => {
  const { url, server } = await startServer(t, {});
  const timers = new Map();
  server.onEvent('subscribeLiveQuery', (socket, { queryId }) => {
    let n = 0;
    timers.set(queryId, setInterval(() => socket.emit('liveQueryData', { queryId, n: n++ }), 20));
    return { ok: true };
  });
  server.onEvent('unsubscribeLiveQuery', (socket, { queryId }) => {
    clearInterval(timers.get(queryId));
    timers.delete(queryId);
    return { ok: true };
  });
  t.after(() => timers.forEach(clearInterval));
  const client = await connect(t, url);
  const data = [];
  client.on('liveQueryData', (d) => data.push(d));
  assert.deepEqual(await client.emitWithAck('subscribeLiveQuery', { queryId: 'q1' }), { ok: true });
  await eventually(() => data.length >= 3, 3000, 'three pushes');
  assert.deepEqual(await client.emitWithAck('unsubscribeLiveQuery', { queryId: 'q1' }), { ok: true });
  const count = data.length;
  await sleep(100);
  assert.ok(data.length <= count + 1);
  assert.deepEqual(data.slice(0, 3), [0, 1, 2].map((n) => ({ queryId: 'q1', n })));
});

test('every connection is reported exactly once to onConnection and onDisconnect', async (t) => {
  const { url, server } = await startServer(t, {
    standalone: true,
    authenticate: () => ({ user: null, session: null, roles: [] }),
  });
  let connections = 0;
  let disconnections = 0;
  server.onConnection(() => connections++).onDisconnect(() => disconnections++);
  for (let i = 0; i < 100; i++) {
    const client = await connect(t, url);
    client.close();
  }
  await eventually(() => connections === 100 && disconnections === 100, 5000, '100 connections and disconnections');
});

test('a handler returning nothing sends an empty acknowledgement', async (t) => {
  const { url, server } = await startServer(t, {});
  server.onEvent('fireAndAck', () => {});
  const client = await connect(t, url);
  const args = await new Promise((resolve) => client.emit('fireAndAck', (...a) => resolve(a)));
  assert.deepEqual(args, []);
});

/**
 * The Engine.IO message packets `client` receives, as on the wire: `4` + the Socket.IO packet
 * (a websocket text frame, or one packet of a polling payload); attachments as `<binary n bytes>`.
 */
function packetsOf(client) {
  const packets = [];
  client.io.engine.on('packet', ({ type, data }) => {
    if (type === 'message') packets.push(typeof data === 'string' ? `4${data}` : `<binary ${data.byteLength} bytes>`);
  });
  return packets;
}

/** Emits `event` with `args` and resolves with every argument the ack callback receives. */
const ackOf = (client, event, ...args) => new Promise((resolve) => client.emit(event, ...args, (...received) => resolve(received)));

for (const transport of ['websocket', 'polling']) {
  test(`${transport}: ackArgs(...) answers with several ack arguments, as socket.io's callback(a, b)`, async (t) => {
    const { url, server } = await startServer(t, {});
    server.onEvent('pair', (socket, ...args) => ackArgs(...args));
    server.onEvent('later', async () => {
      await sleep(20);
      return ackArgs(null, { id: 7 });
    });
    server.onEvent('files', () => ackArgs(Buffer.from([1, 2]), { nested: Buffer.from([3]) }));
    server.onEvent('none', () => ackArgs());
    server.onEvent('array', () => [1, '2']);
    server.onEvent('single', () => 'one');
    const client = await connect(t, url, { transports: [transport] });
    const packets = packetsOf(client);

    assert.deepEqual(await ackOf(client, 'pair', 1, '2', { 3: [false] }), [1, '2', { 3: [false] }]);
    assert.deepEqual(await ackOf(client, 'later'), [null, { id: 7 }]);
    const [file, { nested }] = await ackOf(client, 'files');
    assert.deepEqual([...Buffer.from(file)], [1, 2]);
    assert.deepEqual([...Buffer.from(nested)], [3]);
    assert.deepEqual(await ackOf(client, 'none'), []);
    // A plain return value stays one argument, an array included.
    assert.deepEqual(await ackOf(client, 'array'), [[1, '2']]);
    assert.deepEqual(await ackOf(client, 'single'), ['one']);

    // socket.io-client numbers its acks 0, 1, 2, … on each connection.
    const acks = packets.filter((p) => /^4[36]/.test(p) || p.startsWith('<binary'));
    assert.deepEqual(acks, [
      '430[1,"2",{"3":[false]}]',
      '431[null,{"id":7}]',
      '462-2[{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]',
      '<binary 2 bytes>',
      '<binary 1 bytes>',
      '433[]',
      '434[[1,"2"]]',
      '435["one"]',
    ]);
  });

  test(`${transport}: emitWithAckArgs resolves with every ack argument; emitWithAck with the first`, async (t) => {
    const { url, server } = await startServer(t, {});
    let handle;
    server.onConnection((socket) => (handle = socket));
    const client = await connect(t, url, { transports: [transport] });
    await eventually(() => handle, 3000, 'the connection handler');
    client.on('confirm', (order, callback) => callback(null, { ok: order.id }, Buffer.from([9])));
    client.on('silent', (callback) => callback());

    const [error, result, bytes] = await handle.emitWithAckArgs('confirm', { id: 4 }, { timeoutMs: 2000 });
    assert.equal(error, null);
    assert.deepEqual(result, { ok: 4 });
    assert.ok(Buffer.isBuffer(bytes));
    assert.deepEqual([...bytes], [9]);
    assert.equal(await handle.emitWithAck('confirm', { id: 5 }), null, 'emitWithAck keeps resolving with the first argument');
    assert.deepEqual(await handle.emitWithAckArgs('silent'), []);
    assert.equal(await handle.emitWithAck('silent'), undefined);
    await assert.rejects(handle.emitWithAckArgs('neverAnswered', { timeoutMs: 200 }), {
      code: 'MNW_ACK_TIMEOUT',
      message: 'emitWithAckArgs("neverAnswered"): the client did not acknowledge within 200 ms',
    });
    await assert.rejects(handle.emitWithAckArgs('confirm', { timeoutMs: 0 }), {
      code: 'MNW_INVALID_ARGUMENT',
      message: 'SocketHandle.emitWithAckArgs: timeoutMs must be a positive integer, got number 0',
    });
    const closed = waitFor(client, 'disconnect');
    handle.disconnect();
    await closed;
    await assert.rejects(handle.emitWithAckArgs('confirm', {}), { code: 'MNW_SOCKET_GONE' });
  });
}

const require = createRequire(import.meta.url);
const { SocketEvents } = require('../lib/socket-events.js');
const { AuthContexts } = require('../lib/auth-contexts.js');

const timeoutMessage = (event, ms) =>
  `onEvent handler for "${event}" did not settle within ${ms} ms; no acknowledgement was sent. ` +
  'Make the handler settle faster or raise eventTimeoutMs';

test("an 'event-timeout' notice reaches onError as MNW_EVENT_TIMEOUT with the socket and event", () => {
  const native = { setSocketNotices() {}, setEventRoute() {}, rooms: (sid) => (sid === 'live' ? ['live'] : null) };
  const events = new SocketEvents(new AuthContexts(null, []), { eventTimeoutMs: 250 });
  events.bind(native);
  const reported = [];
  events.onError((error, context) => reported.push({ error, context }));
  events.socketNotice('connect', 'live');
  events.socketNotice('event-timeout', 'live', 'slowQuery');
  events.socketNotice('event-timeout', 'departed', 'slowQuery');
  assert.equal(reported.length, 2);
  for (const [i, sid] of ['live', 'departed'].entries()) {
    const { error, context } = reported[i];
    assert.ok(error instanceof Error);
    assert.equal(error.code, 'MNW_EVENT_TIMEOUT');
    assert.equal(error.message, timeoutMessage('slowQuery', 250));
    assert.equal(context.event, 'slowQuery');
    assert.equal(context.socket.id, sid);
  }
  assert.equal(reported[0].context.socket, events.get('live'), 'the live handle');
  assert.equal(reported[1].context.socket.connected, false, 'a detached handle for a socket already gone');
});

test('an onEvent handler that outlives eventTimeoutMs sends no ack and reaches onError', async (t) => {
  const { url, server } = await startServer(t, { eventTimeoutMs: 200 });
  const reported = [];
  server.onError((error, { socket, event }) => {
    reported.push({ code: error.code, message: error.message, event, id: socket.id });
  });
  server.onEvent('hang', () => new Promise(() => {}));
  server.onEvent('ok', () => 'still here');
  const client = await connect(t, url);
  await assert.rejects(client.timeout(1000).emitWithAck('hang'), /operation has timed out/);
  await eventually(() => reported.length === 1, 3000, 'the event-timeout report');
  assert.deepEqual(reported, [
    { code: 'MNW_EVENT_TIMEOUT', message: timeoutMessage('hang', 200), event: 'hang', id: client.id },
  ]);
  assert.equal(await client.emitWithAck('ok'), 'still here');
});
