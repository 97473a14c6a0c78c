// Stock socket.io's MongoDB adapter for the cluster bench (benches/servers/socketio.mjs loads
// this when BENCH_MONGODB_URL is set). Its packages live in benches/cluster/node_modules, which
// deps.mjs installs on demand, so `npm install` and `npm test` never need them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The collection stock socket.io's adapter writes to, as in the adapter's README. */
export const SOCKETIO_COLLECTION = 'socket.io-adapter-events';

/**
 * `@socket.io/mongo-adapter` over one `mongodb` client, set up as its README's "TTL index"
 * variant (documents stamped with `createdAt`, expired after an hour: what the product does
 * by default). Resolves to the adapter factory for `io.adapter(...)`.
 */
export async function mongoAdapter(uri, dbName) {
  const { MongoClient } = require('mongodb');
  const { createAdapter } = require('@socket.io/mongo-adapter');
  const client = new MongoClient(uri);
  await client.connect();
  const collection = client.db(dbName).collection(SOCKETIO_COLLECTION);
  await collection.createIndex({ createdAt: 1 }, { expireAfterSeconds: 3600, background: true });
  return createAdapter(collection, { addCreatedAtField: true });
}
