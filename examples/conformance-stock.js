'use strict';

/**
 * The reference for `conformance-server.js`: Node's own socket.io (a dev dependency) set up
 * the same way (attach mode, one `node:http` server on PORT, default 3000), so both protocol
 * suites can be run against it and the results compared.
 *
 * - /socket.io: the socket.io-protocol suite's reference server (`auth` echoed on connection,
 *   `message` → `message-back`, `message-with-ack` acknowledged with its arguments, and the
 *   `/custom` namespace);
 * - /engine.io: a socket.io server too, with no handlers (the product serves Socket.IO there
 *   as well; the Engine.IO suite's raw message echo needs a bare engine.io server).
 */
const http = require('node:http');
const { Server } = require('socket.io');

const PORT = Number(process.env.PORT || 3000);
const COMMON = Object.freeze({ pingInterval: 300, pingTimeout: 200, maxHttpBufferSize: 1e6, cors: { origin: '*' } });

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found');
});
const io = new Server(httpServer, { ...COMMON, path: '/socket.io', connectTimeout: 1000 });
io.on('connection', (socket) => {
  socket.emit('auth', socket.handshake.auth);
  socket.on('message', (...args) => socket.emit('message-back', ...args));
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    ack(...args);
  });
});
io.of('/custom').on('connection', (socket) => socket.emit('auth', socket.handshake.auth));
const engineIo = new Server(httpServer, { ...COMMON, path: '/engine.io' });

httpServer.listen(PORT, () => {
  console.log(`stock socket.io (attach mode): /socket.io and /engine.io on http://localhost:${PORT}`);
});
const shutdown = () => {
  io.close();
  engineIo.close();
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
