// Authentication: authenticate(token) runs once per connection; a throw refuses it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ServerChannel } from '../lib/index.js';
import { startServer, connect, join } from './support/helpers.mjs';

const require = createRequire(import.meta.url);
const { AuthContexts } = require('../lib/auth-contexts.js');

const users = { 'token-ann': { user: { name: 'ann' }, session: { id: 's1' }, roles: ['admin'] } };
async function authenticate(token) {
  if (token === null) return { user: null, session: null, roles: [] };
  const ctx = users[token];
  if (!ctx) throw new Error('Invalid session token');
  return ctx;
}

test('a good token connects and its auth context reaches the access check', async (t) => {
  const seen = [];
  const admin = new ServerChannel('admin', (ctx) => {
    seen.push(ctx);
    return ctx.roles.includes('admin');
  });
  const { url } = await startServer(t, { channels: [admin], authenticate });
  const socket = await connect(t, url, { auth: { token: 'token-ann' } });
  assert.deepEqual(await join(socket, 'admin:panel'), { joined: 'admin:panel' });
  assert.deepEqual(seen, [
    { user: { name: 'ann' }, session: { id: 's1' }, roles: ['admin'], channelId: 'panel', channel: 'admin:panel' },
  ]);
});

test('authenticate is called once per connection, with null for anonymous visitors', async (t) => {
  const tokens = [];
  const { url } = await startServer(t, {
    authenticate: (token) => {
      tokens.push(token);
      return { user: null, session: null, roles: [] };
    },
  });
  await connect(t, url, { auth: { token: null } });
  await connect(t, url);
  await connect(t, url, { auth: { token: 'abc' } });
  assert.deepEqual(tokens, [null, null, 'abc']);
});

test('a throwing authenticate refuses the connection with its message', async (t) => {
  const { url } = await startServer(t, { authenticate });
  const { error } = await connect(t, url, { auth: { token: 'forged' }, expectError: true });
  assert.equal(error.message, 'Invalid session token');
});

test('a rejecting async authenticate refuses the connection with its message', async (t) => {
  const { url } = await startServer(t, {
    authenticate: async () => {
      await new Promise((r) => setTimeout(r, 10));
      throw new Error('Session expired');
    },
  });
  const { error } = await connect(t, url, { auth: { token: 'old' }, expectError: true });
  assert.equal(error.message, 'Session expired');
});

test('an authenticate that never settles is refused after authTimeoutMs', async (t) => {
  const { url } = await startServer(t, { authenticate: () => new Promise(() => {}), authTimeoutMs: 200 });
  const started = Date.now();
  const { error } = await connect(t, url, { auth: { token: 'x' }, expectError: true });
  assert.equal(error.message, 'Authentication timed out');
  assert.ok(Date.now() - started < 3000);
});

test('a non-string or huge token is refused before authenticate runs', async (t) => {
  let calls = 0;
  const { url } = await startServer(t, {
    authenticate: () => {
      calls += 1;
      return { user: null, session: null, roles: [] };
    },
  });
  const numeric = await connect(t, url, { auth: { token: 42 }, expectError: true });
  assert.equal(numeric.error.message, 'Invalid auth token: expected a string or null');
  const huge = await connect(t, url, { auth: { token: 'x'.repeat(9000) }, expectError: true });
  assert.equal(huge.error.message, 'Invalid auth token: longer than 8192 bytes');
  assert.equal(calls, 0);
});

test('authenticate returning a non-object refuses with a generic message', async (t) => {
  const { url } = await startServer(t, { authenticate: () => 'yes' });
  const { error } = await connect(t, url, { auth: { token: 'x' }, expectError: true });
  assert.equal(error.message, 'Authentication failed');
});

test('without authenticate every connection is anonymous', async (t) => {
  let ctxSeen;
  const open = new ServerChannel('open', (ctx) => {
    ctxSeen = ctx;
    return true;
  });
  const { url } = await startServer(t, { channels: [open] });
  const socket = await connect(t, url, { auth: { token: 'ignored' } });
  assert.deepEqual(await join(socket, 'open:1'), { joined: 'open:1' });
  assert.deepEqual(ctxSeen, { user: null, session: null, roles: [], channelId: '1', channel: 'open:1' });
});

/** An `authenticate` whose calls settle when the test says so: `calls[i].resolve(ctx)` / `.reject(error)`. */
function controlledAuthenticate() {
  const calls = [];
  const authenticate = (token) =>
    new Promise((resolve, reject) => {
      calls.push({ token, resolve, reject });
    });
  return { authenticate, calls };
}

const anonymous = { user: null, session: null, roles: [] };
const late = { user: { name: 'late' }, session: { id: 'old' }, roles: ['admin'] };

test('a late authenticate result never becomes the context of a later attempt', async () => {
  const { authenticate, calls } = controlledAuthenticate();
  const contexts = new AuthContexts(authenticate, []);
  const first = contexts.authenticate('sid1', 'slow');
  contexts.forget('sid1'); // Rust timed out on the first attempt
  const second = contexts.authenticate('sid1', 'refused');
  calls[1].reject(new Error('Invalid session token'));
  assert.equal(await second, 'Invalid session token');
  calls[0].resolve(late);
  // An attempt Rust gave up on answers as refused (it may race a later attempt).
  assert.equal(await first, 'Authentication failed');
  assert.deepEqual(contexts.get('sid1'), anonymous);
  assert.equal(contexts.size, 0);
});

test('a late result landing while a later attempt is still running is discarded too', async () => {
  const { authenticate, calls } = controlledAuthenticate();
  const contexts = new AuthContexts(authenticate, []);
  const first = contexts.authenticate('sid1', 'slow');
  contexts.forget('sid1');
  const second = contexts.authenticate('sid1', 'refused');
  calls[0].resolve(late);
  await first;
  assert.deepEqual(contexts.get('sid1'), anonymous, 'the first attempt was given up on');
  calls[1].reject(new Error('Invalid session token'));
  await second;
  assert.deepEqual(contexts.get('sid1'), anonymous);
});

test('the latest attempt keeps its own context when an earlier one settles after it', async () => {
  const { authenticate, calls } = controlledAuthenticate();
  const contexts = new AuthContexts(authenticate, []);
  const first = contexts.authenticate('sid1', 'slow');
  contexts.forget('sid1');
  const second = contexts.authenticate('sid1', 'good');
  const fresh = { user: { name: 'ann' }, session: { id: 'new' }, roles: [] };
  calls[1].resolve(fresh);
  assert.equal(await second, null);
  calls[0].resolve(late);
  await first;
  assert.equal(contexts.get('sid1'), fresh);
  contexts.forget('sid1');
  assert.deepEqual(contexts.get('sid1'), anonymous);
});
