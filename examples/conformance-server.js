'use strict';

/**
 * The server under test for the public protocol test suites:
 *
 * - Socket.IO: https://github.com/socketio/socket.io-protocol (test-suite/), path /socket.io
 * - Engine.IO: https://github.com/socketio/engine.io-protocol (test-suite/), path /engine.io
 *
 * Both suites expect `http://localhost:3000` with a 300 ms ping interval, a 200 ms ping
 * timeout and a 1e6-byte max payload. Run: `PORT=3000 node examples/conformance-server.js`.
 *
 * MODE=attach (default): one `node:http` server on PORT carrying two native servers, one on
 *   /socket.io and one on /engine.io, so both suites run against the same process.
 * MODE=standalone: the native server listens on PORT itself; it has a single path, chosen
 *   with SUITE=socket.io (default) or SUITE=engine.io.
 *
 * What the suites expect that this product cannot do (see the README's "Protocol
 * conformance" section): custom namespaces (only `/` is served) and Engine.IO-level echo of
 * raw messages (the product is a Socket.IO server: every Engine.IO message is parsed as a
 * Socket.IO packet).
 */
const http = require('node:http');
const { startWebsocketServer, ackArgs } = require('../lib/index.js');

const PORT = Number(process.env.PORT || 3000);
const MODE = process.env.MODE || 'attach';
const SUITE = process.env.SUITE || 'socket.io';

/** What both reference servers are configured with. */
const COMMON = Object.freeze({
  pingInterval: 300,
  pingTimeout: 200,
  maxHttpBufferSize: 1e6,
  cors: { origin: '*' },
});

/**
 * The Socket.IO suite's server: `connectTimeout: 1000`, emits `auth` with the handshake's auth
 * payload on connection, echoes `message` as `message-back`, acknowledges `message-with-ack`
 * with its arguments.
 */
function socketIoOptions() {
  return {
    ...COMMON,
    path: '/socket.io',
    connectTimeout: 1000,
    // The product hands the app only `auth.token` (a string or null), not the whole auth
    // object, so the handshake payload is rebuilt from it: `{}` or `{ token }`.
    authenticate: (token) => ({ user: null, session: { handshakeAuth: token === null ? {} : { token } }, roles: [] }),
  };
}

function setUpSocketIo(server) {
  server.onConnection((socket) => {
    socket.emit('auth', socket.auth.session.handshakeAuth);
  });
  server.onEvent('message', (socket, ...args) => {
    socket.emit('message-back', ...args);
  });
  // Acknowledged with the arguments as separate values, as the reference server's `ack(...args)`.
  server.onEvent('message-with-ack', (socket, ...args) => ackArgs(...args));
  return server;
}

/** The Engine.IO suite's server: no Socket.IO connect is expected, so no connect timeout. */
function engineIoOptions() {
  return { ...COMMON, path: '/engine.io' };
}

async function main() {
  const servers = [];
  let httpServer = null;
  if (MODE === 'attach') {
    httpServer = http.createServer((req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
    servers.push(setUpSocketIo(await startWebsocketServer({ httpServer, ...socketIoOptions() })));
    servers.push(await startWebsocketServer({ httpServer, ...engineIoOptions() }));
    await new Promise((resolve, reject) => {
      httpServer.once('error', reject);
      httpServer.listen(PORT, resolve);
    });
    console.log(`conformance server (attach mode): /socket.io and /engine.io on http://localhost:${PORT}`);
  } else if (MODE === 'standalone') {
    if (SUITE === 'engine.io') {
      servers.push(await startWebsocketServer({ port: PORT, ...engineIoOptions() }));
    } else if (SUITE === 'socket.io') {
      servers.push(setUpSocketIo(await startWebsocketServer({ port: PORT, ...socketIoOptions() })));
    } else {
      throw new Error(`SUITE must be 'socket.io' or 'engine.io', got ${JSON.stringify(SUITE)}`);
    }
    console.log(`conformance server (standalone mode): /${SUITE} on http://localhost:${PORT}`);
  } else {
    throw new Error(`MODE must be 'attach' or 'standalone', got ${JSON.stringify(MODE)}`);
  }

  const shutdown = async () => {
    await Promise.all(servers.map((server) => server.close()));
    if (httpServer) httpServer.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
