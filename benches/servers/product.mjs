// Benchmark server A: this product in attach mode inside a small Node http app, with the
// app's async authenticate and async canAccessChannel in the path, as a Modelence app has.
import { createRequire } from 'node:module';
import { CATEGORY, authenticate, canAccessChannel, benchRoutes, createApp, listen } from './common.mjs';

const require = createRequire(import.meta.url);
const { ServerChannel, Module, startWebsocketServer } = require('../../lib/index.js');

// BENCH_PRODUCT_HOOKS=off (diagnostic): no authenticate and no access check, so no JS runs
// per connection: with standalone mode, the native connect path alone.
const hooks = process.env.BENCH_PRODUCT_HOOKS !== 'off';
const benchChannel = new ServerChannel(CATEGORY, hooks ? canAccessChannel : undefined);
const channels = { [CATEGORY]: benchChannel };

const httpServer = createApp(benchRoutes((category, id, data) => channels[category].broadcast(id, data)));
// BENCH_PRODUCT_MODE=standalone (diagnostic): the native server listens on its own port and
// the app (with the /bench routes) on another, so Node neither accepts nor hands over the
// websocket connections (the hooks below still run in JS).
const standalone = process.env.BENCH_PRODUCT_MODE === 'standalone';
// BENCH_PRODUCT_METRICS=1: the metrics route on, and the metrics read once a second.
const metrics = process.env.BENCH_PRODUCT_METRICS === '1';
// BENCH_PRODUCT_RECOVERY=on|off: connection state recovery on or off (absent: the default).
const recovery = process.env.BENCH_PRODUCT_RECOVERY;
const server = await startWebsocketServer({
  ...(standalone ? { port: 0, host: process.env.BENCH_HOST || '127.0.0.1' } : { httpServer }),
  modules: [new Module('bench', { channels: [benchChannel] })],
  ...(hooks ? { authenticate } : {}),
  ...(metrics ? { metrics: true } : {}),
  ...(recovery ? { connectionStateRecovery: recovery === 'on' } : {}),
  // The cluster bench (benches/cluster/): instances share a Redis server or a MongoDB database.
  ...(process.env.BENCH_REDIS_URL ? { redis: { url: process.env.BENCH_REDIS_URL } } : {}),
  ...(process.env.BENCH_MONGODB_URL ? { mongodb: { uri: process.env.BENCH_MONGODB_URL, dbName: process.env.BENCH_MONGODB_DB } } : {}),
});
if (metrics) setInterval(() => server.metrics().catch(() => {}), 1000).unref();
listen(httpServer, standalone ? 'standalone' : 'product', () => (standalone ? server.port : null));
