// Modelence live queries through the provider: a real socket.io-client replays Modelence's
// client messages (subscribeLiveQuery / unsubscribeLiveQuery) against an app whose modules
// and LiveData come from the `modelence` test stand-in installed in a temporary app.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ObjectId } from 'mongodb';
import { startWebsocketServer, Module, LiveData } from '../lib/index.js';
import { connect, eventually, sleep } from './support/helpers.mjs';
import { liveClient, revive } from './support/modelence-app.mjs';
import { todoApp, gate } from './support/todo-app.mjs';

const require = createRequire(import.meta.url);
const { encodeResult } = require('../lib/live-query-result.js');

test('subscribe: the initial data arrives, then a push after every publish()', async (t) => {
  const { source, live } = await todoApp(t);
  const sub = live.subscribe('todo.getAll', { list: 'inbox' });
  assert.deepEqual(await sub.nth(0), {
    kind: 'data',
    subscriptionId: sub.id,
    data: { items: ['first'], args: { list: 'inbox' } },
    typeMap: null,
  });
  source.set(['first', 'second']);
  assert.deepEqual((await sub.nth(1)).data.items, ['first', 'second']);
  source.set([]);
  assert.deepEqual((await sub.nth(2)).data.items, []);
  assert.equal(source.watches, 1, 'watch ran once');
});

test("the query gets Modelence's method context: per-subscription auth, clientInfo, connectionInfo", async (t) => {
  let seen;
  const { live, modelence } = await todoApp(t, {
    queries: {
      whoami: (args, context) => {
        seen = context;
        return new modelence.LiveData({ fetch: () => context.user?.handle ?? 'anonymous', watch: () => {} });
      },
    },
  });
  const clientInfo = {
    screenWidth: 1,
    screenHeight: 2,
    windowWidth: 3,
    windowHeight: 4,
    pixelRatio: 2,
    orientation: 'portrait',
    extra: 1,
  };
  const ann = live.subscribe('todo.whoami', {}, { authToken: 'ann-token', clientInfo });
  assert.equal((await ann.nth(0)).data, 'ann');
  assert.deepEqual(seen.roles, ['authenticated']);
  assert.equal(seen.session.userId, 'u-ann');
  const { extra, ...known } = clientInfo;
  assert.equal(extra, 1);
  assert.deepEqual(seen.clientInfo, known, 'clientInfo keeps its six fields');
  assert.deepEqual(seen.connectionInfo, { ip: '127.0.0.1', userAgent: null }, 'the direct peer; this client sends no User-Agent');
  assert.equal(seen.req, null);
  assert.equal(seen.res, null);

  const anonymous = live.subscribe('todo.whoami', {});
  assert.equal((await anonymous.nth(0)).data, 'anonymous');
  assert.deepEqual(seen.clientInfo, {
    screenWidth: 0,
    screenHeight: 0,
    windowWidth: 0,
    windowHeight: 0,
    pixelRatio: 1,
    orientation: null,
  });
  assert.deepEqual(seen.roles, ['guest']);

  const revoked = live.subscribe('todo.whoami', {}, { authToken: 'revoked-token' });
  assert.deepEqual(await revoked.nth(0), {
    kind: 'error',
    subscriptionId: revoked.id,
    error: 'Session revoked (stand-in)',
  });
});

test('rapid publishes collapse: one fetch at a time, never an older result after a newer one', async (t) => {
  const { source, live } = await todoApp(t);
  const sub = live.subscribe('todo.getAll');
  await sub.nth(0);
  const release = gate(source);
  source.set([1]); // starts fetch #2, which waits at the gate
  await eventually(() => source.running === 1, 2000, 'fetch #2 to start');
  for (let v = 2; v <= 5; v++) source.set([v]); // all during fetch #2
  await sleep(50);
  assert.equal(source.fetches, 2, 'publishes during a fetch wait for it');
  release();
  assert.deepEqual((await sub.nth(1)).data.items, [1]);
  assert.deepEqual((await sub.nth(2)).data.items, [5]);
  await sleep(100);
  assert.equal(sub.messages.length, 3, 'four publishes during one fetch make exactly one more fetch');
  assert.equal(source.fetches, 3);
  assert.equal(source.maxRunning, 1, 'fetches never overlap');
});

test('a reused subscriptionId replaces the subscription: the old watch is cleaned up once', async (t) => {
  const { source, live } = await todoApp(t);
  const first = live.subscribe('todo.getAll', { n: 1 }, { subscriptionId: 'sub-reused' });
  assert.deepEqual((await first.nth(0)).data.args, { n: 1 });
  const second = live.subscribe('todo.getAll', { n: 2 }, { subscriptionId: 'sub-reused' });
  assert.deepEqual((await second.nth(1)).data.args, { n: 2 });
  assert.deepEqual(source.cleanups, [1, 0], 'the first watch was cleaned up once, the second is live');
  source.set(['after']);
  assert.deepEqual((await second.nth(2)).data, { items: ['after'], args: { n: 2 } });
  await sleep(100);
  assert.equal(second.messages.length, 3, 'only the replacement answers a publish');
});

test('a subscription replaced while its query is still starting never watches nor sends', async (t) => {
  let releaseSlow;
  const slowStarted = new Promise((r) => (releaseSlow = r));
  let resume;
  const { source, live, modelence } = await todoApp(t, {
    queries: {
      slow: async () => {
        releaseSlow();
        await new Promise((r) => (resume = r));
        return source.liveData(modelence.LiveData, () => 'slow');
      },
    },
  });
  const slow = live.subscribe('todo.slow', {}, { subscriptionId: 'sub-x' });
  await slowStarted;
  const fast = live.subscribe('todo.getAll', {}, { subscriptionId: 'sub-x' });
  assert.deepEqual((await fast.nth(0)).data.items, ['first']);
  resume();
  await sleep(100);
  assert.equal(slow.messages.length, 1, 'nothing from the replaced subscription');
  assert.equal(source.watches, 1, 'the replaced query never started watching');
});

test('unsubscribe and disconnect call each watch cleanup exactly once; nothing is sent after', async (t) => {
  const { source, live, socket } = await todoApp(t);
  const a = live.subscribe('todo.getAll');
  const b = live.subscribe('todo.getAll');
  const c = live.subscribe('todo.getAll');
  await Promise.all([a.nth(0), b.nth(0), c.nth(0)]);
  a.unsubscribe();
  a.unsubscribe();
  await eventually(() => source.cleanups[0] === 1, 2000, 'the cleanup of a');
  source.set(['changed']);
  await Promise.all([b.nth(1), c.nth(1)]);
  await sleep(100);
  assert.equal(a.messages.length, 1, 'an unsubscribed query sends nothing');
  socket.disconnect();
  await eventually(() => source.cleanups[1] === 1 && source.cleanups[2] === 1, 3000, 'cleanups on disconnect');
  await sleep(100);
  assert.deepEqual(source.cleanups, [1, 1, 1]);
});

test('a fetch still running when its subscription ends sends nothing', async (t) => {
  const { source, live } = await todoApp(t);
  const sub = live.subscribe('todo.getAll');
  await sub.nth(0);
  const release = gate(source);
  source.set(['in flight']);
  await eventually(() => source.running === 1, 2000, 'the fetch to start');
  sub.unsubscribe();
  await eventually(() => source.cleanups[0] === 1, 2000, 'the cleanup');
  release();
  await sleep(150);
  assert.equal(sub.messages.length, 1, 'the in-flight result is dropped');
});

test("Dates and ObjectIds round-trip through typeMap as Modelence's client revives them", async (t) => {
  const id = new ObjectId();
  const at = new Date('2024-05-06T07:08:09.010Z');
  const { live, modelence } = await todoApp(t, {
    queries: {
      typed: () =>
        new modelence.LiveData({
          fetch: () => ({ at, list: [{ _id: id, due: at, title: 't' }, 'plain'], owner: { id }, when: [at] }),
          watch: () => {},
        }),
      bareDate: () => new modelence.LiveData({ fetch: () => at, watch: () => {} }),
    },
  });
  const { data, typeMap } = await live.subscribe('todo.typed').nth(0);
  assert.deepEqual(typeMap, {
    type: 'object',
    props: {
      at: { type: 'date' },
      list: { type: 'array', elements: { 0: { type: 'object', props: { due: { type: 'date' } } } } },
      when: { type: 'array', elements: { 0: { type: 'date' } } },
    },
  });
  const revived = revive(data, typeMap);
  assert.ok(revived.at instanceof Date && revived.at.getTime() === at.getTime());
  assert.equal(revived.list[0]._id, id.toHexString(), 'an ObjectId arrives as its hex string');
  assert.equal(revived.owner.id, id.toHexString());
  assert.ok(revived.list[0].due instanceof Date && revived.when[0] instanceof Date);
  assert.equal(revived.list[1], 'plain');
  const bare = await live.subscribe('todo.bareDate').nth(0);
  assert.deepEqual(bare.typeMap, { type: 'date' });
  assert.equal(revive(bare.data, bare.typeMap).getTime(), at.getTime());
});

test('encodeResult copies only what changes', () => {
  const plain = { a: [1, { b: 'c' }], d: null };
  const encoded = encodeResult(plain);
  assert.equal(encoded.data, plain, 'a result without ObjectIds is sent as is');
  assert.equal(encoded.typeMap, null);
  const id = new ObjectId();
  const shared = { keep: true };
  const mixed = { id, shared };
  const out = encodeResult(mixed);
  assert.notEqual(out.data, mixed);
  assert.equal(out.data.shared, shared);
  assert.equal(mixed.id, id, "the app's object is not modified");
  assert.deepEqual(encodeResult(Buffer.from('x')), { data: Buffer.from('x'), typeMap: null });
});

test("startWebsocketServer({ modules }) serves the queries of this package's Module with its LiveData", async (t) => {
  let value = 'v1';
  let publish;
  let cleanups = 0;
  const feed = new Module('feed', {
    queries: {
      latest: (args, { user }) =>
        new LiveData({
          fetch: () => ({ value, user: user?.name ?? null, args }),
          watch: (ctx) => {
            publish = ctx.publish;
            return () => (cleanups += 1);
          },
        }),
    },
  });
  const server = await startWebsocketServer({
    host: '127.0.0.1',
    port: 0,
    modules: [feed],
    authenticate: (token) => ({ user: token ? { name: token } : null, session: null, roles: [] }),
  });
  t.after(() => server.close());
  const socket = await connect(t, `http://127.0.0.1:${server.port}`);
  const live = liveClient(socket);
  const sub = live.subscribe('feed.latest', { k: 1 }, { authToken: 'zoe' });
  assert.deepEqual((await sub.nth(0)).data, { value: 'v1', user: 'zoe', args: { k: 1 } });
  value = 'v2';
  publish();
  assert.equal((await sub.nth(1)).data.value, 'v2');
  const unknown = await live.subscribe('feed.nope').nth(0);
  assert.match(
    unknown.error,
    /^No live query named 'feed\.nope' on this server: add the module that defines it to startWebsocketServer\(\{ modules \}\)/,
  );
  socket.disconnect();
  await eventually(() => cleanups === 1, 3000, 'cleanup on disconnect');
  assert.throws(() => new LiveData({ fetch: 1 }), {
    code: 'MNW_INVALID_ARGUMENT',
    message: 'new LiveData(): fetch must be a function, got number 1',
  });
  await assert.rejects(startWebsocketServer({ port: 0, modules: [new Module('m', { queries: { q: 5 } })] }), {
    code: 'MNW_INVALID_OPTION',
    message: 'startWebsocketServer(): query "m.q" must be a function or { handler, permissions }, got number 5',
  });
});

test('no subscription outlives its connection, its unsubscribe or its failure', async () => {
  const { LiveQueries } = require('../lib/live-queries.js');
  const { LiveQueryRegistry } = require('../lib/live-query-registry.js');
  const sent = [];
  const socket = (id) => ({ id, connected: true, emit: (event, payload) => sent.push({ id, event, payload }) });
  const live = () => new LiveData({ fetch: () => 1, watch: () => () => {} });
  const registry = new LiveQueryRegistry([new Module('m', { queries: { ok: live, broken: () => 5 } })]);
  const service = new LiveQueries({ registry });
  const [a, b] = [socket('a'), socket('b')];
  service.subscribe(a, { subscriptionId: '1', method: 'm.ok' });
  service.subscribe(a, { subscriptionId: '2', method: 'm.ok' });
  service.subscribe(b, { subscriptionId: '1', method: 'm.ok' });
  service.subscribe(b, { subscriptionId: '2', method: 'm.broken' });
  assert.equal(service.size, 4);
  await eventually(() => sent.filter((m) => m.event === 'liveQueryData').length === 3, 2000, 'three results');
  assert.equal(service.size, 3, 'a failed subscription is forgotten');
  service.unsubscribe(b, { subscriptionId: '1' });
  assert.equal(service.size, 2);
  service.disconnect(a);
  assert.equal(service.size, 0);
  service.subscribe({ ...socket('c'), connected: false }, { subscriptionId: '1', method: 'm.ok' });
  assert.equal(service.size, 0, 'a socket already gone gets nothing');
});
