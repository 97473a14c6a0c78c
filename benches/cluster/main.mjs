// `npm run bench -- --cluster` (benches/run.mjs hands over here): the product and stock
// socket.io, each as a cluster of instances on this machine sharing Redis, then MongoDB,
// under 100,000 connections. Run `node benches/run.mjs --cluster --help` for the options.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, fileLimits, machineFacts, requireLoadgen, round } from '../lib/runner.mjs';
import { ensureClusterDeps } from './deps.mjs';
import { CLUSTER_SERVERS } from './instances.mjs';
import { runClusterOnce } from './phase.mjs';
import { CLUSTER_DEFAULTS, CLUSTER_SCENARIOS, QUICK, clusterPlan, sizeText } from './plan.mjs';
import { mongoLabel } from './mongo.mjs';
import { writeClusterSection } from './section.mjs';
import { combine } from './summarize.mjs';

const HELP = `usage: npm run bench -- --cluster [options]   (or: node benches/run.mjs --cluster [options])

N instances of one server (default ${CLUSTER_DEFAULTS.instances}), each its own process, sharing one backend
started for each run; one load generator per instance holding ${CLUSTER_DEFAULTS.connections.toLocaleString('en-US')} connections in all.
Loadgen i's clients connect to instance i; its broadcasts are made on instance i+1, so every
delivery crosses the backend. The product (redis: { url } / mongodb: { uri }) and stock
socket.io with @socket.io/redis-adapter / @socket.io/mongo-adapter (installed on first use
into benches/cluster/node_modules) run the same scenarios, one after the other.
Backends: a redis-server started for the run; MongoDB at MONGODB_URI when set (a replica set;
each run gets its own database, dropped afterwards), else the project's MongoDB emulator
(tools/mongo-emulator: a dev-only test double, built by npm run bench).

  --quick               reduced sizes: ${QUICK.instances} instances, ${QUICK.connections.toLocaleString('en-US')} connections (a minute or two)
  --set cluster.K=V     override a setting: ${Object.keys(CLUSTER_DEFAULTS).join(', ')}
                        e.g. --set cluster.connections=6000 --set cluster.instances=3
  --set S.K=V           override a scenario's count, intervalMs or channels (S: a scenario or *)
  --only a,b            only these scenarios
  --servers a,b         product,socketio (default both)
  --adapters a,b        redis,mongodb (default both, in that order)
  --runs N              runs per server per scenario (default ${CLUSTER_DEFAULTS.runs}; medians reported)
  --no-report           do not write the Cluster section of BENCHMARKS.md and docs/bench-cluster.svg
  --report              write them even for a reduced or partial run (--quick, --set, --only,
                        --servers), which otherwise leaves them alone
  --md FILE             write the section into FILE (and its chart next to it) instead of
                        BENCHMARKS.md and docs/
  --from FILE           rewrite the section and chart from saved results (a target/bench/cluster-*.json)
  --list                print the scenarios and their sizes, then exit

Full sizes: ${Math.round(CLUSTER_DEFAULTS.connections / CLUSTER_DEFAULTS.instances).toLocaleString('en-US')} connections per instance and per loadgen, so each process stays under a
20,000 open-files limit (fewer instances than connections/19,500 is refused); some 10–15 minutes
and a few GiB of RAM. Run it on a quiet machine: every process shares its cores.
Results: target/bench/cluster-<time>.json (and target/bench/cluster-latest.json).

scenarios:
${CLUSTER_SCENARIOS.map((s) => `  ${s.id.padEnd(14)} ${s.title}`).join('\n')}
`;

/** Runs the cluster bench with `argv` (the arguments after --cluster); resolves to an exit code. */
export async function runCluster(argv) {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      set: { type: 'string', multiple: true, default: [] },
      only: { type: 'string' },
      servers: { type: 'string', default: 'product,socketio' },
      adapters: { type: 'string', default: 'redis,mongodb' },
      runs: { type: 'string' },
      'no-report': { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
      md: { type: 'string' },
      from: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const file = path.resolve(o.md ?? path.join(ROOT, 'BENCHMARKS.md'));
  const chartFile = o.md ? file.replace(/(\.md)?$/, '-cluster.svg') : path.join(ROOT, 'docs', 'bench-cluster.svg');
  if (o.from) {
    writeClusterSection(JSON.parse(readFileSync(path.resolve(o.from), 'utf8')), { file, chartFile });
    console.log(`wrote the Cluster section of ${path.relative(ROOT, file)} and ${path.relative(ROOT, chartFile)}`);
    return 0;
  }
  const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : null);
  const set = o.runs ? [...o.set, `cluster.runs=${o.runs}`] : o.set;
  const { config, scenarios } = clusterPlan({ quick: o.quick, only: list(o.only), set });
  const servers = list(o.servers).filter((k) => CLUSTER_SERVERS[k]);
  const adapters = list(o.adapters).filter((a) => a === 'redis' || a === 'mongodb');
  if (o.list) {
    for (const sc of scenarios) console.log(`${sc.id.padEnd(14)} ${sc.mode.padEnd(6)} ${sizeText(config, sc)}`);
    return 0;
  }
  if (!scenarios.length || !servers.length || !adapters.length) throw new Error('no scenario, server or adapter selected');
  const limits = fileLimits();
  const perProcess = Math.ceil(config.connections / config.instances) + 512;
  if (perProcess > limits.hard) {
    throw new Error(`${config.connections} connections on ${config.instances} instances need ~${perProcess} open files per process; the limit here is ${limits.hard}: raise cluster.instances`);
  }
  requireLoadgen();
  const versions = servers.includes('socketio') ? ensureClusterDeps() : {};

  const started = Date.now();
  console.log(`${config.instances} instances, ${config.connections.toLocaleString('en-US')} connections; backends: ${adapters.map((a) => (a === 'redis' ? 'redis-server' : mongoLabel())).join(', ')}`);
  const results = [];
  for (const adapter of adapters) {
    for (const sc of scenarios) {
      console.log(`\n== ${adapter} ${sc.id}: ${sc.title} — ${sizeText(config, sc)}`);
      for (let run = 0; run < config.runs; run++) {
        for (const kind of servers) {
          const t0 = Date.now();
          let r;
          try {
            r = await runClusterOnce(kind, adapter, sc, config, console.log);
          } catch (error) {
            r = { server: kind, adapter, scenario: sc.id, ok: false, fatal: error.message, errors: [error.message] };
          }
          console.log(`  run ${run + 1}/${config.runs} ${kind.padEnd(8)} ${describe(r)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
          results.push(r);
        }
      }
    }
  }

  // medians[adapter][scenario][server]
  const medians = {};
  for (const adapter of adapters) {
    medians[adapter] = {};
    for (const sc of scenarios) {
      medians[adapter][sc.id] = {};
      for (const kind of servers) {
        const runs = results.filter((r) => r.adapter === adapter && r.scenario === sc.id && r.server === kind);
        if (runs.length) medians[adapter][sc.id][kind] = combine(runs);
      }
    }
  }
  const finishedAt = new Date().toISOString();
  const reduced = o.quick || o.set.length > 0 || Boolean(o.only) || o.servers !== 'product,socketio' || o.adapters !== 'redis,mongodb';
  const meta = {
    command: ['node benches/run.mjs --cluster', ...argv].join(' '),
    reduced,
    startedAt: new Date(started).toISOString(),
    finishedAt,
    seconds: (Date.now() - started) / 1000,
    servers,
    adapters,
    backends: Object.fromEntries(adapters.map((a) => [a, results.find((r) => r.adapter === a && r.backendVersion)?.backendVersion ?? null])),
    mongodb: adapters.includes('mongodb') ? mongoLabel() : null,
    versions,
  };
  const dump = { meta, machine: machineFacts(), config, scenarios, adapters, medians, results };
  const dir = path.join(ROOT, 'target', 'bench');
  mkdirSync(dir, { recursive: true });
  const saved = path.join(dir, `cluster-${finishedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(saved, JSON.stringify(dump, null, 1));
  writeFileSync(path.join(dir, 'cluster-latest.json'), JSON.stringify(dump, null, 1));
  const report = !o['no-report'] && (!reduced || o.report || Boolean(o.md));
  if (report) writeClusterSection(dump, { file, chartFile });

  console.log('\n== cluster: A/B (product / socket.io) per adapter and scenario');
  for (const adapter of adapters) {
    for (const sc of scenarios) {
      const a = medians[adapter][sc.id].product;
      const b = medians[adapter][sc.id].socketio;
      if (a && b) console.log(`  ${adapter.padEnd(8)} ${sc.id.padEnd(14)} deliveries/s ${fmtRatio(a.deliveriesPerSec, b.deliveriesPerSec)}, p99 ${fmtRatio(a.p99Ms, b.p99Ms)}, joins/s ${fmtRatio(a.connectRate, b.connectRate)}, KiB/conn ${fmtRatio(a.rssPerConnKiB, b.rssPerConnKiB)}`);
    }
  }
  console.log(`\ndone in ${Math.round(meta.seconds)} s; raw results: ${path.relative(ROOT, saved)}${report ? `; report: ${path.relative(ROOT, file)} (Cluster section), ${path.relative(ROOT, chartFile)}` : reduced && !o['no-report'] ? '; reduced run: BENCHMARKS.md left alone (--report to write it)' : ''}`);
  return results.every((r) => !r.fatal) ? 0 : 1;
}

function describe(r) {
  if (r.fatal) return `ERROR ${r.fatal.split('\n')[0]}`;
  const parts = [
    `joined ${r.joined}/${r.requested} at ${n(r.connectRate)}/s`,
    `${n(r.deliveriesPerSec)} deliveries/s`,
    `p50 ${n(r.p50Ms)} p99 ${n(r.p99Ms)} ms`,
    `lost ${r.lost} dup ${r.duplicates}`,
    `RSS ${n(r.rssHeldMiB)} MiB/instance, ${n(r.rssPerConnKiB)} KiB/conn`,
    `${n(r.cpuPerDeliveryUs)} µs CPU/delivery`,
    `${r.adapter} ${n(r.backendCores)} cores`,
  ];
  if (r.startWaitSeconds > 5) parts.push(`first loadgen waited ${n(r.startWaitSeconds)} s for the others`);
  if (r.otherCores > 0.25) parts.push(`noisy: others ${n(r.otherCores)} cores`);
  if (!r.ok) parts.push(`NOT OK${r.errors.length ? `: ${r.errors[0].split('\n')[0].slice(0, 200)}` : ''}`);
  return parts.join(', ');
}

function n(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(round(v, 2));
}

function fmtRatio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b ? `${round(a / b, 2)}×` : '–';
}
