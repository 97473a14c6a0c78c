// The cluster bench's Redis: one `redis-server` (installed with apt) on a free loopback port,
// no persistence, owned by the bench; plus the few commands the bench sends it.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { cpuSeconds } from './proc.mjs';

/** Throws a clear error when redis-server is not installed. */
export function requireRedis() {
  const out = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error('redis-server not found: install it (apt-get install redis-server)');
  return (out.stdout.match(/v=(\S+)/) ?? [])[1] ?? out.stdout.trim();
}

/** A free TCP port on 127.0.0.1 (the kernel's pick; free when this returns). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Sends one command (RESP) to the Redis on `port` and resolves to its reply: a string, a
 * number, or an array of those; a Redis error rejects.
 */
export function command(port, args, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const req = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`;
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => sock.destroy(new Error(`redis ${args[0]}: no reply in ${timeoutMs} ms`)), timeoutMs);
    sock.once('connect', () => sock.write(req));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const parsed = parse(buf, 0);
      if (!parsed) return;
      clearTimeout(timer);
      sock.destroy();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** One RESP2 value at `at`: `{ value, next }`, or null when `buf` does not hold all of it yet. */
function parse(buf, at) {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return null;
  const line = buf.toString('utf8', at + 1, eol);
  switch (String.fromCharCode(buf[at])) {
    case '+':
      return { value: line, next: eol + 2 };
    case '-':
      return { value: new Error(line), next: eol + 2 };
    case ':':
      return { value: Number(line), next: eol + 2 };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return null;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case '*': {
      const items = [];
      let next = eol + 2;
      for (let i = 0; i < Number(line); i++) {
        const item = parse(buf, next);
        if (!item) return null;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      return { value: new Error(`unexpected reply ${JSON.stringify(line)}`), next: eol + 2 };
  }
}

/** `INFO` as numbers where they are numbers: `{ used_cpu_sys: 0.1, ... }`. */
export async function info(port) {
  const out = {};
  for (const line of String(await command(port, ['INFO', 'all'])).split('\r\n')) {
    const i = line.indexOf(':');
    if (i <= 0 || line.startsWith('#')) continue;
    const v = line.slice(i + 1);
    out[line.slice(0, i)] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
  }
  return out;
}

/**
 * Starts `redis-server` on a free loopback port without persistence (`--save ''
 * --appendonly no`); resolves once it answers PING. Returns the backend of one run:
 * `{ kind, url, port, pid, version, cpuSeconds(), snapshot(), stop() }`, `snapshot()` being
 * `{ info, overflows }` (Redis's INFO and the subscribers it has closed so far).
 */
export async function startRedis() {
  const version = requireRedis();
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    // Redis closes a subscriber that falls too far behind (client-output-buffer-limit pubsub,
    // 32 MiB hard / 8 MiB for 60 s by default) and logs it: every such close loses messages.
    let overflows = 0;
    const onLog = (d) => {
      log = (log + d).slice(-4000);
      overflows += String(d).split('overcoming of output buffer limits').length - 1;
    };
    child.stdout.on('data', onLog);
    child.stderr.on('data', onLog);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const up = await waitForPing(port, exited);
    if (!up) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 2) continue;
      throw new Error(`redis-server did not start on port ${port}: ${log.trim()}`);
    }
    return {
      kind: 'redis',
      url: `redis://127.0.0.1:${port}`,
      port,
      pid: child.pid,
      version: `redis-server ${version}`,
      cpuSeconds: () => cpuSeconds(child.pid),
      snapshot: async () => ({ info: await info(port).catch((e) => ({ error: e.message })), overflows }),
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  }
}

async function waitForPing(port, exited) {
  let gone = false;
  exited.then(() => (gone = true));
  const limit = Date.now() + 10000;
  while (!gone && Date.now() < limit) {
    try {
      if ((await command(port, ['PING'], 1000)) === 'PONG') return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}
