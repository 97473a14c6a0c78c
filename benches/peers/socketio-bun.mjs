// Peer C: stock socket.io 4.8 on Bun, its websockets served by Bun's uWebSockets through
// @socket.io/bun-engine. The same app as server B (benches/servers/socketio.mjs): the same
// middleware and channel handlers, the same /bench routes. Those routes are served by Bun's
// node:http on a second port (the load generator's --control-port), so common.mjs runs
// unchanged; socket.io's clients connect to Bun.serve's port.
import { Server as Engine } from '@socket.io/bun-engine';
import { Server } from 'socket.io';
import { benchRoutes, createApp, listen } from '../servers/common.mjs';
import { serveChannels } from '../servers/socketio-app.mjs';

const engine = new Engine({ path: '/socket.io/', cors: { origin: '*', methods: ['GET', 'POST'] } });
const io = new Server();
io.bind(engine);
serveChannels(io);

const wsServer = Bun.serve({ hostname: process.env.BENCH_HOST || '127.0.0.1', port: 0, ...engine.handler() });

const control = createApp(
  benchRoutes(
    (category, id, data) => io.to(`${category}:${id}`).emit(category, data),
    () => ({ clients: engine.clients.size }),
  ),
);
listen(control, 'socketio-bun', () => wsServer.port);
