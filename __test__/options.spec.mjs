// Options and constructor arguments are validated up front, with exact messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { ServerChannel, Module, startWebsocketServer } from '../lib/index.js';

const require = createRequire(import.meta.url);
const { normalizeOptions } = require('../lib/options.js');

const cases = [
  ['options not an object', 'nope', 'startWebsocketServer(): options must be an object, got the string "nope"'],
  ['httpServer', { httpServer: {} }, 'startWebsocketServer(): options.httpServer must be an http.Server or https.Server, got an object'],
  ['port range', { port: 70000 }, 'startWebsocketServer(): options.port must be an integer from 0 to 65535, got number 70000'],
  ['both modes', { httpServer: http.createServer(), port: 1 }, "startWebsocketServer(): pass either httpServer (share the app's port) or port/host (listen on its own port), not both"],
  ['path', { path: 'socket.io' }, "startWebsocketServer(): options.path must be a URL path starting with '/' (default '/socket.io'), got the string \"socket.io\""],
  ['authenticate', { authenticate: 'x' }, 'startWebsocketServer(): options.authenticate must be a function (token) => AuthContext | Promise<AuthContext>, got the string "x"'],
  ['modules', { modules: [{}] }, 'startWebsocketServer(): options.modules must be an array of Module, got an array'],
  ['channels', { channels: 'chat' }, 'startWebsocketServer(): options.channels must be an array of ServerChannel, got the string "chat"'],
  ['cors', { cors: { origin: [] } }, "startWebsocketServer(): options.cors.origin must be '*', an origin string, or a non-empty array of origin strings, got an array"],
  ['timeout', { accessCheckTimeoutMs: 0 }, 'startWebsocketServer(): options.accessCheckTimeoutMs must be an integer from 1 to 2147483647, got number 0'],
  ['presence timeout', { presenceTimeoutMs: '5s' }, 'startWebsocketServer(): options.presenceTimeoutMs must be an integer from 1 to 2147483647, got the string "5s"'],
  ['read buffer', { wsReadBufferSize: 16 }, 'startWebsocketServer(): options.wsReadBufferSize must be an integer from 64 to 16777216, got number 16'],
  ['heartbeat', { heartbeatIntervalMs: -1 }, 'startWebsocketServer(): options.heartbeatIntervalMs must be an integer from 1 to 2147483647, got number -1'],
  ['send queue in bytes', { maxBufferedBytes: 512 }, 'startWebsocketServer(): options.maxBufferedBytes must be an integer from 1024 to 2147483647, got number 512'],
  ['send queue over 2 GiB', { maxBufferedBytes: 2 ** 31 }, 'startWebsocketServer(): options.maxBufferedBytes must be an integer from 1024 to 2147483647, got number 2147483648'],
  ['event timeout', { eventTimeoutMs: 0 }, 'startWebsocketServer(): options.eventTimeoutMs must be an integer from 1 to 2147483647, got number 0'],
  ['event timeout type', { eventTimeoutMs: '10s' }, 'startWebsocketServer(): options.eventTimeoutMs must be an integer from 1 to 2147483647, got the string "10s"'],
  ['in-flight events', { maxInflightEventsPerSocket: 65536 }, 'startWebsocketServer(): options.maxInflightEventsPerSocket must be an integer from 1 to 65535, got number 65536'],
  ['in-flight events zero', { maxInflightEventsPerSocket: 0 }, 'startWebsocketServer(): options.maxInflightEventsPerSocket must be an integer from 1 to 65535, got number 0'],
  ['pending hook calls', { maxPendingHookCalls: 1.5 }, 'startWebsocketServer(): options.maxPendingHookCalls must be an integer from 1 to 1000000, got number 1.5'],
  ['pending hook calls over 1e6', { maxPendingHookCalls: 1e6 + 1 }, 'startWebsocketServer(): options.maxPendingHookCalls must be an integer from 1 to 1000000, got number 1000001'],
  ['recovery as a string', { connectionStateRecovery: 'on' }, 'startWebsocketServer(): options.connectionStateRecovery must be a boolean or an object like { maxDisconnectionDuration: 120000 }, got the string "on"'],
  ['recovery window of 0', { connectionStateRecovery: { maxDisconnectionDuration: 0 } }, 'startWebsocketServer(): options.connectionStateRecovery.maxDisconnectionDuration must be an integer from 1 to 2147483647 (ms), got number 0'],
  ['an unknown recovery key', { connectionStateRecovery: { skipMiddlewares: true } }, 'startWebsocketServer(): options.connectionStateRecovery.skipMiddlewares is not an option; use maxDisconnectionDuration, maxMessagesPerChannel, maxHistoryBytes'],
  ['metrics', { metrics: 'yes' }, "startWebsocketServer(): options.metrics must be true, false or an object like { path: '/metrics' }, got the string \"yes\""],
  ['metrics null', { metrics: null }, "startWebsocketServer(): options.metrics must be true, false or an object like { path: '/metrics' }, got null"],
  ['metrics path', { metrics: { path: 'metrics' } }, "startWebsocketServer(): options.metrics.path must be a URL path starting with '/' (default '/metrics'), got the string \"metrics\""],
  ['metrics path with a query', { metrics: { path: '/metrics?x=1' } }, "startWebsocketServer(): options.metrics.path must be a URL path starting with '/' (default '/metrics'), got the string \"/metrics?x=1\""],
  ['metrics path type', { metrics: { path: null } }, "startWebsocketServer(): options.metrics.path must be a URL path starting with '/' (default '/metrics'), got null"],
  ['metrics path under the Engine.IO path', { metrics: { path: '/socket.io/metrics' } }, 'startWebsocketServer(): options.metrics.path must be a path outside options.path ("/socket.io"), got the string "/socket.io/metrics"'],
  ['metrics path equal to the Engine.IO path', { path: '/ws/', metrics: { path: '/ws' } }, 'startWebsocketServer(): options.metrics.path must be a path outside options.path ("/ws"), got the string "/ws"'],
  ['metrics option', { metrics: { path: '/metrics', authorize: () => true } }, 'startWebsocketServer(): options.metrics.authorize is not an option; metrics takes { path }'],
  [
    'duplicate categories',
    { channels: [new ServerChannel('chat'), new ServerChannel('chat')] },
    'startWebsocketServer(): channel category "chat" is registered twice; give each ServerChannel its own category',
  ],
];

for (const [what, opts, message] of cases) {
  test(`startWebsocketServer rejects a bad ${what}`, async () => {
    await assert.rejects(startWebsocketServer(opts), { name: 'TypeError', code: 'MNW_INVALID_OPTION', message });
  });
}

test('ServerChannel validates its category and access check', () => {
  assert.throws(() => new ServerChannel(5), {
    name: 'TypeError',
    message: 'new ServerChannel(): category must be a string, got number 5',
  });
  assert.throws(() => new ServerChannel('a:b'), {
    name: 'TypeError',
    message: /category must be 1 to 254 bytes without ':'/,
  });
  assert.throws(() => new ServerChannel('c'.repeat(255)), {
    name: 'TypeError',
    message:
      /category must be 1 to 254 bytes without ':' \(the separator before the id; a channel name `category:id` is at most 256 bytes\)/,
  });
  assert.equal(new ServerChannel('c'.repeat(254)).category.length, 254);
  assert.throws(() => new ServerChannel('chat', 'yes'), {
    name: 'TypeError',
    message:
      'new ServerChannel("chat"): canAccessChannel must be a function returning a boolean or a Promise of one, got the string "yes"',
  });
  const channel = new ServerChannel('chat');
  assert.equal(channel.category, 'chat');
  assert.equal(channel.canAccessChannel, null);
});

test('Module validates its arguments and exposes its channels', () => {
  assert.throws(() => new Module(''), { name: 'TypeError', message: 'new Module(): name must be a non-empty string, got the string ""' });
  assert.throws(() => new Module('m', { channels: 'x' }), { name: 'TypeError', message: /channels must be an array of ServerChannel/ });
  const chat = new ServerChannel('chat');
  const module = new Module('chat', { channels: [chat] });
  assert.equal(module.name, 'chat');
  assert.deepEqual(module.channels, [chat]);
});

test('channels come from modules and the channels option together', async (t) => {
  const a = new ServerChannel('a');
  const b = new ServerChannel('b');
  const server = await startWebsocketServer({ host: '127.0.0.1', port: 0, modules: [new Module('m', { channels: [a] })], channels: [b] });
  t.after(() => server.close());
  a.broadcast('1', 'ok');
  b.broadcast('1', 'ok');
});

test('the hardening limits reach the native options; unset ones keep the native defaults', () => {
  const limits = {
    maxBufferedBytes: 1024,
    eventTimeoutMs: 1,
    maxInflightEventsPerSocket: 65535,
    maxPendingHookCalls: 1e6,
  };
  const { nativeOptions } = normalizeOptions({ port: 0, ...limits });
  assert.deepEqual(Object.fromEntries(Object.keys(limits).map((key) => [key, nativeOptions[key]])), limits);
  const defaults = normalizeOptions({ port: 0 }).nativeOptions;
  for (const key of Object.keys(limits)) assert.equal(defaults[key], undefined, key);
});

test('connectionStateRecovery: on for two minutes by default, false turns it off, an object sets the window and history bounds', () => {
  const nativeOf = (value) => normalizeOptions({ port: 0, connectionStateRecovery: value }).nativeOptions;
  const windowOf = (value) => nativeOf(value).recoveryWindowMs;
  assert.equal(normalizeOptions({ port: 0 }).nativeOptions.recoveryWindowMs, 120000);
  assert.equal(windowOf(false), undefined);
  assert.equal(windowOf(true), 120000);
  assert.equal(windowOf({}), 120000);
  assert.equal(windowOf({ maxDisconnectionDuration: 5000 }), 5000);
  const bounded = nativeOf({ maxMessagesPerChannel: 10, maxHistoryBytes: 4096 });
  assert.equal(bounded.recoveryMessagesPerChannel, 10);
  assert.equal(bounded.recoveryHistoryBytes, 4096);
  assert.throws(() => nativeOf({ maxHistoryBytes: 10 }), {
    name: 'TypeError',
    code: 'MNW_INVALID_OPTION',
    message: 'startWebsocketServer(): options.connectionStateRecovery.maxHistoryBytes must be an integer from 1024 to 2147483647 (bytes), got number 10',
  });
});

test('a server starts with every hardening limit set', async (t) => {
  const server = await startWebsocketServer({
    host: '127.0.0.1',
    port: 0,
    maxBufferedBytes: 4 * 1024 * 1024,
    eventTimeoutMs: 10000,
    maxInflightEventsPerSocket: 16,
    maxPendingHookCalls: 1024,
  });
  t.after(() => server.close());
  assert.ok(server.port > 0);
});

test('a category the native side refuses rejects with MNW_INVALID_OPTION', async () => {
  const channels = [new ServerChannel('bad\ncategory')];
  await assert.rejects(startWebsocketServer({ host: '127.0.0.1', port: 0, channels }), {
    name: 'TypeError',
    code: 'MNW_INVALID_OPTION',
    message: /^startWebsocketServer\(\): channel category .* is invalid: .*control characters/,
  });
});

test('metrics: the route path in attach mode stays in JS; standalone, the native side serves it', () => {
  const httpServer = http.createServer();
  const attached = normalizeOptions({ httpServer, metrics: true });
  assert.equal(attached.metricsPath, '/metrics');
  assert.equal(attached.nativeOptions.metricsPath, undefined);
  const standalone = normalizeOptions({ port: 0, metrics: { path: '/internal/metrics' } });
  assert.equal(standalone.metricsPath, '/internal/metrics');
  assert.equal(standalone.nativeOptions.metricsPath, '/internal/metrics');
  assert.equal(normalizeOptions({ port: 0, metrics: {} }).nativeOptions.metricsPath, '/metrics');
  for (const metrics of [undefined, false]) {
    const off = normalizeOptions({ port: 0, metrics });
    assert.equal(off.metricsPath, null);
    assert.equal(off.nativeOptions.metricsPath, undefined);
  }
  // With the Engine.IO path at the root, only '/' itself is taken.
  assert.equal(normalizeOptions({ port: 0, path: '/', metrics: true }).metricsPath, '/metrics');
});
