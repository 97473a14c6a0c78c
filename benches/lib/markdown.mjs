// BENCHMARKS.md's text: targets, the product against its best peer, one table per kind of
// scenario (a row per server, then A/B and A/best), method, machine and every run.
import { SERVERS, peersOf } from './servers.mjs';
import { TARGETS, sizeOf } from './scenarios.mjs';
import { bestPeer, vsBest, whyNot } from './compare.mjs';
import { fmt, fmtInt, fmtRatio, fmtSigned, pct, ratioOf, short } from './format.mjs';
import { machineLines, methodLines } from './method.mjs';

/** Table order: the product, its peers, then the diagnostic variants of the product. */
const KINDS = Object.keys(SERVERS);

const hasNumbers = (x) => Boolean(x) && x.errors < x.runs;

/** The scenarios that set their own run count, as ` (storm-10k 5, idle-max 1)`; '' when none does. */
const ownRuns = (scenarios, runs) => {
  const own = scenarios.filter((sc) => sc.runs !== undefined && sc.runs !== runs);
  return own.length ? ` (${own.map((sc) => `${sc.id} ${sc.runs}`).join(', ')})` : '';
};

/** A rate's median, with its lowest and highest run in small print when there were several. */
const withRange = (x, key) => `${fmtInt(x[key])}${x.runs > 1 ? ` <sub>${short(x[`${key}Min`])}–${short(x[`${key}Max`])}</sub>` : ''}`;

/**
 * Pushes a table with, per scenario of `ids`, one row per server that ran it (“—” and a note
 * for one whose runs all failed), then the product's ratio to B (A/B) and to the best peer
 * (A/best, when two or more peers have numbers). `lead(id)`: the cells before the server's;
 * each of `cols`: `{ head, cell(medians, kind), keys?, bold?, left? }`, `keys` the metrics its
 * ratios compare.
 */
function serverTable(L, { ids, heads = [], lead = () => [], cols, m, results }) {
  L.push(`| ${[...heads, 'server', ...cols.map((c) => c.head)].join(' | ')} |`);
  L.push(`|${[...heads, 'server'].map(() => '---').concat(cols.map((c) => (c.left ? '---' : '---:'))).join('|')}|`);
  const notes = [];
  const push = (cells) => L.push(`|${cells.map((c) => (c === '' ? ' ' : ` ${c} `)).join('|')}|`);
  for (const id of ids) {
    const row = m[id] ?? {};
    const first = lead(id);
    for (const kind of KINDS) {
      if (!row[kind]) continue;
      const why = whyNot(results, id, kind);
      if (why) notes.push(`— ${SERVERS[kind].short} could not run ${id}: ${why}`);
      push([...first, SERVERS[kind].short, ...cols.map((c) => (why ? '—' : c.cell(row[kind], kind)))]);
    }
    const blank = first.map((c, i) => (i === 0 ? c : ''));
    const ratios = (label, ratio) =>
      push([...blank, `**${label}**`, ...cols.map((c) => (c.keys ? (c.bold ? `**${c.keys.map(ratio).join(' / ')}**` : c.keys.map(ratio).join(' / ')) : ''))]);
    if (hasNumbers(row.product) && hasNumbers(row.socketio)) ratios('A/B', (k) => fmtRatio(ratioOf(row.product[k], row.socketio[k])));
    if (hasNumbers(row.product) && peersOf(Object.keys(row)).filter((k) => hasNumbers(row[k])).length > 1) ratios('A/best', (k) => vsBest(row, k));
  }
  L.push('');
  if (notes.length) L.push(...notes.map((n) => `${n}  `), '');
}

/**
 * What the connect path's parts cost per join, from the storm's diagnostic rows: A − A′ is
 * Node accepting and handing over each connection (attach mode), A′ − A″ the JS hooks'
 * round trips with the app's own JS in them (nothing when those rows did not run).
 */
function connectPathLines(row) {
  const cpu = (kind) => (hasNumbers(row[kind]) ? row[kind].connectCpuPerJoinUs : null);
  const [a, standalone, bare] = [cpu('product'), cpu('standalone'), cpu('nohooks')];
  if (standalone === null || bare === null) return [];
  const parts = [`A″, the native connect path with no JS per connection, spends ${fmt(bare)} µs of server CPU per join`];
  parts.push(`the two JS hooks (\`authenticate\`, \`canAccessChannel\`) add ${fmt(standalone - bare)} µs (A′ − A″: the round trips to Node's thread and the app's own JS)`);
  if (a !== null) parts.push(`and attach mode's accept and hand-over on Node's thread ${fmt(a - standalone)} µs (A − A′)`);
  return [`Where a join's CPU goes: ${parts.join('; ')}.`, ''];
}

/** What each target's metric is called in the summary against the best peer. */
const METRIC_NAMES = {
  deliveriesPerSec: 'deliveries/s',
  p99Ms: 'p99 latency, ms',
  cpuPerDeliveryUs: 'CPU µs/delivery',
  connectRate: 'joins/s',
  rssPerConnKiB: 'KiB per idle connection',
  p99FromStartMs: 'p99 latency from burst start, ms',
};

/** Lines of the best-peer table beyond the targets' own, placed after the target named. */
const BEST_PEER_EXTRAS = { 'burst-p99': [{ scenario: 'burst-10k', metric: 'p99FromStartMs' }] };

/** The targets' metrics against the best peer, one line each (nothing when none ran). */
function bestPeerLines(L, m) {
  const rows = [];
  const lines = TARGETS.filter((x) => !x.productOnly).flatMap((t) => [t, ...(BEST_PEER_EXTRAS[t.id] ?? [])]);
  for (const t of lines) {
    const row = m[t.scenario];
    const best = row && bestPeer(row, t.metric);
    if (!best || !hasNumbers(row.product)) continue;
    rows.push(`| ${METRIC_NAMES[t.metric] ?? t.metric} | ${t.scenario} | ${fmt(row.product[t.metric])} | ${fmt(best.value)} (${SERVERS[best.kind].short}) | **${vsBest(row, t.metric)}** |`);
  }
  if (!rows.length) return;
  L.push('## Against the best peer', '');
  L.push('The same metrics as the targets, against whichever peer did best on each (B, C or D); the letter names it.', '');
  L.push('| metric | scenario | A (product) | best peer | A/best |', '|---|---|---:|---:|---:|', ...rows, '');
}

/** The fan-out columns of an overhead table. */
const FANOUT_COLUMNS = [
  ['deliveriesPerSec', 'deliveries/s', fmtInt],
  ['cpuPerDeliveryUs', 'CPU µs/delivery', fmt],
];

/** The overhead runs: a variant of A measured against A where both ran. */
const OVERHEADS = [
  {
    kind: 'metrics',
    title: 'Metrics overhead',
    about: 'is A with `metrics: true`, scraped once a second through the run. Budget: within 3 % of A on both columns (single runs on a shared machine vary by about as much).',
    columns: FANOUT_COLUMNS,
    // The variant is the feature on: change = variant / A.
    featureOn: 'variant',
  },
  {
    kind: 'norecovery',
    title: 'Recovery overhead',
    about: 'is A with `connectionStateRecovery: false`; A runs with it on (the default). The change is what recovery costs A.',
    columns: [...FANOUT_COLUMNS, ['rssPerConnKiB', 'KiB/conn', fmt]],
    featureOn: 'product',
  },
];

/** One overhead section: the variant's figures next to A's, and the feature's cost. */
function overheadLines(L, m, { kind, title, about, columns, featureOn }) {
  const short = SERVERS[kind].short;
  const rows = [];
  for (const id of SERVERS[kind].scenarios) {
    const [a, variant] = [m[id]?.product, m[id]?.[kind]];
    if (!hasNumbers(a) || !hasNumbers(variant)) continue;
    const [on, off] = featureOn === 'product' ? [a, variant] : [variant, a];
    const cells = columns.map(([key, , f]) => {
      const change = typeof on[key] === 'number' && off[key] ? `${fmtSigned((on[key] / off[key] - 1) * 100)} %` : '–';
      const show = (x) => (typeof x[key] === 'number' ? f(x[key]) : '–');
      return `${show(a)} | ${show(variant)} | ${change}`;
    });
    rows.push(`| ${id} | ${cells.join(' | ')} |`);
  }
  if (!rows.length) return;
  L.push(`## ${title}`, '', `${short} ${about}`, '');
  const head = columns.map(([, name]) => `A ${name} | ${short} ${name} | change`).join(' | ');
  L.push(`| scenario | ${head} |`, `|---|${columns.map(() => '---:|---:|---:').join('|')}|`, ...rows, '');
}

/** BENCHMARKS.md for one run. */
export function markdown({ chartRel, meta, machine, scenarios, results, m, v }) {
  const L = [];
  const has = (id) => scenarios.some((s) => s.id === id);
  const ran = meta.servers ?? ['product', 'socketio'];
  const kinds = KINDS.filter((k) => ran.includes(k));
  const peers = peersOf(kinds);
  L.push(`# Benchmarks: modelence-native-ws vs ${peers.length > 1 ? 'socket.io and peers' : 'socket.io'}`, '');
  L.push(`<!-- Generated by \`npm run bench\` (benches/run.mjs). Do not edit by hand: rerun it. -->`, '');
  L.push(
    `Generated ${meta.finishedAt} by \`${meta.command}\` in ${Math.round(meta.seconds)} s` +
      ` (${meta.quick ? '**quick mode**: reduced sizes, indicative only' : 'full sizes'}${meta.long ? ', long hold' : ''};` +
      ` ${meta.runs} runs per server per scenario${ownRuns(scenarios, meta.runs)}, servers in turn, medians shown).`,
    '',
  );
  L.push(kinds.map((k) => `${SERVERS[k].short} = **${SERVERS[k].label}** (${SERVERS[k].about})`).join('; ') + '.', '');
  L.push('## Targets', '');
  L.push('| target | A (product) | B (socket.io) | A/B | needed | result |');
  L.push('|---|---:|---:|---:|---|---|');
  for (const t of v) {
    L.push(`| ${t.text} | ${fmt(t.product)} | ${fmt(t.socketio)} | ${fmtRatio(t.ratio)} | ${t.needText} | **${t.status}**${t.note ? ` ${t.note}` : ''} |`);
  }
  if (meta.quick) L.push('', '`*` quick mode: verdicts at reduced sizes; run `npm run bench` for the real ones.');
  L.push('');
  if (peers.length > 1) bestPeerLines(L, m);
  for (const overhead of OVERHEADS) overheadLines(L, m, overhead);
  L.push(`![deliveries/s, p99 latency, connect rate and memory per connection, per server](${chartRel})`, '');

  const size = (id) => sizeOf(scenarios.find((s) => s.id === id));
  const scenarioLead = { heads: ['scenario', 'size'], lead: (id) => [id, size(id)] };
  const deliveryIds = scenarios.filter((s) => s.mode === 'burst' || s.mode === 'paced').map((s) => s.id);
  if (deliveryIds.length) {
    L.push('## Fan-out (medians)', '');
    serverTable(L, {
      ids: deliveryIds,
      ...scenarioLead,
      m,
      results,
      cols: [
        { head: 'deliveries/s', keys: ['deliveriesPerSec'], bold: true, cell: (x) => withRange(x, 'deliveriesPerSec') },
        { head: 'p50 ms', keys: ['p50Ms'], cell: (x) => fmt(x.p50Ms) },
        { head: 'p90 ms', keys: ['p90Ms'], cell: (x) => fmt(x.p90Ms) },
        { head: 'p99 ms', keys: ['p99Ms'], bold: true, cell: (x) => fmt(x.p99Ms) },
        { head: 'p99 from burst start ms', keys: ['p99FromStartMs'], bold: true, cell: (x) => fmt(x.p99FromStartMs) },
        { head: 'max ms', keys: ['maxMs'], cell: (x) => fmt(x.maxMs) },
        { head: 'lost', cell: (x) => fmtInt(x.lostTotal) },
        { head: 'dup', cell: (x) => fmtInt(x.duplicatesTotal) },
        { head: 'server CPU s', keys: ['serverCpuUsageSeconds'], cell: (x) => fmt(x.serverCpuUsageSeconds) },
        { head: 'CPU µs/delivery', keys: ['cpuPerDeliveryUs'], bold: true, cell: (x) => fmt(x.cpuPerDeliveryUs, 3) },
        { head: 'user/sys µs', left: true, keys: ['userPerDeliveryUs', 'systemPerDeliveryUs'], cell: (x) => `${fmt(x.userPerDeliveryUs)} / ${fmt(x.systemPerDeliveryUs)}` },
        { head: 'RSS MiB', keys: ['rssMiB'], cell: (x) => fmt(x.rssMiB, 0) },
        { head: 'loadgen busy', cell: (x) => pct(x.loadgenBusy) },
      ],
    });
    L.push('deliveries/s: median, with the range over the runs in small print. Lost and dup are totals over all runs (lost: expected − received, per client by sequence number).', '');
    L.push('Latency is receipt minus a stamp the server puts in each message. p50/p90/p99/max: from the broadcast call (bursts) or the round\'s scheduled time (paced, open loop). p99 from burst start: from the moment the app began its loop of broadcast calls, the same for every message of the burst, so what the app\'s last change waits is counted (open loop, as paced). The two differ by design: a server whose call returns once the message is queued (A) stamps every call at the start, so its per-call p99 is the whole burst\'s delivery; one whose call writes to every member before returning (uWS\'s publish, socket.io\'s emit) stamps each call after the earlier ones were written, so its per-call p99 leaves out the wait behind them.', '');
  }

  const jsIds = scenarios.filter((s) => s.id.startsWith('js-')).map((s) => s.id);
  if (jsIds.length) {
    L.push('## JS boundary: broadcast calls from JS (medians)', '');
    const calls = { product: '`channel.broadcast(id, data)`', socketio: '`io.to(room).emit(category, data)`', 'socketio-bun': 'the same as B', 'uws-bun': '`server.publish(topic, packet)`' };
    const how = kinds.filter((k) => calls[k]).map((k) => `${SERVERS[k].short}: ${calls[k]}`).join('; ');
    L.push(`The server loops \`count\` broadcasts in JS (${how}); calls/s is that loop alone, deliveries/s is end to end.`, '');
    serverTable(L, {
      ids: jsIds,
      ...scenarioLead,
      m,
      results,
      cols: [
        { head: 'calls/s', keys: ['callsPerSec'], bold: true, cell: (x) => fmtInt(x.callsPerSec) },
        { head: 'deliveries/s', keys: ['deliveriesPerSec'], cell: (x) => fmtInt(x.deliveriesPerSec) },
        { head: 'lost', cell: (x) => fmtInt(x.lostTotal) },
      ],
    });
  }

  if (has('storm-10k')) {
    const sc = scenarios.find((s) => s.id === 'storm-10k');
    L.push('## Connect + auth + join storm (medians)', '');
    L.push(`${sizeOf(sc)}, ${sc.concurrency} handshakes in flight, ${sc.runs ?? meta.runs} runs per server; each: TCP connect, websocket upgrade, Engine.IO open, CONNECT with a token (JS \`authenticate\`), \`joinChannel\` (async JS \`canAccessChannel\`), \`joinedChannel\`.`, '');
    const retries = (kind) => fmtInt(results.filter((r) => r.scenario === 'storm-10k' && r.server === kind).reduce((a, r) => a + (r.connectRetries ?? 0), 0));
    serverTable(L, {
      ids: ['storm-10k'],
      m,
      results,
      cols: [
        { head: 'joins/s', keys: ['connectRate'], bold: true, cell: (x) => withRange(x, 'connectRate') },
        { head: 'handshake p99 ms', keys: ['handshakeP99Ms'], cell: (x) => fmt(x.handshakeP99Ms) },
        { head: 'server CPU µs/join', keys: ['connectCpuPerJoinUs'], cell: (x) => fmt(x.connectCpuPerJoinUs) },
        { head: 'of which JS main thread', keys: ['connectJsThreadPerJoinUs'], cell: (x) => fmt(x.connectJsThreadPerJoinUs) },
        { head: 'failed', cell: (x) => fmtInt(x.connectFailedTotal) },
        { head: 'retries', cell: (_x, kind) => retries(kind) },
      ],
    });
    L.push(...connectPathLines(m['storm-10k'] ?? {}));
  }

  const idleIds = ['idle-10k', 'idle-max'].filter(has);
  if (idleIds.length) {
    L.push('## Idle connections and memory (medians)', '');
    L.push('RSS is read from `/proc/self/status` after a full GC (`--expose-gc`; `Bun.gc(true)` on Bun): baseline before any connection, held after all joined and settled (1 s), end after the hold. KiB per connection = (end − baseline) / connections held.', '');
    serverTable(L, {
      ids: idleIds,
      ...scenarioLead,
      m,
      results,
      cols: [
        { head: 'held', cell: (x) => fmtInt(x.held) },
        { head: 'RSS baseline MiB', cell: (x) => fmt(x.baselineRssMiB, 0) },
        { head: 'RSS held MiB', keys: ['rssMiB'], cell: (x) => fmt(x.rssMiB, 0) },
        { head: 'KiB per connection', keys: ['rssPerConnKiB'], bold: true, cell: (x) => fmt(x.rssPerConnKiB, 1) },
        { head: 'RSS end MiB', cell: (x) => fmt(x.rssEndMiB, 0) },
        { head: 'max MiB', cell: (x) => fmt(x.rssMaxMiB, 0) },
        { head: 'growth during hold', cell: (x) => `${fmtSigned(x.holdGrowthPct)} %` },
        { head: 'idle CPU (cores)', cell: (x) => fmt(x.idleCpuCores, 3) },
      ],
    });
    const max = results.find((r) => r.scenario === 'idle-max' && r.server === 'product' && r.samples);
    if (max) L.push(`RSS samples while holding (A, idle-max): ${max.samples.map((s) => `${s.t}s ${s.rssMiB} MiB`).join(' · ')}`, '');
  }

  L.push(...methodLines(ran), ...machineLines(machine, meta, results));
  const failures = results.filter((r) => r.error || !r.ok);
  if (failures.length) {
    L.push('## Runs with errors or losses', '');
    for (const r of failures) {
      L.push(`- ${r.scenario}/${r.server}: ${r.error ? r.error.split('\n')[0] : `lost ${r.lost ?? 0}, dup ${r.duplicates ?? 0}, connect failed ${r.connectFailed}, closed early ${r.closedEarly}, errors ${JSON.stringify(r.errors)}`}`);
    }
    L.push('');
  }
  L.push('<details><summary>Every run</summary>', '');
  L.push('Server threads: CPU seconds per thread while deliveries were measured (`js-main` = the JS thread, `modelence-ws` = A’s tokio workers, `node-helpers` = V8 GC/compiler and libuv pool threads; on Bun, `js-main` also runs uWebSockets’ event loop and the other threads keep Bun’s names).', '');
  L.push('| # | scenario | server | joined | joins/s | deliveries/s | p99 ms | lost | CPU µs/delivery | server threads (CPU s) | KiB/conn | loadgen busy | others (cores) | softirq (cores) | wall s |');
  L.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|');
  results.forEach((r, i) => {
    const threads = Object.entries(r.serverThreadCpu ?? {}).map(([n, s]) => `${n} ${s}`).join(', ');
    L.push(`| ${i + 1} | ${r.scenario} | ${r.server} | ${r.error ? 'error' : fmtInt(r.joined)} | ${fmtInt(r.connectRate)} | ${fmtInt(r.deliveriesPerSec)} | ${fmt(r.p99Ms)} | ${fmtInt(r.lost)} | ${fmt(r.cpuPerDeliveryUs, 3)} | ${threads || '–'} | ${fmt(r.rssPerConnKiB, 1)} | ${pct(r.loadgenBusy)} | ${fmt(r.otherCores)} | ${fmt(r.irqCores)} | ${fmt(r.wallSeconds, 1)} |`);
  });
  L.push('', '</details>', '');
  L.push('## Reproduce', '');
  L.push('```sh');
  L.push('cargo build --release -p loadgen   # the load generator (once)');
  L.push('npm run bench                      # full run, rewrites this file and docs/bench.svg');
  L.push('npm run bench -- --quick           # reduced sizes, a few minutes');
  L.push('node benches/run.mjs --help        # every option: --runs, --only, --servers, --set <scenario>.<key>=<value>, --long, ...');
  L.push('```', '');
  return L.join('\n');
}
