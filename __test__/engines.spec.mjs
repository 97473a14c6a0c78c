// The two engines behind one server: websocket-only sessions run on the native engine,
// long-polling (and sessions that upgrade from it) on socketioxide. One channel, one handle
// API and one broadcast reach both; the native engine's own wire handling is checked raw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ServerChannel } from '../lib/index.js';
import { startServer, connect, join, waitFor, eventually, sleep } from './support/helpers.mjs';
import { rawSocket, closesWithin } from './support/raw.mjs';

const until = (raw, predicate, what) => eventually(() => raw.messages.some(predicate), 3000, what);

test('one channel spans websocket-only, polling-only and upgraded sessions', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const handles = new Map();
  server.onConnection((socket) => handles.set(socket.id, socket));
  const websocket = await connect(t, url, { transports: ['websocket'] });
  const polling = await connect(t, url, { transports: ['polling'], upgrade: false });
  const upgraded = await connect(t, url, { transports: ['polling', 'websocket'] });
  await eventually(() => upgraded.io.engine.transport.name === 'websocket', 3000, 'the upgrade');
  const clients = [websocket, polling, upgraded];
  for (const client of clients) assert.deepEqual(await join(client, 'chat:room'), { joined: 'chat:room' });

  const got = clients.map((client) => waitFor(client, 'chat'));
  chat.broadcast('room', { n: 1 });
  assert.deepEqual(await Promise.all(got), [{ n: 1 }, { n: 1 }, { n: 1 }]);
  assert.deepEqual((await chat.members('room')).map((m) => m.socketId).sort(), clients.map((c) => c.id).sort());

  for (const client of clients) {
    const handle = handles.get(client.id);
    assert.deepEqual(handle.channels, ['chat:room']);
    const direct = waitFor(client, 'direct');
    assert.equal(handle.emit('direct', client.id), true);
    assert.equal(await direct, client.id);
  }
  const gone = waitFor(polling, 'disconnect');
  assert.equal(handles.get(polling.id).disconnect(), true);
  assert.equal(await gone, 'io server disconnect');
  await eventually(async () => (await chat.members('room')).length === 2, 3000, 'members without the polling client');
});

test('a server disconnect reaches the client after everything sent to it before', async (t) => {
  const { url, server } = await startServer(t, {});
  let handle;
  server.onConnection((socket) => (handle = socket));
  const client = await connect(t, url);
  await eventually(() => handle, 3000, 'the handle');
  const received = [];
  client.on('item', (n) => received.push(n));
  const closed = waitFor(client, 'disconnect', 10000);
  // ~8 MB: far more than the kernel takes at once, so most of it waits in the send queue.
  const padding = 'x'.repeat(4000);
  for (let n = 0; n < 2000; n++) assert.equal(handle.emit('item', n, padding), true);
  handle.disconnect();
  assert.equal(await closed, 'io server disconnect');
  assert.deepEqual(received, Array.from({ length: 2000 }, (_, n) => n));
});

test('close() ends native sessions as a transport close, so clients reconnect', async (t) => {
  const { url, close } = await startServer(t, {});
  const client = await connect(t, url);
  const reason = waitFor(client, 'disconnect');
  await close();
  assert.equal(await reason, 'transport close');
});

test('websocket pings are answered and fragmented messages reassembled', async (t) => {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { channels: [chat] });
  const raw = await rawSocket(t, url);
  const pong = waitFor(raw.ws, 'pong');
  raw.ws.ping(Buffer.from('are you there'));
  assert.equal(String(await pong), 'are you there');
  raw.ws.send('42["joinChannel",', { fin: false });
  raw.ws.send('"chat:frag"]', { fin: true });
  await until(raw, (m) => m === '42["joinedChannel","chat:frag","0"]', 'joinedChannel (with its position) after a fragmented join');
});

test('a CONNECT to another namespace is refused and the session stays usable', async (t) => {
  const { url } = await startServer(t, {});
  const raw = await rawSocket(t, url, { connect: false });
  raw.ws.send('40/admin,');
  await until(raw, (m) => m === '44/admin,{"message":"Invalid namespace"}', 'CONNECT_ERROR for /admin');
  raw.ws.send('40');
  await until(raw, (m) => m.startsWith('40{"sid":'), 'CONNECT to / afterwards');
});

test('a session that never sends CONNECT is closed after connectTimeout', async (t) => {
  const { url } = await startServer(t, { connectTimeout: 300 });
  const raw = await rawSocket(t, url, { connect: false });
  assert.equal(await closesWithin(raw, 2000), true);
});

test('binary events and binary acks go through the native engine intact', async (t) => {
  const { url, server } = await startServer(t, {});
  let handle;
  server.onConnection((socket) => (handle = socket));
  server.onEvent('upload', (socket, name, file) => ({ name, size: file.length, echo: file }));
  const client = await connect(t, url);
  const reply = await client.emitWithAck('upload', 'a.bin', Buffer.from([1, 2, 3, 250]));
  assert.equal(reply.name, 'a.bin');
  assert.equal(reply.size, 4);
  assert.deepEqual([...reply.echo], [1, 2, 3, 250]);
  await eventually(() => handle, 3000, 'the handle');
  client.on('want', (n, ack) => ack(Buffer.alloc(n, 7)));
  const bytes = await handle.emitWithAck('want', 3);
  assert.deepEqual([...bytes], [7, 7, 7]);
});

/** A raw TCP websocket client: sends `frames` after the upgrade, resolves what came back. */
function rawTcp(port, frames) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      if (chunks.length === 1) for (const frame of frames) socket.write(frame);
    });
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    setTimeout(() => socket.destroy(), 4000);
  });
}

test('an unmasked client frame is a protocol error: close code 1002, then the end', async (t) => {
  const { port } = await startServer(t, {});
  const unmasked = Buffer.from([0x81, 0x02, 0x34, 0x30]); // "40", not masked
  const reply = await rawTcp(port, [unmasked]);
  const text = reply.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
  const close = reply.subarray(reply.length - 4);
  assert.deepEqual([...close], [0x88, 0x02, 0x03, 0xea], 'a close frame with code 1002 ends the stream');
});

test('standalone mode serves native sessions and polling on one port', async (t) => {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { standalone: true, channels: [chat] });
  const websocket = await connect(t, url, { transports: ['websocket'] });
  const polling = await connect(t, url, { transports: ['polling'], upgrade: false });
  for (const client of [websocket, polling]) await join(client, 'chat:s');
  const got = [websocket, polling].map((client) => waitFor(client, 'chat'));
  chat.broadcast('s', 'both');
  assert.deepEqual(await Promise.all(got), ['both', 'both']);
  await sleep(10);
});

test('a reading client is never cut off by a burst larger than its send queue', async (t) => {
  const chat = new ServerChannel('chat');
  const { url } = await startServer(t, { channels: [chat], maxBufferedPackets: 4 });
  const client = await connect(t, url);
  await join(client, 'chat:burst');
  const received = [];
  client.on('chat', (n) => received.push(n));
  let disconnected = false;
  client.on('disconnect', () => (disconnected = true));
  for (let n = 0; n < 1000; n++) chat.broadcast('burst', n); // batches of up to 64 frames
  await eventually(() => received.length === 1000, 5000, 'all 1000 broadcasts');
  assert.deepEqual(received, Array.from({ length: 1000 }, (_, n) => n));
  assert.equal(disconnected, false);
});
