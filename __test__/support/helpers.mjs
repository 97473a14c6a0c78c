// Shared test helpers: real servers on port 0, real socket.io clients, bounded waits.
// Every helper registers its cleanup with the test context it is given.
import http from 'node:http';
import { once } from 'node:events';
import { io as ioClient } from 'socket.io-client';
import { startWebsocketServer } from '../../lib/index.js';

/** Waits for `event` on `emitter`, failing after `ms`. Resolves to the first argument. */
export function waitFor(emitter, event, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    const onEvent = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, onEvent);
  });
}

/** Resolves `true` if `event` fires within `ms`, `false` otherwise. */
export function fires(emitter, event, ms = 300) {
  return waitFor(emitter, event, ms).then(
    () => true,
    () => false,
  );
}

/** Sleeps `ms` milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts a server in attach mode on a fresh `http.Server` with an app route `/hello`
 * (or standalone with `{ standalone: true }`), listening on port 0.
 * Returns `{ url, port, server, httpServer, close }`; cleanup is registered on `t`.
 */
export async function startServer(t, opts = {}) {
  const { standalone, ...serverOpts } = opts;
  if (standalone) {
    const server = await startWebsocketServer({ host: '127.0.0.1', port: 0, ...serverOpts });
    const close = () => server.close();
    t.after(close);
    return { url: `http://127.0.0.1:${server.port}`, port: server.port, server, close };
  }
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/hello') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from the app');
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  const server = await startWebsocketServer({ httpServer, ...serverOpts });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  const port = httpServer.address().port;
  const close = async () => {
    await server.close();
    httpServer.closeAllConnections?.();
    await new Promise((r) => httpServer.close(() => r()));
  };
  t.after(close);
  return { url: `http://127.0.0.1:${port}`, port, server, httpServer, close };
}

/**
 * Connects a real socket.io-client (websocket only by default, like Modelence's client) and
 * waits for `connect`. Pass `{ expectError: true }` to resolve on `connect_error` instead.
 */
export async function connect(t, url, opts = {}) {
  const { expectError, ...clientOpts } = opts;
  const socket = ioClient(url, { transports: ['websocket'], reconnection: false, forceNew: true, ...clientOpts });
  t.after(() => socket.close());
  if (expectError) {
    const error = await waitFor(socket, 'connect_error');
    return { socket, error };
  }
  await Promise.race([
    waitFor(socket, 'connect'),
    waitFor(socket, 'connect_error').then((e) => {
      throw new Error(`connect_error: ${e.message}`);
    }),
  ]);
  return socket;
}

/** Joins `channel` and resolves with the reply: `{ joined: name }` or `{ error: {...} }`. */
export function join(socket, channel, ms = 3000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(reject, new Error(`no reply to joinChannel(${JSON.stringify(channel)})`)), ms);
    const onJoined = (name) => {
      if (name === channel) done(resolve, { joined: name });
    };
    // The server names the channel only when it can echo it (a string within the length limit).
    const onError = (payload) => {
      if (payload.channel === null || JSON.stringify(payload.channel) === JSON.stringify(channel)) {
        done(resolve, { error: payload });
      }
    };
    function done(fn, value) {
      clearTimeout(timer);
      socket.off('joinedChannel', onJoined);
      socket.off('joinError', onError);
      fn(value);
    }
    socket.on('joinedChannel', onJoined);
    socket.on('joinError', onError);
    socket.emit('joinChannel', channel);
  });
}

/** Collects every `event` received by `socket` into an array. */
export function collect(socket, event) {
  const received = [];
  socket.on(event, (data) => received.push(data));
  return received;
}

/** Polls `predicate` until true, failing after `ms`. */
export async function eventually(predicate, ms = 3000, what = 'condition') {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(10);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}
