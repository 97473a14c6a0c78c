// What every benchmark server shares: the app's authenticate and access check, the broadcast
// payload, the /bench control routes the load generator drives, and process statistics.
// Each server runs in its own child process (benches/run.mjs spawns it with --expose-gc, or
// on Bun for the peers in benches/peers/).
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** The channel category every scenario uses; clients join `bench:<prefix><n>`. */
export const CATEGORY = 'bench';

/** Ticks per second of /proc CPU times. */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/**
 * Microseconds on CLOCK_MONOTONIC (Node's `process.hrtime` reads it; so does the load
 * generator; on Bun, bun-clock.mjs reads it), the send stamp of every broadcast: one clock
 * for every process on the machine.
 */
export const monoUs = globalThis.Bun ? (await import('./bun-clock.mjs')).monoUs : nodeMonoUs;

function nodeMonoUs() {
  const [s, ns] = process.hrtime();
  return s * 1e6 + Math.floor(ns / 1e3);
}

/** A full, synchronous GC: `--expose-gc`'s `gc()` on Node, `Bun.gc(true)` on Bun. */
function fullGc() {
  if (globalThis.Bun) globalThis.Bun.gc(true);
  else if (typeof global.gc === 'function') global.gc();
}

/**
 * The app's session lookup, as a Modelence app's `authenticate` does it (async, one
 * lookup per connection): tokens `tok-<n>` are valid, anything else is refused.
 */
export async function authenticate(token) {
  if (typeof token !== 'string' || !token.startsWith('tok-')) throw new Error('Invalid session token');
  const session = await lookupSession(token);
  return { user: session.user, session, roles: session.roles };
}

async function lookupSession(token) {
  const id = token.slice(4);
  return { token, user: { id, name: `user ${id}` }, roles: ['member'] };
}

/** The channel's access check: signed-in users only, async as real checks are. */
export async function canAccessChannel({ user }) {
  await null;
  return user !== null && user !== undefined;
}

/**
 * Pads the payload so its JSON is about `size` bytes: `{"t":<µs>,"b":<µs>,"s":<seq>,"p":"xxx…"}`
 * (`b` in bursts only).
 */
function padFor(size, burst = false) {
  const now = monoUs();
  const bare = JSON.stringify(burst ? { t: now, b: now, s: 0, p: '' } : { t: now, s: 0, p: '' }).length;
  return 'x'.repeat(Math.max(0, size - bare));
}

/** A snapshot of this process: CPU (all threads), memory, and CPU per thread name. */
export function stats(gc) {
  if (gc) {
    fullGc();
    fullGc();
  }
  const cpu = process.cpuUsage(); // getrusage(RUSAGE_SELF): every thread, Rust's included
  const mem = process.memoryUsage();
  const fields = statFields(readFileSync('/proc/self/stat', 'utf8'));
  const threadCpu = {};
  let threadCount = 0;
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const raw = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      // The main thread (tid = pid) runs JS; Node's helper threads (V8 GC and compiler,
      // libuv pool) share its name `node`, so they are reported as `node-helpers`.
      const comm = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
      const name = tid === String(process.pid) ? 'js-main' : comm === 'node' ? 'node-helpers' : comm;
      const f = statFields(raw);
      threadCpu[name] = (threadCpu[name] ?? 0) + (Number(f[11]) + Number(f[12])) / CLK_TCK;
      threadCount++;
    } catch {
      // the thread exited meanwhile
    }
  }
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (key) => Number((status.match(new RegExp(`^${key}:\\s+(\\d+)`, 'm')) ?? [0, 0])[1]) * 1024;
  return {
    pid: process.pid,
    t: monoUs(),
    cpuUs: cpu.user + cpu.system,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    procCpuSeconds: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
    rss: kib('VmRSS'),
    rssPeak: kib('VmHWM'),
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    threadCount,
    threadCpu,
  };
}

/** Fields of /proc/…/stat after the command name: [0] is field 3 (state). */
function statFields(raw) {
  return raw.slice(raw.lastIndexOf(')') + 2).split(' ');
}

/**
 * The /bench routes. `broadcast(category, id, data)` is the server's own broadcast
 * (the product's `channel.broadcast`, socket.io's `io.to(room).emit`).
 */
export function benchRoutes(broadcast, extraStats = () => ({})) {
  const routes = {
    'GET /bench/stats': (_body, query) => ({ ...stats(query.get('gc') === '1'), ...extraStats() }),
    // Back to back, as a mutation handler looping over many changes would. `t`: when this
    // call was made; `b`: when the loop began, so a client can also count what a change
    // made at the start waits behind the rest of the burst (open loop, as paced).
    'POST /bench/burst': ({ category = CATEGORY, prefix = 'r', channels = 1, count = 1, size = 100 }) => {
      const p = padFor(size, true);
      const b = monoUs();
      for (let s = 0; s < count; s++) {
        for (let c = 0; c < channels; c++) broadcast(category, prefix + c, { t: monoUs(), b, s, p });
      }
      const loopUs = monoUs() - b;
      const calls = count * channels;
      return { calls, loopUs, callsPerSec: loopUs > 0 ? (calls / loopUs) * 1e6 : 0 };
    },
    // One round (every channel) per interval, `count` rounds, on a fixed schedule; answers at
    // once. Open loop: `t` is the round's scheduled time, so a server whose event loop falls
    // behind the schedule is charged for the delay (no coordinated omission).
    'POST /bench/paced': ({ category = CATEGORY, prefix = 'r', channels = 1, count = 1, size = 100, intervalMs = 100 }) => {
      const p = padFor(size);
      const start = monoUs();
      let s = 0;
      const round = () => {
        const t = start + s * intervalMs * 1000;
        for (let c = 0; c < channels; c++) broadcast(category, prefix + c, { t, s, p });
        if (++s < count) setTimeout(round, Math.max(0, (start + s * intervalMs * 1000 - monoUs()) / 1000));
      };
      round();
      return { started: true, rounds: count, intervalMs };
    },
  };
  return (req, res) => {
    const url = new URL(req.url, 'http://x');
    const route = routes[`${req.method} ${url.pathname}`];
    if (!route) return false;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let status = 200;
      let out;
      try {
        const text = Buffer.concat(chunks).toString();
        out = route(text ? JSON.parse(text) : {}, url.searchParams);
      } catch (error) {
        status = 500;
        out = { error: String(error?.stack ?? error) };
      }
      const body = JSON.stringify(out);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    return true;
  };
}

/** A small app: its own route, the /bench routes, 404 for the rest. */
export function createApp(routes) {
  return http.createServer((req, res) => {
    if (routes(req, res)) return;
    if (req.url === '/hello') {
      res.end('hello');
      return;
    }
    res.writeHead(404).end();
  });
}

/**
 * Listens on loopback and prints `{"ready":true,...}` for the parent. `wsPort`: where clients
 * connect when that is not the app's port (the product in standalone mode).
 */
export function listen(httpServer, name, wsPort = () => null) {
  const backlog = Number(process.env.BENCH_BACKLOG) || 511;
  httpServer.listen({ host: process.env.BENCH_HOST || '127.0.0.1', port: 0, backlog }, () => {
    const { port } = httpServer.address();
    const ready = { ready: true, server: name, port: wsPort() ?? port, controlPort: port, pid: process.pid, backlog };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
  process.on('SIGTERM', () => process.exit(0));
}
