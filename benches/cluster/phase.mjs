// One cluster run: N fresh instances of one server sharing a fresh backend (Redis or MongoDB),
// one loadgen per instance, the relays between them, and snapshots of every process at both
// barriers.
import { spawn } from 'node:child_process';
import { addonStamp, loadgenPath } from '../lib/runner.mjs';
import { startInstances } from './instances.mjs';
import { startMongo } from './mongo.mjs';
import { loadgens } from './plan.mjs';
import { cpuSeconds, machineBusySeconds, monoUs } from './proc.mjs';
import { startRedis } from './redis.mjs';
import { startRelays } from './relay.mjs';
import { summarize } from './summarize.mjs';

/** Spawns one loadgen: `{ pid, done, kill() }`, `done` resolving to its JSON report or `{ error }`. */
function spawnLoadgen(args, timeoutMs) {
  const child = spawn(loadgenPath(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return resolve({ error: `loadgen exited ${code ?? signal}: ${err.trim().slice(-1000)}` });
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        resolve({ error: `loadgen printed no JSON (${e.message}): ${out.slice(0, 300)} ${err.slice(-500)}` });
      }
    });
  });
  const kill = () => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL');
  return { pid: child.pid, done, kill };
}

/** The loadgen command line for loadgen `g` of `scenario`, controlled through `relayPort`. */
function loadgenArgs(g, scenario, config, port, relayPort, label) {
  const args = ['run', '--port', port, '--control-port', relayPort, '--mode', scenario.mode];
  args.push('--clients', g.clients, '--channels', g.channels, '--prefix', g.prefix, '--count', scenario.count);
  args.push('--size', config.size, '--concurrency', config.concurrency, '--idle-timeout-secs', config.idleTimeoutSecs);
  if (scenario.mode === 'paced') args.push('--interval-ms', scenario.intervalMs);
  args.push('--label', label);
  return args.map(String);
}

/** Starts the backend `adapter` names ('redis' or 'mongodb') for one run. */
const startBackend = (adapter) => (adapter === 'redis' ? startRedis() : startMongo());

/**
 * Runs `scenario` once on a cluster of `config.instances` instances of `kind` sharing a fresh
 * backend of kind `adapter`, and resolves to its summary (see summarize.mjs). Every process it
 * started is gone when it returns.
 */
export async function runClusterOnce(kind, adapter, scenario, config, log = () => {}) {
  const t0 = Date.now();
  const plan = loadgens(config, scenario);
  const backend = await startBackend(adapter);
  let instances = [];
  const procs = [];
  let relays = null;
  try {
    instances = await startInstances(kind, config.instances, backend);
    const baseline = await Promise.all(instances.map((s) => s.stats(true)));
    const snapshot = async (gc) => {
      // Stats with a full GC first (RSS without garbage) at the start barrier only.
      const stats = gc ? await Promise.all(instances.map((s) => s.stats(true))) : null;
      return {
        t: monoUs(),
        stats,
        rss: instances.map((s) => s.rssBytes()),
        cpu: instances.map((s) => s.cpuSeconds()),
        loadgenCpu: procs.map((p) => cpuSeconds(p.pid)),
        backendCpu: backend.cpuSeconds(),
        backend: await backend.snapshot().catch((e) => ({ error: e.message })),
        selfCpu: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
        machine: machineBusySeconds(),
      };
    };
    const marks = {};
    relays = await startRelays({
      homePorts: plan.map((g) => instances[g.home].port),
      publishPorts: plan.map((g) => instances[g.publish].port),
      onStart: async () => {
        marks.start = await snapshot(true);
        log(`    all ${plan.length} loadgens joined; broadcasting`);
      },
      onEnd: async ({ timedOut }) => {
        marks.end = await snapshot(false);
        if (timedOut) log('    end barrier timed out: a loadgen is still waiting for deliveries');
      },
    });
    const budget = 1000 * (600 + config.idleTimeoutSecs * 2 + (scenario.mode === 'paced' ? (scenario.count * scenario.intervalMs) / 1000 : 0));
    plan.forEach((g, i) => {
      const args = loadgenArgs(g, scenario, config, instances[g.home].port, relays.ports[i], `${kind}/${scenario.id}/${i}`);
      procs.push(spawnLoadgen(args, budget));
    });
    const reports = await Promise.all(
      procs.map((p, i) =>
        p.done.then((r) => {
          relays.gone(i);
          return r;
        }),
      ),
    );
    const dead = instances.filter((s) => !s.alive());
    const result = summarize({
      kind,
      adapter,
      scenario,
      config,
      plan,
      baseline,
      marks,
      reports,
      relay: relays.state(),
      deadInstances: dead.map((s) => `instance ${s.index}: ${s.stderr().trim().slice(-500)}`),
      instanceLogs: instances.map((s) => s.stderr().trim()).filter(Boolean).map((t) => t.slice(-500)),
      wallSeconds: (Date.now() - t0) / 1000,
    });
    // When the addon the product loaded was built (someone may rebuild it during a long run).
    if (kind === 'product') result.addon = addonStamp();
    result.backendVersion = backend.version;
    return result;
  } finally {
    for (const p of procs) p.kill();
    await relays?.close();
    await Promise.all(instances.map((s) => s.stop()));
    await backend.stop();
  }
}
