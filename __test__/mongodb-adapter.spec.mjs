// MongoDB adapter specifics: the TTL collection, start-up errors, and recovery when the
// database goes away (fault injection needs the emulator; skipped against a real server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startWebsocketServer, ServerChannel } from '../lib/index.js';
import { connect, join, collect, eventually, sleep } from './support/helpers.mjs';
import { startMongo, startInstance } from './support/cluster.mjs';

const unique = () => `_modelenceSocketio_${randomUUID().slice(0, 8)}`;

test('documents carry createdAt as a BSON date, under a TTL index', async (t) => {
  const mongo = await startMongo(t);
  const collection = unique();
  const chat = new ServerChannel('chat');
  const server = await startWebsocketServer({
    host: '127.0.0.1',
    port: 0,
    channels: [chat],
    mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection, ttlSeconds: 120 },
  });
  t.after(() => server.close());
  chat.broadcast('r', { hello: 'world' });
  const docs = mongo.client.db('mnw_test').collection(collection);
  // Besides broadcasts, the collection carries presence messages (`kind: 'presence'`).
  const broadcasts = async () => (await docs.find({}).toArray()).filter((d) => d.kind === undefined);
  await eventually(async () => (await broadcasts()).length === 1, 5000, 'the adapter document');
  const [doc] = await broadcasts();
  assert.ok(doc.createdAt instanceof Date, `createdAt is ${typeof doc.createdAt}`);
  assert.ok(Math.abs(Date.now() - doc.createdAt.getTime()) < 60_000);
  assert.equal(doc.channel, 'chat:r');
  assert.deepEqual(JSON.parse(doc.data), { hello: 'world' });
  const presence = (await docs.find({}).toArray()).filter((d) => d.kind === 'presence');
  assert.ok(presence.length >= 1 && presence.every((d) => d.createdAt instanceof Date), 'presence documents expire too');
  const indexes = await docs.listIndexes().toArray();
  const ttl = indexes.find((i) => i.name === 'createdAt_1');
  assert.deepEqual(ttl.key, { createdAt: 1 });
  assert.equal(ttl.expireAfterSeconds, 120);
});

test('a TTL index with other options is dropped and recreated (IndexOptionsConflict)', async (t) => {
  const mongo = await startMongo(t);
  const collection = unique();
  const docs = mongo.client.db('mnw_test').collection(collection);
  await docs.createIndex({ createdAt: 1 }, { name: 'createdAt_1', expireAfterSeconds: 999 });
  const server = await startWebsocketServer({
    host: '127.0.0.1',
    port: 0,
    mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection, ttlSeconds: 60 },
  });
  t.after(() => server.close());
  const ttl = (await docs.listIndexes().toArray()).find((i) => i.name === 'createdAt_1');
  assert.equal(ttl.expireAfterSeconds, 60);
});

test('start-up fails clearly on a standalone server, an unreachable one, or a bad URI', async (t) => {
  const standalone = await startMongo(t, { standalone: true });
  await assert.rejects(startWebsocketServer({ port: 0, mongodb: { uri: standalone.uri } }), {
    code: 'MNW_ADAPTER_FAILED',
    message: /is not a replica set, and change streams need one: start mongod with --replSet/,
  });
  await assert.rejects(
    startWebsocketServer({ port: 0, mongodb: { uri: 'mongodb://127.0.0.1:1/?directConnection=true', connectTimeoutMs: 500 } }),
    { code: 'MNW_ADAPTER_FAILED', message: /cannot reach MongoDB at 127\.0\.0\.1:1: .*check the address and that the server is running/ },
  );
  await assert.rejects(startWebsocketServer({ port: 0, mongodb: { uri: 'http://nope' } }), {
    name: 'TypeError',
    code: 'MNW_INVALID_OPTION',
    message: /options\.mongodb\.uri must be a connection string starting with 'mongodb:\/\/'/,
  });
  await assert.rejects(startWebsocketServer({ port: 0, mongodb: { uri: 'mongodb://' } }), {
    code: 'MNW_ADAPTER_FAILED',
    message: /invalid MongoDB address/,
  });
});

test('when the database drops every connection, broadcasts flow again within seconds, none duplicated', async (t) => {
  const mongo = await startMongo(t);
  if (!mongo.emulated) return t.skip('fault injection needs the emulator');
  // A short server-selection timeout, so the 2 s outage surfaces as errors to the adapter.
  const options = { mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection: unique(), connectTimeoutMs: 800 } };
  const [a, b] = await Promise.all([startInstance(t, options), startInstance(t, options)]);
  const onB = await connect(t, b.url);
  await join(onB, 'chat:room');
  const inbox = collect(onB, 'chat');
  let seq = 0;
  const send = () => a.broadcast('room', seq++);
  for (let i = 0; i < 20; i++) send();
  await eventually(() => inbox.length === 20, 10000, 'the first 20');

  await mongo.admin({ emulatorDropConnections: 1 }).catch(() => {});
  const dropAt = seq;
  for (let i = 0; i < 20; i++) {
    send();
    await sleep(100);
  }
  await mongo.admin({ emulatorRefuseConnections: 3 }).catch(() => {});
  for (let i = 0; i < 30; i++) {
    send();
    await sleep(100);
  }
  // Everything after the outage is delivered; nothing is ever delivered twice.
  await eventually(() => inbox.includes(seq - 1), 15000, 'delivery after recovery');
  await sleep(500);
  assert.equal(new Set(inbox).size, inbox.length, `duplicates in ${inbox}`);
  for (let i = 0; i < 20; i++) assert.ok(inbox.includes(i));
  const lastTen = Array.from({ length: 10 }, (_, i) => seq - 10 + i);
  for (const n of lastTen) assert.ok(inbox.includes(n), `missing ${n} (sent after recovery)`);
  t.diagnostic(`received ${inbox.length} of ${seq}; ${seq - dropAt} sent during and after the faults`);
  // Logged once per state change, not per message: 50 broadcasts crossed two outages.
  const log = a.stderr() + b.stderr();
  const unavailable = log.match(/adapter unavailable/g)?.length ?? 0;
  const recovered = log.match(/adapter available again/g)?.length ?? 0;
  t.diagnostic(`state-change log lines: ${unavailable} unavailable, ${recovered} available again`);
  assert.ok(unavailable >= 1 && unavailable <= 12, log);
  assert.ok(recovered >= 1 && recovered <= unavailable, log);
});

test('a message over the 16 MiB document limit is refused with a log line and holds nothing up', async (t) => {
  const mongo = await startMongo(t);
  const backend = { mongodb: { uri: mongo.uri, dbName: 'mnw_test', collection: unique() } };
  const [a, b] = await Promise.all([startInstance(t, backend), startInstance(t, backend)]);
  const member = await connect(t, b.url);
  await join(member, 'chat:room');
  const inbox = collect(member, 'chat');
  a.broadcast('room', 'huge', 17 * 1024 * 1024);
  a.broadcast('room', 'small');
  // Without the size check the oversized insert would be retried (and block the queue)
  // for the 30 s publish age.
  await eventually(() => inbox.length >= 1, 5000, 'the small message');
  assert.deepEqual(inbox, ['small']);
  await eventually(() => a.stderr().includes("over MongoDB's 16 MiB document limit"), 3000, 'the log line');
});
