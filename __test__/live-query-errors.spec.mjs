// Live queries that cannot be served: refused permissions, failing handlers and fetches,
// invalid payloads, unknown names, the per-connection limit. Every failure reaches the
// client as liveQueryError (or is logged, for cleanups) and the server keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWebsocketProvider } from '../lib/index.js';
import { connect, eventually } from './support/helpers.mjs';
import { createApp, startApp, liveClient, captureConsole, nextLiveQueryError } from './support/modelence-app.mjs';
import { todoApp } from './support/todo-app.mjs';

test('permissions are checked against the roles given to the provider', async (t) => {
  const { live, modelence } = await todoApp(t, {
    queries: {
      adminStats: {
        permissions: ['stats.read'],
        handler: () => new modelence.LiveData({ fetch: () => 42, watch: () => {} }),
      },
    },
    providerOptions: { roles: { admin: { permissions: ['stats.read'] }, authenticated: {} } },
  });
  const ann = live.subscribe('todo.adminStats', {}, { authToken: 'ann-token' });
  const denied = await ann.nth(0);
  assert.equal(denied.kind, 'error');
  assert.match(denied.error, /^Access denied: live query 'todo\.adminStats' needs permission 'stats\.read'/);
  const admin = live.subscribe('todo.adminStats', {}, { authToken: 'admin-token' });
  assert.equal((await admin.nth(0)).data, 42);
});

test('a throwing handler, a failing fetch and a non-LiveData result become liveQueryError', async (t) => {
  let fail = true;
  let flakyPublish;
  const { live, modelence, logs } = await todoApp(t, {
    queries: {
      throws: () => {
        throw new Error('handler broke');
      },
      rejects: async () => {
        throw new Error('handler rejected');
      },
      notLive: () => ({ rows: [] }),
      flaky: () =>
        new modelence.LiveData({
          fetch: () => {
            if (fail) throw new Error('fetch broke');
            return 'ok';
          },
          watch: ({ publish }) => {
            flakyPublish = publish;
          },
        }),
    },
  });
  assert.deepEqual(
    await live
      .subscribe('todo.throws')
      .nth(0)
      .then((m) => m.error),
    'handler broke',
  );
  assert.deepEqual(
    await live
      .subscribe('todo.rejects')
      .nth(0)
      .then((m) => m.error),
    'handler rejected',
  );
  assert.match(
    (await live.subscribe('todo.notLive').nth(0)).error,
    /^Live query 'todo\.notLive' must return a LiveData/,
  );
  const flaky = live.subscribe('todo.flaky');
  assert.deepEqual(await flaky.nth(0), { kind: 'error', subscriptionId: flaky.id, error: 'fetch broke' });
  fail = false;
  flakyPublish();
  assert.deepEqual((await flaky.nth(1)).data, 'ok', 'a failed fetch does not end the subscription');
  assert.ok(
    logs.some((l) => /live query todo\.throws failed: handler broke/.test(l)),
    logs.join('\n'),
  );
});

test('an invalid payload gets liveQueryError with subscriptionId null; nothing runs', async (t) => {
  const { source, socket } = await todoApp(t);
  const cases = [
    [
      'not an object',
      /^Invalid payload: expected an object \{ subscriptionId, method, args \}, got the string "not an object"$/,
    ],
    [
      { method: 'todo.getAll' },
      /^Invalid payload: subscriptionId must be a string of 1 to 256 characters, got undefined$/,
    ],
    [
      { subscriptionId: '', method: 'todo.getAll' },
      /subscriptionId must be a string of 1 to 256 characters, got the string ""/,
    ],
    [
      { subscriptionId: 'x'.repeat(257), method: 'todo.getAll' },
      /subscriptionId must be a string of 1 to 256 characters/,
    ],
    [{ subscriptionId: 's', method: 7 }, /method must be a string of 1 to 256 characters, got number 7/],
    [{ subscriptionId: 's', method: 'todo.getAll', args: [1] }, /args must be an object, got an array/],
    [{ subscriptionId: 's', method: 'todo.getAll', args: null }, /args must be an object, got null/],
    [{ subscriptionId: 's', method: 'todo.getAll', authToken: 5 }, /authToken must be a string or null, got number 5/],
    [
      { subscriptionId: 's', method: 'todo.getAll', clientInfo: { screenWidth: 1 } },
      /clientInfo\.screenHeight must be a number, got undefined/,
    ],
    [
      {
        subscriptionId: 's',
        method: 'todo.getAll',
        clientInfo: { screenWidth: 1, screenHeight: 1, windowWidth: 1, windowHeight: 1, pixelRatio: 1 },
      },
      /clientInfo\.orientation must be a string or null, got undefined/,
    ],
  ];
  for (const [payload, message] of cases) {
    const reply = nextLiveQueryError(socket);
    socket.emit('subscribeLiveQuery', payload);
    const { subscriptionId, error } = await reply;
    assert.equal(subscriptionId, null);
    assert.match(error, message);
  }
  assert.equal(source.watches, 0);
  assert.equal(source.fetches, 0);
});

test('an unknown live query, or a mutation, gets a liveQueryError that says what to do', async (t) => {
  const { live } = await todoApp(t);
  const unknown = await live.subscribe('todo.nope').nth(0);
  assert.equal(unknown.kind, 'error');
  assert.match(
    unknown.error,
    /^No live query named 'todo\.nope' on this server: add the module that defines it to createWebsocketProvider\(\{ modules \}\) \(the same array as startApp\(\{ modules \}\)\), and check the name$/,
  );
  const mutation = await live.subscribe('todo.add').nth(0);
  assert.equal(mutation.error, "'todo.add' is a mutation: only queries can be subscribed to as live queries");
});

test('a provider given no modules answers every subscription with how to pass them', async (t) => {
  const { root } = await createApp(t);
  captureConsole(t, ['info', 'warn']);
  const url = await startApp(t, createWebsocketProvider({ appRoot: root }));
  const live = liveClient(await connect(t, url));
  const reply = await live.subscribe('todo.getAll').nth(0);
  assert.equal(reply.kind, 'error');
  assert.match(
    reply.error,
    /This server serves no live queries, so 'todo\.getAll' is unavailable: pass your app's modules to createWebsocketProvider\(\{ modules \}\)/,
  );
});

test("maxLiveQueriesPerSocket bounds one connection's subscriptions", async (t) => {
  const { live } = await todoApp(t, { providerOptions: { maxLiveQueriesPerSocket: 2 } });
  const a = live.subscribe('todo.getAll');
  const b = live.subscribe('todo.getAll');
  await Promise.all([a.nth(0), b.nth(0)]);
  const c = live.subscribe('todo.getAll');
  assert.deepEqual(await c.nth(0), {
    kind: 'error',
    subscriptionId: c.id,
    error: 'Too many live queries on this connection (limit 2): unsubscribe from some first',
  });
  const again = live.subscribe('todo.getAll', { n: 1 }, { subscriptionId: a.id });
  assert.deepEqual((await again.nth(1)).data.args, { n: 1 }, 'replacing does not count twice');
  b.unsubscribe();
  const d = live.subscribe('todo.getAll');
  assert.equal((await d.nth(0)).kind, 'data');
});

test('a throwing watch cleanup is logged and never thrown', async (t) => {
  const { live, modelence, logs } = await todoApp(t, {
    queries: {
      badCleanup: () =>
        new modelence.LiveData({
          fetch: () => 1,
          watch: () => () => {
            throw new Error('cleanup broke');
          },
        }),
    },
  });
  const sub = live.subscribe('todo.badCleanup');
  await sub.nth(0);
  sub.unsubscribe();
  await eventually(
    () => logs.some((l) => l.includes('live query todo.badCleanup: its watch cleanup threw (ignored): cleanup broke')),
    2000,
    'the log line',
  );
  const next = live.subscribe('todo.getAll');
  assert.equal((await next.nth(0)).kind, 'data', 'the server keeps serving');
});
