// The Modelence drop-in: createWebsocketProvider() used the way startApp uses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { createWebsocketProvider } from '../lib/index.js';
import { connect, join, waitFor, sleep } from './support/helpers.mjs';

/** Captures console.warn/console.error lines for the duration of a test. */
function captureConsole(t) {
  const lines = [];
  const { warn, error } = console;
  console.warn = (...args) => lines.push(args.join(' '));
  console.error = (...args) => lines.push(args.join(' '));
  t.after(() => Object.assign(console, { warn, error }));
  return lines;
}

async function modelenceLikeStart(t, provider, channels) {
  const httpServer = http.createServer((req, res) => res.end('app'));
  // Modelence: `void provider.init(...)`, then listen.
  const initDone = provider.init({ httpServer, channels });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await provider.close();
    httpServer.close();
  });
  await initDone;
  return `http://127.0.0.1:${httpServer.address().port}`;
}

test('init with plain { category, canAccessChannel } objects, then broadcast', async (t) => {
  const provider = createWebsocketProvider({
    authenticate: (token) => ({ user: token ? { id: token } : null, session: null, roles: [] }),
  });
  // Modelence's own ServerChannel objects: plain, with Modelence's three-field check.
  const channels = [
    { category: 'chat', canAccessChannel: null },
    { category: 'notifications', canAccessChannel: async ({ user }) => user !== null },
  ];
  const url = await modelenceLikeStart(t, provider, channels);
  const anon = await connect(t, url);
  const ann = await connect(t, url, { auth: { token: 'ann' } });
  assert.deepEqual(await join(anon, 'chat:room1'), { joined: 'chat:room1' });
  assert.deepEqual(await join(anon, 'notifications:ann'), {
    error: { channel: 'notifications:ann', error: 'Access denied' },
  });
  assert.deepEqual(await join(ann, 'notifications:ann'), { joined: 'notifications:ann' });

  const chatMsg = waitFor(anon, 'chat');
  const note = waitFor(ann, 'notifications');
  provider.broadcast({ category: 'chat', id: 'room1', data: { text: 'hi' } });
  provider.broadcast({ category: 'notifications', id: 'ann', data: { n: 1 } });
  assert.deepEqual(await chatMsg, { text: 'hi' });
  assert.deepEqual(await note, { n: 1 });
});

test('broadcast before init never throws: it drops with at most one warning per second', async (t) => {
  const lines = captureConsole(t);
  const provider = createWebsocketProvider();
  for (let i = 0; i < 100; i++) provider.broadcast({ category: 'chat', id: 'r', data: i });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /broadcast to chat:r dropped: the websocket server is not initialized yet/);
});

test('broadcast errors after init (unknown category, bad data) are logged, not thrown', async (t) => {
  const lines = captureConsole(t);
  const provider = createWebsocketProvider();
  await modelenceLikeStart(t, provider, [{ category: 'chat', canAccessChannel: null }]);
  provider.broadcast({ category: 'nosuch', id: 'r', data: 1 });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /"nosuch" is not registered/);
});

test('a failing init is logged and never an unhandled rejection', async (t) => {
  const lines = captureConsole(t);
  const provider = createWebsocketProvider();
  const unhandled = [];
  const onUnhandled = (reason) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));
  // Modelence does not await init.
  void provider.init({ httpServer: 'not a server', channels: [] });
  await sleep(50);
  assert.deepEqual(unhandled, []);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /init failed: startWebsocketServer\(\): options\.httpServer must be an http\.Server/);
});

test('provider options that Modelence supplies itself are rejected up front', () => {
  assert.throws(() => createWebsocketProvider({ port: 3000 }), {
    name: 'TypeError',
    message: "createWebsocketProvider(): options.port is supplied by Modelence's init(); remove it",
  });
});
