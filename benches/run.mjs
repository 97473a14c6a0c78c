#!/usr/bin/env node
// `npm run bench`: this product vs stock socket.io 4.8 and its peers on Bun (socket.io through
// @socket.io/bun-engine, raw uWebSockets pub/sub), side by side, then BENCHMARKS.md and
// docs/bench.svg. Run `node benches/run.mjs --help` for the options.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, fileLimits, machineFacts, machineQuiet, requireLoadgen, round, runOnce } from './lib/runner.mjs';
import { SCENARIOS, plan, sizeOf } from './lib/scenarios.mjs';
import { medians, targetLines, verdicts, writeReport } from './lib/report.mjs';
import { DEFAULT_SERVERS, SERVERS, runsScenario } from './lib/servers.mjs';
import { ensureBun, peerFacts } from './lib/peers.mjs';

const HELP = `usage: npm run bench [-- options]   (or: node benches/run.mjs [options])

  --quick               reduced sizes (a few minutes); verdicts are indicative
  --long                hold the largest idle count for 10 minutes (idle-max)
  --runs N              runs per server per scenario (default 3, medians reported)
  --only a,b            only these scenarios      --skip a,b   all but these
  --servers a,b         of product,socketio,socketio-bun,uws-bun (the two on Bun install Bun
                        into benches/peers/ on first use) and the variants metrics, norecovery,
                        standalone, nohooks (default: all; the variants on their own scenarios,
                        standalone and nohooks on the storm only unless named here)
  --set S.key=value     override a size, e.g. --set burst-10k.clients=5000 --set '*.size=200'
  --wait-quiet          before each run, wait (up to --quiet-secs, default 600) until other
                        processes use < 0.25 cores; redo (twice at most) a run they disturbed
  --no-report           do not rewrite BENCHMARKS.md and docs/bench.svg
  --report              rewrite them even for a partial run (--only, --skip, --set, --servers),
                        which otherwise leaves them alone
  --out FILE            also write all results as JSON to FILE
  --list                print the scenarios and their sizes, then exit
  --from FILE           rewrite BENCHMARKS.md and docs/bench.svg from saved results
                        (e.g. target/bench/latest.json) without running anything
  --cluster             instead: N instances sharing Redis under 100,000 connections, the
                        product vs socket.io + @socket.io/redis-adapter (benches/cluster/);
                        its own options: node benches/run.mjs --cluster --help
  --history             instead: the RSS a message kept for connection state recovery costs,
                        the product vs socket.io's own recovery (benches/history/); its own
                        options: node benches/run.mjs --history --help

Environment: BENCH_QUICK=1, BENCH_RUNS, BENCH_ONLY, BENCH_SKIP, BENCH_SET (comma-separated).
Needs the load generator: cargo build --release -p loadgen
Raw results always go to target/bench/results-<time>.json and target/bench/latest.json.

scenarios:
${SCENARIOS.map((s) => `  ${s.id.padEnd(14)} ${s.title}`).join('\n')}
`;

// --cluster: the multi-instance scenario (benches/cluster/), with options of its own.
if (process.argv.includes('--cluster')) {
  const { runCluster } = await import('./cluster/main.mjs');
  process.exit(await runCluster(process.argv.slice(2).filter((a) => a !== '--cluster')));
}

// --history: the memory a retained recovery message costs (benches/history/), with options of its own.
if (process.argv.includes('--history')) {
  const { runHistory } = await import('./history/main.mjs');
  process.exit(await runHistory(process.argv.slice(2).filter((a) => a !== '--history')));
}

const { values: o } = parseArgs({
  options: {
    quick: { type: 'boolean', default: process.env.BENCH_QUICK === '1' },
    long: { type: 'boolean', default: false },
    runs: { type: 'string', default: process.env.BENCH_RUNS },
    only: { type: 'string', default: process.env.BENCH_ONLY },
    skip: { type: 'string', default: process.env.BENCH_SKIP },
    servers: { type: 'string', default: DEFAULT_SERVERS.join(',') },
    set: { type: 'string', multiple: true, default: process.env.BENCH_SET ? process.env.BENCH_SET.split(',') : [] },
    'wait-quiet': { type: 'boolean', default: false },
    'quiet-secs': { type: 'string', default: '600' },
    'no-report': { type: 'boolean', default: false },
    report: { type: 'boolean', default: false },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    from: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

if (o.from) {
  const saved = JSON.parse(readFileSync(path.resolve(o.from), 'utf8'));
  const results = saved.results.map(({ raw, ...r }) => r);
  // Recomputed from the runs, so a report written by newer code shows what that code derives.
  const m = medians(results, saved.scenarios, saved.meta.servers);
  const v = verdicts(m, saved.scenarios, { quick: saved.meta.quick, limits: fileLimits() });
  writeReport({
    file: path.join(ROOT, 'BENCHMARKS.md'),
    chartFile: path.join(ROOT, 'docs', 'bench.svg'),
    meta: saved.meta,
    machine: saved.machine,
    scenarios: saved.scenarios,
    results,
    m,
    v,
  });
  for (const line of targetLines(v)) console.log(line);
  process.exit(0);
}

const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : null);
const runs = Math.max(1, Number(o.runs ?? 3));
const servers = list(o.servers).filter((s) => SERVERS[s]);
// Servers named on the command line run every scenario they can, not only their default ones.
const named = o.servers !== DEFAULT_SERVERS.join(',');
const scenarios = plan({ quick: o.quick, long: o.long, only: list(o.only), skip: list(o.skip) ?? [], set: o.set });
const limits = fileLimits();
for (const sc of scenarios) {
  const max = limits.maxClients(sc.clients);
  if (max < sc.clients) {
    sc.cappedFrom = sc.clients;
    sc.clients = max;
  }
}
if (o.list) {
  for (const sc of scenarios) console.log(`${sc.id.padEnd(14)} ${sc.mode.padEnd(8)} ${sizeOf(sc)}`);
  process.exit(0);
}
if (!scenarios.length) throw new Error('no scenario selected');
requireLoadgen();

const log = (...a) => console.log(...a);
/** Cores used by other processes above which a run counts as noisy. */
const NOISY = 0.25;
const started = Date.now();
const quietBefore = await waitQuiet(o['wait-quiet'] ? Number(o['quiet-secs']) : 0);
log(`machine: ${quietBefore.cores} cores busy before start, loadavg ${quietBefore.loadavg.join(' ')}` +
  (quietBefore.top.length ? ` — busiest: ${quietBefore.top.map((p) => `${p.name}(${p.pid}) ${p.cores}`).join(', ')}` : ''));
if (quietBefore.cores > NOISY) log('warning: the machine is not quiet; numbers may be noisy (use --wait-quiet)');
if (scenarios.some((s) => s.cappedFrom)) {
  log(`note: RLIMIT_NOFILE hard limit is ${limits.hard}; capped: ${scenarios.filter((s) => s.cappedFrom).map((s) => `${s.id} ${s.cappedFrom}→${s.clients}`).join(', ')}`);
}

// The peers on Bun need benches/peers/ installed; if that fails they are reported as not run.
const notRun = {};
const onBun = servers.filter((k) => SERVERS[k].runtime === 'bun');
if (onBun.length) {
  try {
    ensureBun(log);
  } catch (error) {
    for (const kind of onBun) notRun[kind] = `Bun unavailable: ${error.message}`;
    log(`warning: ${onBun.join(', ')} not run: ${error.message}`);
  }
}

const results = [];
for (const sc of scenarios) {
  const n = sc.runs ?? runs;
  log(`\n== ${sc.id}: ${sc.title} — ${sizeOf(sc)}, ${n} run(s) per server`);
  for (let i = 0; i < n; i++) {
    for (const kind of servers.filter((k) => runsScenario(k, sc.id, named))) {
      let r;
      // With --wait-quiet: wait for a quiet machine before each run, and redo (up to twice)
      // a run during which other processes used more than NOISY cores.
      for (let attempt = 0; ; attempt++) {
        if (o['wait-quiet']) await waitQuiet(Number(o['quiet-secs']));
        const t0 = Date.now();
        try {
          if (notRun[kind]) throw new Error(notRun[kind]);
          r = await runOnce(kind, sc, { limits });
        } catch (error) {
          r = { server: kind, scenario: sc.id, ok: false, error: error.message };
        }
        log(`  run ${i + 1}/${n} ${kind.padEnd(12)} ${describe(r)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
        if (!o['wait-quiet'] || !(r.otherCores > NOISY) || attempt >= 2) break;
        log('  (noisy: redoing this run)');
      }
      results.push(r);
    }
  }
}

const m = medians(results, scenarios, servers);
const v = verdicts(m, scenarios, { quick: o.quick, limits });
const meta = {
  command: ['node benches/run.mjs', ...process.argv.slice(2)].join(' '),
  quick: o.quick,
  long: o.long,
  runs,
  servers,
  startedAt: new Date(started).toISOString(),
  finishedAt: new Date().toISOString(),
  seconds: (Date.now() - started) / 1000,
  quietBefore,
};
const machine = { ...machineFacts(), ...(onBun.length ? peerFacts() : {}) };
const dump = { meta, machine, scenarios, medians: m, targets: v, results };
mkdirSync(path.join(ROOT, 'target', 'bench'), { recursive: true });
const saved = path.join(ROOT, 'target', 'bench', `results-${meta.finishedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(saved, JSON.stringify(dump, null, 1));
writeFileSync(path.join(ROOT, 'target', 'bench', 'latest.json'), JSON.stringify(dump, null, 1));
if (o.out) writeFileSync(path.resolve(o.out), JSON.stringify(dump, null, 1));
const partial = Boolean(o.only || o.skip || o.set.length || named);
const report = !o['no-report'] && (!partial || o.report);
if (report) {
  writeReport({
    file: path.join(ROOT, 'BENCHMARKS.md'),
    chartFile: path.join(ROOT, 'docs', 'bench.svg'),
    meta,
    machine,
    scenarios,
    results: results.map(({ raw, ...r }) => r),
    m,
    v,
  });
}

log(`\n== targets (${o.quick ? 'quick sizes, indicative' : 'full sizes'}; medians of ${runs} runs)`);
for (const line of targetLines(v)) log(line);
log(`\ndone in ${Math.round(meta.seconds)} s; raw results: ${path.relative(ROOT, saved)} (and target/bench/latest.json)${report ? '; report: BENCHMARKS.md, docs/bench.svg' : partial && !o['no-report'] ? '; partial run: BENCHMARKS.md left alone (--report to rewrite it)' : ''}`);
// A peer that could not run a scenario is reported (— and the reason), not a failed run.
const broken = results.filter((r) => r.error && !SERVERS[r.server].peer);
process.exitCode = broken.length ? 1 : 0;

function describe(r) {
  if (r.error) return `ERROR ${r.error.split('\n')[0]}`;
  const parts = [`joined ${r.joined}/${r.requested} at ${fmt(r.connectRate)}/s`];
  if (r.deliveriesPerSec !== undefined) {
    parts.push(`${fmt(r.deliveriesPerSec)} deliveries/s`, `p50 ${fmt(r.p50Ms)} p99 ${fmt(r.p99Ms)} max ${fmt(r.maxMs)} ms`);
    parts.push(`lost ${r.lost} dup ${r.duplicates}`, `cpu ${fmt(r.serverCpuUsageSeconds)} s (${fmt(r.cpuPerDeliveryUs)} µs/delivery)`);
    if (r.callsPerSec) parts.push(`JS ${fmt(r.callsPerSec)} calls/s`);
    parts.push(`loadgen ${Math.round((r.loadgenBusy ?? 0) * 100)} %`);
  }
  if (r.held !== undefined) parts.push(`held ${r.held}, ${fmt(r.rssPerConnKiB)} KiB/conn, RSS ${fmt(r.rssMiB)}→${fmt(r.rssEndMiB)} MiB (${fmt(r.holdGrowthPct)} %)`);
  if (r.closedEarly) parts.push(`CLOSED EARLY ${r.closedEarly}`);
  if (r.otherCores > 0.25) parts.push(`noisy: others ${fmt(r.otherCores)} cores`);
  if (!r.ok) parts.push('NOT OK');
  return parts.join(', ');
}

function fmt(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : String(round(v, 2));
}

async function waitQuiet(secs) {
  let q = await machineQuiet(1000);
  const limit = Date.now() + secs * 1000;
  while (q.cores > NOISY && Date.now() < limit) {
    log(`waiting for a quiet machine: ${q.cores} cores busy (${q.top.map((p) => p.name).join(', ')})`);
    await new Promise((r) => setTimeout(r, 10000));
    q = await machineQuiet(1000);
  }
  return q;
}
