// A websocket server in its own process, for the hardening suite: the test measures this
// process's RSS and descriptors from /proc while a hostile client attacks it.
// HARDENING_SERVER (env) is JSON:
//   mode       'standalone' (127.0.0.1, port 0) or 'attach' (an http.Server with its own `/ping` route)
//   options    more startWebsocketServer options (limits, timeouts)
//   channels   categories to register (ServerChannel without access check)
//   events     app events to register: 'echo' (async, acks its argument), 'hang' (never settles)
//   authenticate  'throw' for an authenticate that refuses everyone; absent: anonymous
// Sends { type: 'ready', port } on the IPC channel, then { type: 'handler-error', code, message,
// event } for every onError call. Takes { type: 'broadcast', category, id, size, count } (answers
// { type: 'broadcasted', count, ms }) and { type: 'close' }.
import http from 'node:http';
import { once } from 'node:events';
import { startWebsocketServer, ServerChannel } from '../../lib/index.js';

const config = JSON.parse(process.env.HARDENING_SERVER ?? '{}');
const channels = new Map((config.channels ?? []).map((category) => [category, new ServerChannel(category)]));
const handlers = {
  echo: async (socket, x) => x,
  hang: () => new Promise(() => {}),
};

const options = { channels: [...channels.values()], ...config.options };
if (config.authenticate === 'throw') {
  options.authenticate = () => {
    throw new Error('refused');
  };
}

let server;
let port;
try {
  if (config.mode === 'attach') {
    const httpServer = http.createServer((req, res) => {
      if (req.url === '/ping') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('pong');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    server = await startWebsocketServer({ httpServer, ...options });
    httpServer.listen(0, '127.0.0.1');
    await once(httpServer, 'listening');
    port = httpServer.address().port;
  } else {
    server = await startWebsocketServer({ host: '127.0.0.1', port: 0, ...options });
    port = server.port;
  }
} catch (error) {
  process.send({ type: 'error', message: error.message, code: error.code });
  process.exit(1);
}

for (const name of config.events ?? []) server.onEvent(name, handlers[name]);
server.onError((error, { event }) => {
  process.send({ type: 'handler-error', code: error?.code ?? null, message: String(error?.message ?? error), event });
});

process.send({ type: 'ready', port });

process.on('message', async (message) => {
  if (message.type === 'broadcast') {
    const channel = channels.get(message.category);
    const data = 'x'.repeat(message.size);
    const started = performance.now();
    for (let n = 0; n < message.count; n++) {
      channel.broadcast(message.id, data);
      // One broadcast per turn of the event loop, as an app's mutations would make them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    process.send({ type: 'broadcasted', count: message.count, ms: performance.now() - started });
  } else if (message.type === 'memory') {
    process.send({ type: 'memory', usage: process.memoryUsage() });
  } else if (message.type === 'close') {
    await server.close();
    process.exit(0);
  }
});
