// Zero-config parity with Modelence's own provider: authentication and multi-instance taken
// from the app's Modelence (the `modelence` test stand-in, installed in a temporary app and
// resolved from there, not from this package), explicit options winning, one start-up line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createWebsocketProvider } from '../lib/index.js';
import { connect, join, waitFor, eventually } from './support/helpers.mjs';
import { createApp, startApp, captureConsole, liveClient } from './support/modelence-app.mjs';
import { startMongo } from './support/cluster.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The provider's start-up line among captured console lines. */
function startLine(lines) {
  const found = lines.filter((l) => l.startsWith('[modelence-native-ws] auth: '));
  assert.equal(found.length, 1, `one start-up line, got:\n${lines.join('\n')}`);
  return found[0];
}

/** Sets environment variables for one test (call it once per test: it restores what it saw). */
function setEnv(t, vars) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });
}

test('this package cannot see the stand-in itself: resolution really goes through the app', () => {
  assert.equal(existsSync(`${repo}node_modules/modelence`), false);
});

test("zero-config auth: authenticate from the app's modelence/server, found from process.cwd()", async (t) => {
  const { root, modelence } = await createApp(t);
  const cwd = process.cwd();
  process.chdir(root);
  t.after(() => process.chdir(cwd));
  const lines = captureConsole(t, ['info']);
  const provider = createWebsocketProvider();
  const users = [];
  provider.onConnection((socket) => users.push(socket.auth.user));
  const channels = [{ category: 'private', canAccessChannel: async ({ user }) => user?.handle === 'ann' }];
  const url = await startApp(t, provider, channels);
  assert.match(
    startLine(lines),
    /^\[modelence-native-ws\] auth: authenticate from modelence\/server \(.*\/node_modules\/modelence\/server\.js\); multi-instance: off \(single instance: Modelence's _system\.multiInstance is off\); live queries: none/,
  );

  const before = modelence.standIn.authenticateCalls.length;
  const ann = await connect(t, url, { auth: { token: 'ann-token' } });
  await eventually(() => users.length === 1, 2000, 'onConnection');
  assert.deepEqual(users[0], { id: 'u-ann', handle: 'ann' });
  assert.deepEqual(modelence.standIn.authenticateCalls.slice(before), ['ann-token']);
  assert.deepEqual(await join(ann, 'private:x'), { joined: 'private:x' });
  const guest = await connect(t, url);
  assert.deepEqual(await join(guest, 'private:x'), { error: { channel: 'private:x', error: 'Access denied' } });
  const { error } = await connect(t, url, { auth: { token: 'revoked-token' }, expectError: true });
  assert.equal(error.message, 'Session revoked (stand-in)');
});

test('appRoot points at the app; live queries authenticate their authToken with the same function', async (t) => {
  const { root, modelence } = await createApp(t);
  const lines = captureConsole(t, ['info']);
  const me = new modelence.Module('me', {
    queries: { profile: (args, { user }) => new modelence.LiveData({ fetch: () => user, watch: () => {} }) },
  });
  const url = await startApp(t, createWebsocketProvider({ appRoot: root, modules: [me] }));
  assert.match(startLine(lines), /auth: authenticate from modelence\/server .*; live queries: 1 from 1 module$/);
  const live = liveClient(await connect(t, url));
  const sub = live.subscribe('me.profile', {}, { authToken: 'admin-token' });
  assert.deepEqual((await sub.nth(0)).data, { id: 'u-admin', handle: 'admin' });
  assert.ok(modelence.standIn.authenticateCalls.includes('admin-token'));
});

test('explicit options win: authenticate, authenticate: null, and modelence: false', async (t) => {
  const { root, modelence } = await createApp(t);
  const lines = captureConsole(t, ['info']);
  const explicit = createWebsocketProvider({
    appRoot: root,
    authenticate: (token) => ({ user: { handle: `explicit:${token}` }, session: null, roles: [] }),
  });
  const users = [];
  explicit.onConnection((socket) => users.push(socket.auth.user));
  const before = modelence.standIn.authenticateCalls.length;
  const url = await startApp(t, explicit);
  await connect(t, url, { auth: { token: 'ann-token' } });
  await eventually(() => users.length === 1, 2000, 'onConnection');
  assert.deepEqual(users, [{ handle: 'explicit:ann-token' }]);
  assert.equal(modelence.standIn.authenticateCalls.length, before, "the stand-in's authenticate was not called");
  assert.match(startLine(lines.splice(0)), /auth: options\.authenticate;/);

  const anonymous = createWebsocketProvider({ appRoot: root, authenticate: null });
  const anonUsers = [];
  anonymous.onConnection((socket) => anonUsers.push(socket.auth.user));
  const url2 = await startApp(t, anonymous);
  await connect(t, url2, { auth: { token: 'ann-token' } });
  await eventually(() => anonUsers.length === 1, 2000, 'onConnection');
  assert.deepEqual(anonUsers, [null]);
  assert.equal(modelence.standIn.authenticateCalls.length, before);
  assert.match(
    startLine(lines.splice(0)),
    /auth: none \(options\.authenticate is null\): every connection is anonymous;/,
  );

  await startApp(t, createWebsocketProvider({ appRoot: root, modelence: false }));
  assert.match(
    startLine(lines.splice(0)),
    /auth: none \(options\.modelence is false\): every connection is anonymous; multi-instance: off \(single instance\);/,
  );
});

test('an app without Modelence: anonymous, and the line says where it looked', async (t) => {
  const { root } = await createApp(t, { withModelence: false });
  const lines = captureConsole(t, ['info']);
  const provider = createWebsocketProvider({ appRoot: root });
  const users = [];
  provider.onConnection((socket) => users.push(socket.auth.user));
  const url = await startApp(t, provider);
  await connect(t, url, { auth: { token: 'ann-token' } });
  await eventually(() => users.length === 1, 2000, 'onConnection');
  assert.deepEqual(users, [null]);
  const line = startLine(lines);
  assert.ok(line.includes(`auth: none (modelence/server not found from ${root}): every connection is anonymous`), line);
});

test("zero-config multi-instance: Modelence's multiInstance and MongoDB URI join two instances", async (t) => {
  const mongo = await startMongo(t);
  const { root } = await createApp(t);
  setEnv(t, { MODELENCE_MULTI_INSTANCE: 'true', MONGODB_URI: mongo.uri });
  const lines = captureConsole(t, ['info']);
  const channels = [{ category: 'chat', canAccessChannel: null }];
  const a = createWebsocketProvider({ appRoot: root, heartbeatIntervalMs: 200 });
  const b = createWebsocketProvider({ appRoot: root, heartbeatIntervalMs: 200 });
  await startApp(t, a, channels);
  const urlB = await startApp(t, b, channels);
  for (const line of lines.filter((l) => l.includes('auth: '))) {
    assert.match(
      line,
      /multi-instance: MongoDB from Modelence's config \(_system\.multiInstance, _system\.mongodbUri\);/,
    );
  }
  assert.equal(lines.filter((l) => l.includes('auth: ')).length, 2);
  const client = await connect(t, urlB);
  assert.deepEqual(await join(client, 'chat:r'), { joined: 'chat:r' });
  const got = waitFor(client, 'chat', 5000);
  a.broadcast({ category: 'chat', id: 'r', data: { from: 'instance a' } });
  assert.deepEqual(await got, { from: 'instance a' }, 'a broadcast on one instance reaches the other through MongoDB');
});

test('multi-instance: explicit adapter options win; on without a URI, or off, runs single', async (t) => {
  const { root } = await createApp(t);
  const lines = captureConsole(t, ['info']);
  setEnv(t, { MODELENCE_MULTI_INSTANCE: 'true', MONGODB_URI: '' });
  await startApp(t, createWebsocketProvider({ appRoot: root }));
  assert.match(
    startLine(lines.splice(0)),
    /multi-instance: off \(Modelence's _system\.multiInstance is on, but _system\.mongodbUri \(MONGODB_URI\) is empty\);/,
  );

  const mongo = await startMongo(t);
  process.env.MONGODB_URI = 'mongodb://127.0.0.1:1/unused'; // restored by setEnv above
  const explicit = createWebsocketProvider({ appRoot: root, mongodb: { uri: mongo.uri, collection: 'custom_ws' } });
  await startApp(t, explicit, [{ category: 'chat', canAccessChannel: null }]);
  assert.match(startLine(lines.splice(0)), /multi-instance: MongoDB \(options\.mongodb\);/);
  explicit.broadcast({ category: 'chat', id: 'r', data: 1 });
  const custom = mongo.client.db('modelence').collection('custom_ws');
  await eventually(
    async () => (await custom.countDocuments({ channel: 'chat:r' })) === 1,
    5000,
    'the broadcast in custom_ws',
  );
});

test('provider options are checked up front', () => {
  const cases = [
    [
      { appRoot: '' },
      'createWebsocketProvider(): options.appRoot must be the app\'s directory (a non-empty string), got the string ""',
    ],
    [
      { modelence: true },
      "createWebsocketProvider(): options.modelence must be false (to skip looking up the app's Modelence) or left out, got boolean true",
    ],
    [{ liveQueries: 'no' }, 'createWebsocketProvider(): options.liveQueries must be a boolean, got the string "no"'],
    [{ modules: [{}] }, 'createWebsocketProvider(): options.modules must be an array of Module, got an array'],
    [
      { roles: 'admin' },
      /^createWebsocketProvider\(\): options\.roles must be an object like \{ admin: \{ permissions: \[\.\.\.\] \} \}/,
    ],
    [
      { maxLiveQueriesPerSocket: 0 },
      'createWebsocketProvider(): options.maxLiveQueriesPerSocket must be an integer from 1 to 2147483647, got number 0',
    ],
    [
      { modules: [{ name: 'm', queries: { q: {} } }] },
      'createWebsocketProvider(): query "m.q" must be a function or { handler, permissions }, got an object',
    ],
  ];
  for (const [opts, message] of cases) {
    assert.throws(() => createWebsocketProvider(opts), { name: 'TypeError', code: 'MNW_INVALID_OPTION', message });
  }
});

test('the live-query events belong to the provider unless liveQueries: false', async (t) => {
  const { root } = await createApp(t);
  captureConsole(t, ['info']);
  assert.throws(() => createWebsocketProvider({ appRoot: root }).onEvent('subscribeLiveQuery', () => {}), {
    code: 'MNW_INVALID_ARGUMENT',
    message: /"subscribeLiveQuery" is served by the provider's live queries .* liveQueries: false/,
  });
  const own = createWebsocketProvider({ appRoot: root, liveQueries: false });
  own.onEvent('subscribeLiveQuery', (socket, payload) => `mine:${payload.subscriptionId}`);
  const url = await startApp(t, own);
  const socket = await connect(t, url);
  assert.equal(await socket.timeout(2000).emitWithAck('subscribeLiveQuery', { subscriptionId: 's1' }), 'mine:s1');
});
