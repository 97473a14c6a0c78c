// Stock socket.io's Redis adapter for the cluster bench (benches/servers/socketio.mjs loads
// this when BENCH_REDIS_URL is set). Its packages live in benches/cluster/node_modules, which
// deps.mjs installs on demand, so `npm install` and `npm test` never need them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * `@socket.io/redis-adapter`'s default adapter over two `redis` (node-redis 4) clients, one to
 * publish and one to subscribe, set up as its README shows. Resolves to the adapter factory
 * for `io.adapter(...)`.
 */
export async function redisAdapter(url) {
  const { createClient } = require('redis');
  const { createAdapter } = require('@socket.io/redis-adapter');
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on('error', (error) => process.stderr.write(`redis client: ${error.message}\n`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  return createAdapter(pubClient, subClient);
}
