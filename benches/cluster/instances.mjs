// The cluster's server instances: one child process each (`node --expose-gc`), the product or
// stock socket.io, every one given the same backend: Redis through BENCH_REDIS_URL, or MongoDB
// through BENCH_MONGODB_URL and BENCH_MONGODB_DB.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, untilReady } from '../lib/runner.mjs';
import { requestJson } from './http.mjs';
import { cpuSeconds, rssBytes } from './proc.mjs';

/** The servers the cluster bench compares, in the order each scenario runs them. */
export const CLUSTER_SERVERS = {
  product: { label: { redis: 'modelence-native-ws, redis: { url }', mongodb: 'modelence-native-ws, mongodb: { uri }' }, short: 'A', script: 'benches/servers/product.mjs' },
  socketio: { label: { redis: 'socket.io 4.8 + @socket.io/redis-adapter', mongodb: 'socket.io 4.8 + @socket.io/mongo-adapter' }, short: 'B', script: 'benches/servers/socketio.mjs' },
};

/** The environment that points an instance at `backend` (see redis.mjs and mongo.mjs). */
function backendEnv(backend) {
  if (backend.kind === 'redis') return { BENCH_REDIS_URL: backend.url };
  return { BENCH_MONGODB_URL: backend.url, BENCH_MONGODB_DB: backend.dbName };
}

/**
 * Starts instance `index` of server `kind` against `backend`; resolves once it listens.
 * Returns `{ kind, index, port, pid, stats(gc), cpuSeconds(), rssBytes(), stderr(), stop() }`.
 */
export async function startInstance(kind, index, backend) {
  const { script } = CLUSTER_SERVERS[kind];
  const env = { ...process.env, ...backendEnv(backend) };
  const child = spawn(process.execPath, ['--expose-gc', path.join(ROOT, script)], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = await untilReady(child, exited, { what: `${kind} instance ${index}`, seconds: 30, stderr: () => stderr });
  let alive = true;
  exited.then(() => (alive = false));
  return {
    kind,
    index,
    port: ready.port,
    pid: child.pid,
    alive: () => alive,
    /** The server's own /bench/stats (after a full GC when `gc`): RSS, CPU, threads. */
    stats: (gc = false) => requestJson(ready.controlPort ?? ready.port, 'GET', gc ? '/bench/stats?gc=1' : '/bench/stats'),
    cpuSeconds: () => cpuSeconds(child.pid),
    rssBytes: () => rssBytes(child.pid),
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Starts `count` instances of `kind` at once; if one fails, stops the others and throws. */
export async function startInstances(kind, count, backend) {
  const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => startInstance(kind, i, backend)));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(started.filter((s) => s.status === 'fulfilled').map((s) => s.value.stop()));
    throw failed.reason;
  }
  return started.map((s) => s.value);
}
