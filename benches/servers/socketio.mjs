// Benchmark server B: stock socket.io 4.8 set up as Modelence sets it up (websocket-protocol
// options, an auth middleware calling the same authenticate, joinChannel/leaveChannel as in
// Modelence's server.ts), without extra tuning. Two deliberate differences from Modelence:
// no console.log per connection/join (it would only slow socket.io down) and no MongoDB
// adapter (the product runs its local adapter here too).
import { Server } from 'socket.io';
import { benchRoutes, createApp, listen } from './common.mjs';
import { serveChannels } from './socketio-app.mjs';

let io;
const httpServer = createApp(
  benchRoutes(
    (category, id, data) => io.to(`${category}:${id}`).emit(category, data),
    () => ({ clients: io.engine.clientsCount }),
  ),
);

io = new Server(httpServer, {
  cors: { origin: '*', methods: ['GET', 'POST'] },
  transports: ['websocket'],
  perMessageDeflate: false,
});
serveChannels(io);

// The cluster bench (benches/cluster/): instances share a Redis server through stock
// @socket.io/redis-adapter, or a MongoDB database through @socket.io/mongo-adapter, both
// installed for that bench only.
if (process.env.BENCH_REDIS_URL) {
  const { redisAdapter } = await import('../cluster/socketio-redis.mjs');
  io.adapter(await redisAdapter(process.env.BENCH_REDIS_URL));
} else if (process.env.BENCH_MONGODB_URL) {
  const { mongoAdapter } = await import('../cluster/socketio-mongo.mjs');
  io.adapter(await mongoAdapter(process.env.BENCH_MONGODB_URL, process.env.BENCH_MONGODB_DB));
}

listen(httpServer, 'socketio');
