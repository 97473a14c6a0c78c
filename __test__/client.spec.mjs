// The browser helper (`modelence-native-ws/client`) driven from Node against a real server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { ClientChannel, startWebsockets, stopWebsockets, getSocket } from '../client/index.js';
import { startServer, waitFor, fires, eventually, sleep } from './support/helpers.mjs';
import { resetProxy } from './support/reset-proxy.mjs';

/** A ClientChannel whose messages and errors land in arrays. */
function recordingChannel(category) {
  const messages = [];
  const errors = [];
  const channel = new ClientChannel(category, (data, id) => messages.push({ data, id }), {
    onError: (err) => errors.push(err),
  });
  return { channel, messages, errors };
}

/** Starts the helper against `url`, stopping it after the test. */
function start(t, url, opts) {
  t.after(() => stopWebsockets());
  return startWebsockets({ url, ...opts });
}

test('a join queued before connect is sent on connect and messages reach onMessage with the id', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('general');
  const socket = start(t, url, { channels: [channel] });
  assert.equal(await waitFor(socket, 'joinedChannel'), 'chat:general');

  server.broadcast('chat', 'general', { text: 'hi' });
  await eventually(() => messages.length === 1, 3000, 'the broadcast');
  assert.deepEqual(messages, [{ data: { text: 'hi' }, id: 'general' }]);
  assert.equal(getSocket(), socket);
});

test('onMessage gets id undefined while several ids of the category are joined', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const { channel, messages } = recordingChannel('chat');
  const socket = start(t, url, { channels: [channel] });
  await waitFor(socket, 'connect');
  const joined = [];
  socket.on('joinedChannel', (name) => joined.push(name));
  channel.joinChannel('a');
  channel.joinChannel('b');
  await eventually(() => joined.length === 2, 3000, 'both joins');

  server.broadcast('chat', 'b', 'to b');
  await eventually(() => messages.length === 1, 3000, 'the broadcast');
  assert.deepEqual(messages, [{ data: 'to b', id: undefined }]);
});

test('after leaveChannel no message reaches onMessage', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('general');
  const socket = start(t, url, { channels: [channel] });
  await waitFor(socket, 'joinedChannel');

  channel.leaveChannel('general');
  assert.equal(await waitFor(socket, 'leftChannel'), 'chat:general');
  server.broadcast('chat', 'general', 'too late');
  await sleep(200);
  assert.deepEqual(messages, []);
});

test('a refused join reaches onError and is not joined again after a reconnect', async (t) => {
  const secret = new ServerChannel('secret', ({ roles }) => roles.includes('admin'));
  const { url } = await startServer(t, { channels: [secret], authenticate: () => ({ user: null, session: null, roles: [] }) });
  const { channel, errors } = recordingChannel('secret');
  channel.joinChannel('vault');
  const socket = start(t, url, { channels: [channel] });
  await eventually(() => errors.length === 1, 3000, 'onError');
  assert.deepEqual(errors, [{ channel: 'secret:vault', error: 'Access denied' }]);

  socket.disconnect().connect();
  await waitFor(socket, 'connect');
  assert.equal(await fires(socket, 'joinError', 300), false, 'the refused join was retried');
});

test('the token is sent as auth and a token function is read again on every connect', async (t) => {
  const seen = [];
  const authenticate = (token) => {
    seen.push(token);
    return { user: null, session: null, roles: [] };
  };
  const { url } = await startServer(t, { channels: [new ServerChannel('chat')], authenticate });
  let token = 'first';
  const socket = start(t, url, { channels: [], token: () => token });
  await waitFor(socket, 'connect');
  token = 'second';
  socket.disconnect().connect();
  await waitFor(socket, 'connect');
  assert.deepEqual(seen, ['first', 'second']);
});

test('every joined channel is joined again after the server restarts, without a new joinChannel', async (t) => {
  const chat = new ServerChannel('chat');
  let server = await startWebsocketServer({ host: '127.0.0.1', port: 0, channels: [chat] });
  t.after(() => server.close());
  const port = server.port;
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('general');
  const socket = start(t, `http://127.0.0.1:${port}`, { channels: [channel] });
  await waitFor(socket, 'joinedChannel');

  await server.close();
  server = await startWebsocketServer({ host: '127.0.0.1', port, channels: [chat] });
  // socket.io-client's first reconnect attempt comes after 0.5 to 1.5 s.
  assert.equal(await waitFor(socket, 'joinedChannel', 8000), 'chat:general');
  chat.broadcast('general', 'after restart');
  await eventually(() => messages.length === 1, 3000, 'the broadcast after the restart');
  assert.deepEqual(messages, [{ data: 'after restart', id: 'general' }]);
});

test('a channel first joined after startWebsockets is registered then; a second one of its category is refused', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const socket = start(t, url, { channels: [] });
  await waitFor(socket, 'connect');
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('late');
  assert.equal(await waitFor(socket, 'joinedChannel'), 'chat:late');
  server.broadcast('chat', 'late', 'welcome');
  await eventually(() => messages.length === 1, 3000, 'the broadcast');
  assert.deepEqual(messages, [{ data: 'welcome', id: 'late' }]);

  const twin = new ClientChannel('chat', () => {});
  assert.throws(() => twin.joinChannel('late'), { message: /two ClientChannel objects use the category "chat"/ });
  assert.equal(await fires(socket, 'joinedChannel', 200), false, 'the refused twin sent a join');
});

test('stopWebsockets disconnects and forgets the joined channels', async (t) => {
  const chat = new ServerChannel('chat');
  const { url, server } = await startServer(t, { channels: [chat] });
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('general');
  const first = start(t, url, { channels: [channel] });
  await waitFor(first, 'joinedChannel');

  stopWebsockets();
  assert.equal(getSocket(), null);
  assert.equal(first.connected, false);
  server.broadcast('chat', 'general', 'nobody listens');

  const second = start(t, url, { channels: [channel] });
  await waitFor(second, 'connect');
  assert.equal(await fires(second, 'joinedChannel', 300), false, 'a forgotten channel was joined again');
  assert.deepEqual(messages, []);
});

test('invalid arguments are refused with a TypeError naming the mistake', () => {
  assert.throws(() => new ClientChannel('chat:room', () => {}), {
    name: 'TypeError',
    message: /category must be a non-empty string without ':'/,
  });
  assert.throws(() => new ClientChannel('connect', () => {}), { message: /not a socket\.io event name/ });
  assert.throws(() => new ClientChannel('chat'), { message: 'new ClientChannel("chat"): onMessage must be a function' });
  assert.throws(() => new ClientChannel('chat', () => {}).joinChannel(7), {
    message: 'ClientChannel("chat").joinChannel: id must be a string',
  });
  assert.throws(() => startWebsockets({ channels: [{ category: 'chat' }] }), {
    message: 'startWebsockets(): options.channels must be an array of ClientChannel',
  });
  assert.throws(() => startWebsockets({ channels: [], token: 42 }), { message: /options\.token must be a string/ });
  const a = new ClientChannel('chat', () => {});
  const b = new ClientChannel('chat', () => {});
  assert.throws(() => startWebsockets({ url: 'http://127.0.0.1:1', channels: [a, b] }), {
    message: /two ClientChannel objects of one category/,
  });
  assert.equal(getSocket(), null, 'a refused start opened a socket');
});

test('index.d.ts types a channel payload through its generic', async () => {
  const ts = createRequire(import.meta.url)('typescript');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.join(here, '__client_types__.ts');
  const source = `
    import { ClientChannel, startWebsockets, type ChannelError } from '../client/index.js';
    const chat = new ClientChannel<{ text: string }>('chat', (m, id) => m.text.toUpperCase() + (id ?? ''), {
      onError: (e: ChannelError) => e.error,
    });
    startWebsockets({ channels: [chat], token: () => null }).emit('x');
    // @ts-expect-error the payload has no field 'missing'
    new ClientChannel<{ text: string }>('chat', (m) => m.missing);
  `;
  const options = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, types: [] };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, ...rest) =>
    name === file ? ts.createSourceFile(name, source, ts.ScriptTarget.ES2022) : getSourceFile.call(host, name, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  const messages = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.deepEqual(messages, []);
});

test('after a recovered reconnect the helper re-joins nothing, and sends only the joins and leaves made while away', async (t) => {
  const chat = new ServerChannel('chat');
  const { server, port } = await startServer(t, { standalone: true, channels: [chat] });
  const proxy = await resetProxy(t, port);
  const { channel, messages } = recordingChannel('chat');
  channel.joinChannel('a');
  channel.joinChannel('b');
  const socket = start(t, proxy.url, { channels: [channel] });
  await eventually(async () => (await server.stats()).categories.chat.joins.ok === 2, 3000, 'both joins');
  proxy.refuse(300);
  proxy.reset();
  await waitFor(socket, 'disconnect');
  channel.leaveChannel('b');
  channel.joinChannel('c');
  await waitFor(socket, 'connect', 5000);
  assert.equal(socket.recovered, true);
  await eventually(async () => (await server.stats()).categories.chat.joins.ok === 3, 3000, 'the join made while away');
  await eventually(async () => (await server.stats()).categories.chat.leaves === 1, 3000, 'the leave made while away');
  for (const id of ['a', 'b', 'c']) server.broadcast('chat', id, id);
  await eventually(() => messages.length === 2, 3000, 'the broadcasts to a and c');
  await sleep(50);
  assert.deepEqual(messages.map((m) => m.data).sort(), ['a', 'c'], 'a restored without a re-join, b left, c joined');
  assert.equal((await server.stats()).categories.chat.joins.ok, 3, 'a was not joined again');
});
