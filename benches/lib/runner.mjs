// Runs one scenario against one server: spawns the server in its own child process, runs the
// load generator against it, and turns both reports into one flat result.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { ensureBun } from './peers.mjs';
import { SERVERS } from './servers.mjs';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Ticks per second of /proc CPU times. */
export const CLK_TCK = (() => {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  return Number(out.stdout?.trim()) || 100;
})();

/** Where `cargo build --release -p loadgen` puts the binary. */
export function loadgenPath() {
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, 'target');
  return path.join(target, 'release', 'loadgen');
}

/** Throws a clear error when the load generator has not been built. */
export function requireLoadgen() {
  const bin = loadgenPath();
  if (!existsSync(bin)) {
    throw new Error(`load generator not built: ${bin} is missing; run \`cargo build --release -p loadgen\` first`);
  }
  return bin;
}

/**
 * The open-files limit children get: `{ hard, wrap(n) }`. `wrap(n)` returns a command prefix
 * (`prlimit --nofile=n:n`) when the limit can be raised to `n` here, else `[]`.
 */
export function fileLimits() {
  const hard = Number(spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim()) || Infinity;
  const canRaise = (n) => spawnSync('prlimit', [`--nofile=${n}:${n}`, 'true']).status === 0;
  return {
    hard,
    /** Highest client count both sides can hold (fds plus a margin for the process itself). */
    maxClients(n) {
      if (n + 512 <= hard || canRaise(n + 512)) return n;
      return Math.max(1, hard - 512);
    },
    wrap(n) {
      return n > hard && canRaise(n) ? ['prlimit', `--nofile=${n}:${n}`] : [];
    },
  };
}

/**
 * Busy CPU ticks of the whole machine (all cores) from /proc/stat: `task` is time charged to
 * processes (user, nice, system, steal), `irq` is interrupt and softirq time, which on
 * loopback is mostly TCP delivery work done on behalf of the server and the load generator.
 */
function machineBusyTicks() {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu; // idle and iowait are not busy
  return { task: user + nice + system + (steal ?? 0), irq: irq + softirq };
}

/** CPU seconds a process has used so far (all threads), or null once it is gone. */
export function processCpuSeconds(pid) {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/**
 * How busy the machine is without us: samples every process for `ms` and returns the cores
 * in use and the busiest processes (a build by someone else shows up here).
 */
export async function machineQuiet(ms = 1000) {
  const snapshot = () => {
    const procs = new Map();
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const name = raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')'));
        const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
        procs.set(pid, { name, ticks: Number(f[11]) + Number(f[12]) });
      } catch {
        // gone
      }
    }
    return procs;
  };
  const a = snapshot();
  const busy0 = machineBusyTicks().task;
  await new Promise((r) => setTimeout(r, ms));
  const b = snapshot();
  const busy1 = machineBusyTicks().task;
  const top = [];
  for (const [pid, p] of b) {
    const before = a.get(pid);
    if (!before || pid === String(process.pid)) continue;
    const cores = (p.ticks - before.ticks) / CLK_TCK / (ms / 1000);
    if (cores >= 0.05) top.push({ pid: Number(pid), name: p.name, cores: round(cores, 2) });
  }
  top.sort((x, y) => y.cores - x.cores);
  return {
    cores: round((busy1 - busy0) / CLK_TCK / (ms / 1000), 2),
    loadavg: os.loadavg().map((v) => round(v, 2)),
    top: top.slice(0, 5),
  };
}

/** When the addon A loads was last built (it may be rebuilt by someone during a long run). */
export function addonStamp() {
  try {
    const f = readdirSync(ROOT).find((n) => n.endsWith('.node'));
    return f ? statSync(path.join(ROOT, f)).mtime.toISOString() : null;
  } catch {
    return null;
  }
}

/**
 * Resolves with the `{"ready":…}` line a starting server prints on stdout; rejects (naming
 * `what`, with its `stderr()`) if it exits first or takes longer than `seconds`.
 */
export function untilReady(child, exited, { what, seconds, stderr }) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${seconds} s: ${stderr()}`)), seconds * 1000);
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before listening: ${stderr()}`));
    });
  });
}

/** Starts a benchmark server; resolves once it listens. */
export async function startServer(kind, { nofile, env = {} } = {}) {
  const { script, env: serverEnv = {}, runtime } = SERVERS[kind];
  const wrap = nofile?.length ? nofile : [];
  const exe = runtime === 'bun' ? [ensureBun()] : [process.execPath, '--expose-gc'];
  const argv = [...wrap, ...exe, path.join(ROOT, script)];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...serverEnv, ...env } });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = await untilReady(child, exited, { what: `${kind} server`, seconds: 20, stderr: () => stderr });
  return {
    kind,
    port: ready.port,
    controlPort: ready.controlPort ?? ready.port,
    pid: ready.pid,
    stderr: () => stderr,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The loadgen arguments for a scenario. */
export function loadgenArgs(sc, port, label, controlPort = port) {
  const args = ['run', '--port', String(port), '--control-port', String(controlPort), '--mode', sc.mode];
  args.push('--clients', String(sc.clients), '--label', label);
  const map = {
    channels: 'channels',
    count: 'count',
    size: 'size',
    intervalMs: 'interval-ms',
    holdSecs: 'hold-secs',
    sampleMs: 'sample-ms',
    settleMs: 'settle-ms',
    concurrency: 'concurrency',
    idleTimeoutSecs: 'idle-timeout-secs',
    srcAddrs: 'src-addrs',
    readBuf: 'read-buf',
  };
  for (const [key, flag] of Object.entries(map)) {
    if (sc[key] !== undefined) args.push(`--${flag}`, String(sc[key]));
  }
  return args;
}

/** Runs the load generator; resolves to its JSON report. */
export function runLoadgen(args, { nofile = [], timeoutMs = 600000 } = {}) {
  const bin = requireLoadgen();
  const argv = [...nofile, bin, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-8000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`loadgen exited ${code ?? signal}: ${err.trim()}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`loadgen printed no JSON (${e.message}): ${out.slice(0, 500)} ${err}`));
      }
    });
  });
}

/**
 * Runs `scenario` once against server `kind` in a fresh process. Resolves to a flat result
 * (see `summarize`), with the raw loadgen report under `raw`.
 */
export async function runOnce(kind, scenario, { limits = fileLimits(), timeoutMs } = {}) {
  const nofile = limits.wrap(scenario.clients + 1024);
  const addon = SERVERS[kind].peer ? undefined : addonStamp();
  const server = await startServer(kind, { nofile });
  const busy0 = machineBusyTicks();
  const t0 = process.hrtime.bigint();
  try {
    const budget =
      timeoutMs ??
      1000 * (120 + (scenario.holdSecs ?? 0) * 1.5 + ((scenario.count ?? 0) * (scenario.intervalMs ?? 0)) / 1000 + scenario.clients / 500);
    const raw = await runLoadgen(loadgenArgs(scenario, server.port, `${kind}/${scenario.id}`, server.controlPort), { nofile, timeoutMs: budget });
    const serverCpu = processCpuSeconds(server.pid);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const busy1 = machineBusyTicks();
    const busy = (busy1.task - busy0.task) / CLK_TCK;
    const otherCores = Math.max(0, (busy - (serverCpu ?? 0) - raw.loadgen.cpu_seconds) / wall);
    const irqCores = (busy1.irq - busy0.irq) / CLK_TCK / wall;
    return { ...summarize(kind, scenario, raw, { wall, otherCores, irqCores }), addon };
  } catch (error) {
    error.message += server.stderr() ? `\n${kind} server stderr:\n${server.stderr()}` : '';
    throw error;
  } finally {
    await server.stop();
  }
}

const delta = (a, b, key) => (a && b && typeof a[key] === 'number' && typeof b[key] === 'number' ? b[key] - a[key] : null);

function threadDelta(before, after) {
  const out = {};
  for (const [name, secs] of Object.entries(after?.threadCpu ?? {})) {
    const d = secs - (before?.threadCpu?.[name] ?? 0);
    if (d > 0) out[name] = round(d, 2);
  }
  return out;
}

/** One run as flat numbers; every field is documented in BENCHMARKS.md's method. */
export function summarize(kind, sc, raw, { wall, otherCores, irqCores = null }) {
  const c = raw.connect;
  const connectCpu = delta(c.server_before, c.server_after, 'procCpuSeconds');
  const r = {
    server: kind,
    scenario: sc.id,
    mode: sc.mode,
    requested: c.requested,
    joined: c.joined,
    connectFailed: c.failed,
    connectRetries: c.retries,
    connectRate: c.rate,
    connectSeconds: c.seconds,
    handshakeP99Ms: c.handshake_ms.p99 ?? null,
    connectCpuPerJoinUs: connectCpu !== null && c.joined ? (connectCpu / c.joined) * 1e6 : null,
    connectThreadCpu: threadDelta(c.server_before, c.server_after),
    connectJsThreadPerJoinUs: c.joined ? ((threadDelta(c.server_before, c.server_after)['js-main'] ?? 0) / c.joined) * 1e6 : null,
    closedEarly: raw.closed_early,
    errors: raw.errors,
    loadgenCpuSeconds: raw.loadgen.cpu_seconds,
    loadgenMaxRssMiB: raw.loadgen.max_rss_kib / 1024,
    wallSeconds: wall,
    otherCores,
    irqCores,
    ok: c.failed === 0 && c.joined === c.requested,
  };
  if (raw.delivery) {
    const d = raw.delivery;
    const cpu = delta(d.server_before, d.server_after, 'procCpuSeconds');
    const cpuUs = delta(d.server_before, d.server_after, 'cpuUs');
    Object.assign(r, {
      expected: d.expected,
      received: d.received,
      lost: d.lost,
      duplicates: d.duplicates,
      outOfOrder: d.out_of_order,
      malformed: d.malformed,
      complete: d.complete,
      deliveriesPerSec: d.rate,
      seconds: d.seconds,
      p50Ms: d.latency_ms.p50 ?? null,
      p90Ms: d.latency_ms.p90 ?? null,
      p99Ms: d.latency_ms.p99 ?? null,
      // Bursts: from the burst's start (open loop), see markdown.mjs.
      p99FromStartMs: d.from_burst_start_ms?.p99 ?? null,
      maxMs: d.latency_ms.max ?? null,
      serverCpuSeconds: cpu,
      serverCpuUsageSeconds: cpuUs === null ? null : cpuUs / 1e6,
      cpuPerDeliveryUs: cpuUs !== null && d.received ? cpuUs / d.received : null,
      userPerDeliveryUs: d.received ? (delta(d.server_before, d.server_after, 'cpuUserUs') ?? NaN) / d.received : null,
      systemPerDeliveryUs: d.received ? (delta(d.server_before, d.server_after, 'cpuSystemUs') ?? NaN) / d.received : null,
      serverThreadCpu: threadDelta(d.server_before, d.server_after),
      rssMiB: d.server_after?.rss ? d.server_after.rss / 2 ** 20 : null,
      rssPeakMiB: d.server_after?.rssPeak ? d.server_after.rssPeak / 2 ** 20 : null,
      loadgenBusy: d.measure_wall_seconds > 0 ? d.loadgen_cpu_seconds / d.measure_wall_seconds : null,
      callsPerSec: d.trigger?.callsPerSec ?? null,
      triggerError: d.trigger?.error ?? null,
    });
    r.ok = r.ok && d.complete && d.lost === 0 && d.duplicates === 0 && !r.triggerError;
  }
  if (raw.idle) {
    const i = raw.idle;
    const base = i.baseline?.rss;
    const start = i.start?.rss;
    const end = i.end?.rss;
    const rssValues = i.samples.map((s) => s.rss).filter((v) => typeof v === 'number');
    Object.assign(r, {
      held: i.held,
      holdSeconds: i.hold_seconds,
      baselineRssMiB: base / 2 ** 20,
      rssMiB: start / 2 ** 20,
      rssEndMiB: end / 2 ** 20,
      rssMaxMiB: Math.max(...rssValues) / 2 ** 20,
      // Measured at the end of the hold (after a full GC): RSS right after the joins still
      // carries handshake garbage that the allocators return over the next seconds.
      rssPerConnKiB: base && end && i.held ? (end - base) / i.held / 1024 : null,
      holdGrowthPct: start && end ? ((end - start) / start) * 100 : null,
      idleCpuCores: i.hold_seconds > 0 ? (delta(i.start, i.end, 'cpuUs') ?? 0) / 1e6 / i.hold_seconds : null,
      samples: i.samples.map((s) => ({ t: round(s.t, 1), rssMiB: round(s.rss / 2 ** 20, 1), open: s.open })),
    });
    r.ok = r.ok && i.held === c.joined;
  }
  r.raw = raw;
  return r;
}

export function round(v, digits = 0) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/** Facts about this machine for the report, read from the machine itself. */
export function machineFacts() {
  const read = (cmd, args) => {
    const out = spawnSync(cmd, args, { encoding: 'utf8', cwd: ROOT });
    return out.status === 0 ? out.stdout.trim() : 'unknown';
  };
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = (cpuinfo.match(/^model name\s*:\s*(.+)$/m) ?? [])[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const memKiB = Number((readFileSync('/proc/meminfo', 'utf8').match(/^MemTotal:\s+(\d+)/m) ?? [])[1]);
  const pkg = (name) => {
    try {
      return JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return 'unknown';
    }
  };
  return {
    cpu: model,
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memGiB: round(memKiB / 2 ** 20, 1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    rustc: read('rustc', ['--version']),
    socketio: pkg('socket.io'),
    engineio: pkg('engine.io'),
    ws: pkg('ws'),
    product: `${JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (${read('git', ['rev-parse', '--short', 'HEAD'])}${read('git', ['status', '--porcelain', '--', 'src', 'lib']) ? ', uncommitted changes in src/ or lib/' : ''})`,
    addonBuilt: (() => {
      try {
        const f = readdirSync(ROOT).find((n) => n.endsWith('.node'));
        return f ? `${f}, built ${statSync(path.join(ROOT, f)).mtime.toISOString()}` : 'missing';
      } catch {
        return 'unknown';
      }
    })(),
    nofileHard: fileLimits().hard,
    somaxconn: readTrim('/proc/sys/net/core/somaxconn'),
    portRange: readTrim('/proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/, '–'),
  };
}

function readTrim(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return 'unknown';
  }
}
