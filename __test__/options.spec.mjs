// Options and constructor arguments are validated up front, with exact messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { ServerChannel, Module, startWebsocketServer } from '../lib/index.js';

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
    message: /category must be 1 to 128 bytes without ':'/,
  });
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
