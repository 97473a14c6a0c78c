// Medians, target verdicts, BENCHMARKS.md and the chart (hand-written SVG, no dependency).
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { SERVERS, round } from './runner.mjs';
import { TARGETS } from './scenarios.mjs';

const KEYS = [
  'joined', 'connectRate', 'connectSeconds', 'handshakeP99Ms', 'connectCpuPerJoinUs',
  'deliveriesPerSec', 'seconds', 'p50Ms', 'p90Ms', 'p99Ms', 'maxMs', 'serverCpuSeconds',
  'serverCpuUsageSeconds', 'cpuPerDeliveryUs', 'userPerDeliveryUs', 'systemPerDeliveryUs', 'connectJsThreadPerJoinUs', 'rssMiB', 'rssPeakMiB', 'loadgenBusy', 'loadgenCpuSeconds',
  'callsPerSec', 'held', 'holdSeconds', 'baselineRssMiB', 'rssEndMiB', 'rssMaxMiB', 'rssPerConnKiB',
  'holdGrowthPct', 'idleCpuCores', 'otherCores', 'received', 'expected',
];

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** `m[scenario][server]`: medians of every numeric metric, plus loss totals and run counts. */
export function medians(results, scenarios, servers) {
  const out = {};
  for (const sc of scenarios) {
    out[sc.id] = {};
    for (const kind of servers) {
      const runs = results.filter((r) => r.scenario === sc.id && r.server === kind);
      if (!runs.length) continue;
      const good = runs.filter((r) => !r.error);
      const m = { runs: runs.length, errors: runs.length - good.length, okRuns: good.filter((r) => r.ok).length };
      for (const key of KEYS) m[key] = median(good.map((r) => r[key]));
      const lost = good.map((r) => r.lost).filter((x) => typeof x === 'number');
      const rates = good.map((r) => r.deliveriesPerSec).filter((x) => typeof x === 'number');
      m.deliveriesPerSecMin = rates.length ? Math.min(...rates) : null;
      m.deliveriesPerSecMax = rates.length ? Math.max(...rates) : null;
      m.lostMax = lost.length ? Math.max(...lost) : null;
      m.lostTotal = lost.reduce((a, b) => a + b, 0);
      m.duplicatesTotal = good.reduce((a, r) => a + (r.duplicates ?? 0), 0);
      m.closedEarlyTotal = good.reduce((a, r) => a + (r.closedEarly ?? 0), 0);
      m.connectFailedTotal = good.reduce((a, r) => a + (r.connectFailed ?? 0), 0);
      out[sc.id][kind] = m;
    }
  }
  return out;
}

/** The verdict of every target line. */
export function verdicts(m, scenarios, { quick, limits }) {
  return TARGETS.map((t) => {
    const sc = scenarios.find((s) => s.id === t.scenario);
    const p = m[t.scenario]?.product;
    const s = m[t.scenario]?.socketio;
    const base = { id: t.id, text: t.text, unit: t.unit, needText: t.needText };
    if (!sc || !p || (!t.productOnly && !s)) return { ...base, status: 'NOT RUN' };
    const product = p[t.metric];
    const socketio = s?.[t.metric] ?? null;
    const ratio = product !== null && socketio ? product / socketio : null;
    if (t.id === 'idle-max') {
      const flat = p.holdGrowthPct !== null && p.holdGrowthPct <= 5;
      const heldAll = p.held >= sc.clients && p.errors === 0;
      let status = flat && heldAll ? 'PASS' : 'FAIL';
      let note = `held ${fmtInt(p.held)} of ${fmtInt(sc.clients)} for ${round(p.holdSeconds, 0)} s, RSS ${fmtSigned(p.holdGrowthPct)} %`;
      if (sc.clients < 100000) {
        if (sc.cappedFrom) {
          status = heldAll && flat ? 'BLOCKED' : 'FAIL';
          note += `; capped from ${fmtInt(sc.cappedFrom)}: RLIMIT_NOFILE hard limit is ${limits.hard} here and cannot be raised (no CAP_SYS_RESOURCE)`;
        } else {
          status = `${status} (at ${fmtInt(sc.clients)})`;
        }
      }
      return { ...base, product, socketio, ratio, status, note };
    }
    let pass = ratio !== null && t.need(ratio, p);
    if (t.id === 'burst-rate' && p.lostMax !== 0) pass = false;
    const sizeNote = quick ? ` (quick sizes: ${sizeOf(sc)})` : '';
    return { ...base, product, socketio, ratio, status: (pass ? 'PASS' : 'FAIL') + (quick ? '*' : ''), note: sizeNote.trim() };
  });
}

export function sizeOf(sc) {
  const parts = [`${fmtInt(sc.clients)} clients`];
  if (sc.mode === 'burst' || sc.mode === 'paced') {
    parts.push(sc.channels > 1 ? `${fmtInt(sc.channels)} channels × ${fmtInt(sc.count)}` : `× ${fmtInt(sc.count)} broadcasts`);
  }
  if (sc.mode === 'paced') parts.push(`every ${sc.intervalMs} ms`);
  if (sc.mode === 'idle') parts.push(`held ${sc.holdSecs} s`);
  if (sc.cappedFrom) parts.push(`(capped from ${fmtInt(sc.cappedFrom)})`);
  return parts.join(' ');
}

const fmtInt = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const fmtSigned = (v) => (typeof v === 'number' ? (v >= 0 ? '+' : '') + v.toFixed(1) : '–');
function fmt(v, digits = 2) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1000) return fmtInt(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(Math.min(1, digits));
  return v.toFixed(digits);
}
const ratioOf = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null);
const fmtRatio = (r) => (r === null ? '–' : `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toFixed(3)}×`);

/** The console summary: one line per target. */
export function targetLines(v) {
  return v.map((t) => {
    const nums = t.product === undefined ? '' : ` — product ${fmt(t.product)} vs socket.io ${fmt(t.socketio)} ${t.unit}, ratio ${fmtRatio(t.ratio)} (need ${t.needText})`;
    return `${t.status.padEnd(8)} ${t.text}${nums}${t.note ? ` [${t.note}]` : ''}`;
  });
}

/** Writes BENCHMARKS.md and the chart. */
export function writeReport({ file, chartFile, meta, machine, scenarios, results, m, v }) {
  mkdirSync(path.dirname(chartFile), { recursive: true });
  writeFileSync(chartFile, chart(scenarios, m, meta));
  writeFileSync(file, markdown({ chartRel: path.relative(path.dirname(file), chartFile), meta, machine, scenarios, results, m, v }));
}

function markdown({ chartRel, meta, machine, scenarios, results, m, v }) {
  const L = [];
  const has = (id) => scenarios.some((s) => s.id === id);
  const P = SERVERS.product.label;
  const S = SERVERS.socketio.label;
  L.push('# Benchmarks: modelence-native-ws vs socket.io');
  L.push('');
  L.push(`<!-- Generated by \`npm run bench\` (benches/run.mjs). Do not edit by hand: rerun it. -->`);
  L.push('');
  L.push(
    `Generated ${meta.finishedAt} by \`${meta.command}\` in ${Math.round(meta.seconds)} s` +
      ` (${meta.quick ? '**quick mode**: reduced sizes, indicative only' : 'full sizes'}${meta.long ? ', long hold' : ''};` +
      ` ${meta.runs} runs per server per scenario, alternating A/B, medians shown).`,
  );
  L.push('');
  L.push(`A = **${P}** (this package, attach mode); B = **${S}** (stock, set up as Modelence sets it up).` +
    (meta.servers?.includes('standalone') ? ' A′ = this package in standalone mode (its own listener, no JS on the connection path): a diagnostic, not a target.' : ''));
  L.push('');
  L.push('## Targets');
  L.push('');
  L.push('| target | A (product) | B (socket.io) | A/B | needed | result |');
  L.push('|---|---:|---:|---:|---|---|');
  for (const t of v) {
    L.push(
      `| ${t.text} | ${fmt(t.product)} | ${fmt(t.socketio)} | ${fmtRatio(t.ratio)} | ${t.needText} | **${t.status}**${t.note ? ` ${t.note}` : ''} |`,
    );
  }
  if (meta.quick) L.push('', '`*` quick mode: verdicts at reduced sizes; run `npm run bench` for the real ones.');
  L.push('');
  L.push(`![deliveries/s, p99 latency, connect rate and memory per connection, A vs B](${chartRel})`);
  L.push('');

  const deliveryIds = scenarios.filter((s) => s.mode === 'burst' || s.mode === 'paced').map((s) => s.id);
  if (deliveryIds.length) {
    L.push('## Fan-out (medians)');
    L.push('');
    L.push('| scenario | size | server | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | lost | dup | server CPU s | CPU µs/delivery | user/sys µs | RSS MiB | loadgen busy |');
    L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|');
    for (const id of deliveryIds) {
      const sc = scenarios.find((s) => s.id === id);
      for (const kind of KINDS) {
        const x = m[id]?.[kind];
        if (!x) continue;
        L.push(
          `| ${id} | ${sizeOf(sc)} | ${SERVERS[kind].short} | ${fmtInt(x.deliveriesPerSec)}${x.runs > 1 ? ` <sub>${short(x.deliveriesPerSecMin)}–${short(x.deliveriesPerSecMax)}</sub>` : ''} | ${fmt(x.p50Ms)} | ${fmt(x.p90Ms)} | ${fmt(x.p99Ms)} | ${fmt(x.maxMs)} | ${fmtInt(x.lostTotal)} | ${fmtInt(x.duplicatesTotal)} | ${fmt(x.serverCpuUsageSeconds)} | ${fmt(x.cpuPerDeliveryUs, 3)} | ${fmt(x.userPerDeliveryUs)} / ${fmt(x.systemPerDeliveryUs)} | ${fmt(x.rssMiB, 0)} | ${pct(x.loadgenBusy)} |`,
        );
      }
      const a = m[id]?.product;
      const b = m[id]?.socketio;
      if (a && b) {
        L.push(
          `| ${id} | | **A/B** | **${fmtRatio(ratioOf(a.deliveriesPerSec, b.deliveriesPerSec))}** | ${fmtRatio(ratioOf(a.p50Ms, b.p50Ms))} | ${fmtRatio(ratioOf(a.p90Ms, b.p90Ms))} | **${fmtRatio(ratioOf(a.p99Ms, b.p99Ms))}** | ${fmtRatio(ratioOf(a.maxMs, b.maxMs))} | | | ${fmtRatio(ratioOf(a.serverCpuUsageSeconds, b.serverCpuUsageSeconds))} | **${fmtRatio(ratioOf(a.cpuPerDeliveryUs, b.cpuPerDeliveryUs))}** | ${fmtRatio(ratioOf(a.userPerDeliveryUs, b.userPerDeliveryUs))} / ${fmtRatio(ratioOf(a.systemPerDeliveryUs, b.systemPerDeliveryUs))} | ${fmtRatio(ratioOf(a.rssMiB, b.rssMiB))} | |`,
        );
      }
    }
    L.push('');
    L.push('deliveries/s: median, with the range over the runs in small print. Lost and dup are totals over all runs (lost: expected − received, per client by sequence number).');
    L.push('');
  }

  const jsIds = scenarios.filter((s) => s.id.startsWith('js-')).map((s) => s.id);
  if (jsIds.length) {
    L.push('## JS boundary: broadcast calls from JS (medians)');
    L.push('');
    L.push('The server loops `count` broadcasts in JS (A: `channel.broadcast(id, data)`; B: `io.to(room).emit(category, data)`); calls/s is that loop alone, deliveries/s is end to end.');
    L.push('');
    L.push('| scenario | size | A calls/s | B calls/s | A/B | A deliveries/s | B deliveries/s | A lost | B lost |');
    L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const id of jsIds) {
      const sc = scenarios.find((s) => s.id === id);
      const a = m[id]?.product;
      const b = m[id]?.socketio;
      L.push(
        `| ${id} | ${sizeOf(sc)} | ${fmtInt(a?.callsPerSec)} | ${fmtInt(b?.callsPerSec)} | ${fmtRatio(ratioOf(a?.callsPerSec, b?.callsPerSec))} | ${fmtInt(a?.deliveriesPerSec)} | ${fmtInt(b?.deliveriesPerSec)} | ${fmtInt(a?.lostTotal)} | ${fmtInt(b?.lostTotal)} |`,
      );
    }
    L.push('');
  }

  if (has('storm-10k')) {
    const sc = scenarios.find((s) => s.id === 'storm-10k');
    L.push('## Connect + auth + join storm (medians)');
    L.push('');
    L.push(`${sizeOf(sc)}, ${sc.concurrency} handshakes in flight; each: TCP connect, websocket upgrade, Engine.IO open, CONNECT with a token (JS \`authenticate\`), \`joinChannel\` (async JS \`canAccessChannel\`), \`joinedChannel\`.`);
    L.push('');
    L.push('| server | joins/s | handshake p99 ms | server CPU µs/join | of which JS main thread | failed | retries |');
    L.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const kind of KINDS) {
      const x = m['storm-10k']?.[kind];
      if (x) L.push(`| ${SERVERS[kind].short} | ${fmtInt(x.connectRate)} | ${fmt(x.handshakeP99Ms)} | ${fmt(x.connectCpuPerJoinUs)} | ${fmt(x.connectJsThreadPerJoinUs)} | ${fmtInt(x.connectFailedTotal)} | ${runsSum(results, 'storm-10k', kind, 'connectRetries')} |`);
    }
    const a = m['storm-10k']?.product;
    const b = m['storm-10k']?.socketio;
    if (a && b) L.push(`| **A/B** | **${fmtRatio(ratioOf(a.connectRate, b.connectRate))}** | ${fmtRatio(ratioOf(a.handshakeP99Ms, b.handshakeP99Ms))} | ${fmtRatio(ratioOf(a.connectCpuPerJoinUs, b.connectCpuPerJoinUs))} | ${fmtRatio(ratioOf(a.connectJsThreadPerJoinUs, b.connectJsThreadPerJoinUs))} | | |`);
    L.push('');
  }

  const idleIds = ['idle-10k', 'idle-max'].filter(has);
  if (idleIds.length) {
    L.push('## Idle connections and memory (medians)');
    L.push('');
    L.push('RSS is read from `/proc/self/status` after a full GC (`--expose-gc`): baseline before any connection, held after all joined and settled (1 s), end after the hold. KiB per connection = (end − baseline) / connections held.');
    L.push('');
    L.push('| scenario | size | server | held | RSS baseline MiB | RSS held MiB | KiB per connection | RSS end MiB | max MiB | growth during hold | idle CPU (cores) |');
    L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const id of idleIds) {
      const sc = scenarios.find((s) => s.id === id);
      for (const kind of KINDS) {
        const x = m[id]?.[kind];
        if (x) L.push(`| ${id} | ${sizeOf(sc)} | ${SERVERS[kind].short} | ${fmtInt(x.held)} | ${fmt(x.baselineRssMiB, 0)} | ${fmt(x.rssMiB, 0)} | ${fmt(x.rssPerConnKiB, 1)} | ${fmt(x.rssEndMiB, 0)} | ${fmt(x.rssMaxMiB, 0)} | ${fmtSigned(x.holdGrowthPct)} % | ${fmt(x.idleCpuCores, 3)} |`);
      }
      const a = m[id]?.product;
      const b = m[id]?.socketio;
      if (a && b) L.push(`| ${id} | | **A/B** | | | ${fmtRatio(ratioOf(a.rssMiB, b.rssMiB))} | **${fmtRatio(ratioOf(a.rssPerConnKiB, b.rssPerConnKiB))}** | | | | |`);
    }
    L.push('');
    const max = results.find((r) => r.scenario === 'idle-max' && r.server === 'product' && r.samples);
    if (max) {
      L.push(`RSS samples while holding (A, idle-max): ${max.samples.map((s) => `${s.t}s ${s.rssMiB} MiB`).join(' · ')}`);
      L.push('');
    }
  }

  L.push('## Method');
  L.push('');
  L.push(
    [
      '- **Servers**, each in its own child process (`node --expose-gc`), one at a time, never both at once; a fresh process per run. ' +
        'A: `benches/servers/product.mjs`, this package attached to a small `http.Server` app (`startWebsocketServer({ httpServer, modules, authenticate })`), ' +
        'channel `bench` with an async `canAccessChannel`. B: `benches/servers/socketio.mjs`, `new Server(httpServer, { cors: { origin: "*" }, transports: ["websocket"], perMessageDeflate: false })`, ' +
        'an `io.use` middleware awaiting the same `authenticate`, and `joinChannel`/`leaveChannel` handlers as in Modelence’s `server.ts` (find the channel by category, await its check, `socket.join`, `joinedChannel`, else `joinError`). ' +
        'Neither is tuned beyond that (A runs with its defaults: `maxBufferedPackets` 4096, one tokio worker per core but one; B logs nothing and has no MongoDB adapter, like A here). Both listen on 127.0.0.1 with backlog 511.',
      '- **Load generator** `benches/loadgen` (Rust, one thread, tokio `current_thread`, hand-rolled websocket client): each client connects to `/socket.io/?EIO=4&transport=websocket`, ' +
        'answers Engine.IO pings, sends `40{"token":…}`, waits for `40{"sid":…}`, emits `joinChannel`, waits for `joinedChannel`, then counts `42["bench",{"t":…,"s":…,"p":…}]`. ' +
        'Handshakes are capped at 256 in flight (`--concurrency`). Losses are counted per client by sequence number, duplicates and reordering too. Its own CPU time is reported: ' +
        '“loadgen busy” is its CPU seconds / wall seconds while deliveries were measured (near 100 % would mean it, not the server, was the limit).',
      '- **Broadcasts** are made inside the server process by `POST /bench/burst` (back-to-back loop) or `POST /bench/paced` (one round every `intervalMs` on a fixed schedule; ' +
        'there `t` is the round’s *scheduled* time, so a server whose event loop falls behind is charged for it), ' +
        'each payload `{"t":<µs>,"s":<seq>,"p":"x…"}` of about 100 bytes. `t` is CLOCK_MONOTONIC in µs (`process.hrtime()`), the clock the load generator reads, ' +
        'so latency = receipt − send stamp needs no clock sync (the issue suggested epoch time; Node’s `Date.now()` only has ms resolution).',
      '- **deliveries/s** = messages received / (last receipt − first send stamp). **Latency** percentiles are exact (every sample sorted). ' +
        '**Server CPU** = `process.cpuUsage()` delta (getrusage RUSAGE_SELF: all threads, tokio’s included; `/proc/self/stat` agrees and is recorded too) from just before the trigger to the last delivery; ' +
        '**CPU µs/delivery** divides it by the deliveries. **RSS** from `/proc/self/status`.',
      '- **Connect rate** = joined clients / (last `joinedChannel` − start). **KiB per connection** = (RSS at the end of the hold − RSS baseline) / connections, both after a full GC.',
      '- Each scenario runs A then B, repeated; tables show medians; ratios are A/B. The machine’s other load during each run is estimated from `/proc/stat` minus the server and the load generator and reported below.',
    ].join('\n'),
  );
  L.push('');
  L.push('## Machine');
  L.push('');
  L.push(`- CPU: ${machine.cpu}, ${machine.cores} cores; RAM ${machine.memGiB} GiB; ${machine.kernel}`);
  L.push(`- Node ${machine.node}; ${machine.rustc}; socket.io ${machine.socketio} (engine.io ${machine.engineio}, ws ${machine.ws})`);
  L.push(`- modelence-native-ws ${machine.product}; addon ${machine.addonBuilt}`);
  L.push(`- RLIMIT_NOFILE hard limit ${machine.nofileHard}; somaxconn ${machine.somaxconn}; ephemeral ports ${machine.portRange}`);
  L.push(`- Machine load before the run: ${meta.quietBefore.cores} cores busy, loadavg ${meta.quietBefore.loadavg.join(' ')}${meta.quietBefore.top.length ? ` (busiest: ${meta.quietBefore.top.map((p) => `${p.name} ${p.cores}`).join(', ')})` : ''}`);
  const builds = [...new Set(results.map((r) => r.addon).filter(Boolean))];
  if (builds.length > 1) {
    L.push(`- **The addon was rebuilt during the run** (builds of ${builds.join(', ')}): ${builds.map((b) => `${b}: ${results.filter((r) => r.addon === b).map((r) => r.scenario).filter((x, i, a) => a.indexOf(x) === i).join(', ')}`).join('; ')}.`);
  }
  const noisy = results.filter((r) => r.otherCores > 0.25);
  L.push(
    noisy.length
      ? `- **Noisy runs**: ${noisy.map((r) => `${r.scenario}/${r.server} (${r.otherCores.toFixed(2)} cores used by others)`).join(', ')}; treat those numbers with care.`
      : '- No run saw more than 0.25 cores of other load.',
  );
  L.push('');
  const failures = results.filter((r) => r.error || !r.ok);
  if (failures.length) {
    L.push('## Runs with errors or losses');
    L.push('');
    for (const r of failures) {
      L.push(`- ${r.scenario}/${r.server}: ${r.error ? r.error.split('\n')[0] : `lost ${r.lost ?? 0}, dup ${r.duplicates ?? 0}, connect failed ${r.connectFailed}, closed early ${r.closedEarly}, errors ${JSON.stringify(r.errors)}`}`);
    }
    L.push('');
  }
  L.push('<details><summary>Every run</summary>');
  L.push('');
  L.push('Server threads: CPU seconds per thread while deliveries were measured (`js-main` = the JS thread, `modelence-ws` = A’s tokio workers, `node-helpers` = V8 GC/compiler and libuv pool threads).');
  L.push('');
  L.push('| # | scenario | server | joined | joins/s | deliveries/s | p99 ms | lost | CPU µs/delivery | server threads (CPU s) | KiB/conn | loadgen busy | others (cores) | softirq (cores) | wall s |');
  L.push('|---:|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|');
  results.forEach((r, i) => {
    const threads = Object.entries(r.serverThreadCpu ?? {}).map(([n, s]) => `${n} ${s}`).join(', ');
    L.push(`| ${i + 1} | ${r.scenario} | ${r.server} | ${r.error ? 'error' : fmtInt(r.joined)} | ${fmtInt(r.connectRate)} | ${fmtInt(r.deliveriesPerSec)} | ${fmt(r.p99Ms)} | ${fmtInt(r.lost)} | ${fmt(r.cpuPerDeliveryUs, 3)} | ${threads || '–'} | ${fmt(r.rssPerConnKiB, 1)} | ${pct(r.loadgenBusy)} | ${fmt(r.otherCores)} | ${fmt(r.irqCores)} | ${fmt(r.wallSeconds, 1)} |`);
  });
  L.push('');
  L.push('</details>');
  L.push('');
  L.push('## Reproduce');
  L.push('');
  L.push('```sh');
  L.push('cargo build --release -p loadgen   # the load generator (once)');
  L.push('npm run bench                      # full run, rewrites this file and docs/bench.svg');
  L.push('npm run bench -- --quick           # reduced sizes, a few minutes');
  L.push('node benches/run.mjs --help        # every option: --runs, --only, --set <scenario>.<key>=<value>, --long, ...');
  L.push('```');
  L.push('');
  return L.join('\n');
}

function pct(v) {
  return typeof v === 'number' ? `${Math.round(v * 100)} %` : '–';
}

function runsSum(results, scenario, server, key) {
  return fmtInt(results.filter((r) => r.scenario === scenario && r.server === server).reduce((a, r) => a + (r[key] ?? 0), 0));
}

// ---------------------------------------------------------------------------------------------
// Chart: four panels of horizontal grouped bars (A vs B), log scale where ranges are wide.

const COLORS = { product: '#1f77b4', socketio: '#ff7f0e' };
/** Table order: A, B, then the optional diagnostic server A′ (standalone) when it ran. */
const KINDS = ['product', 'socketio', 'standalone'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel({ x, y, w, title, rows, log, unit, better }) {
  const rowH = 34;
  const labelW = 110;
  const plotW = w - labelW - 70;
  const h = 40 + rows.length * rowH + 24;
  const values = rows.flatMap((r) => [r.a, r.b]).filter((v) => typeof v === 'number' && v > 0);
  const out = [`<g transform="translate(${x},${y})">`];
  out.push(`<text x="0" y="16" font-size="14" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="${w - 4}" y="16" font-size="11" text-anchor="end" fill="#555">${esc(better)}</text>`);
  if (!values.length) {
    out.push(`<text x="0" y="44" font-size="12" fill="#777">not run</text></g>`);
    return { svg: out.join(''), h };
  }
  let scale;
  let ticks;
  if (log) {
    const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
    const span = Math.log10(hi) - Math.log10(lo) || 1;
    scale = (v) => (v > 0 ? ((Math.log10(v) - Math.log10(lo)) / span) * plotW : 0);
    ticks = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  } else {
    const hi = Math.max(...values) * 1.1;
    scale = (v) => (v / hi) * plotW;
    ticks = [0, hi / 2, hi].map((t) => Number(t.toPrecision(2)));
  }
  const top = 30;
  for (const t of ticks) {
    const tx = labelW + scale(t);
    out.push(`<line x1="${tx}" y1="${top}" x2="${tx}" y2="${top + rows.length * rowH}" stroke="#ddd"/>`);
    out.push(`<text x="${tx}" y="${top + rows.length * rowH + 14}" font-size="10" text-anchor="middle" fill="#555">${esc(short(t))}</text>`);
  }
  rows.forEach((r, i) => {
    const ry = top + i * rowH;
    out.push(`<text x="${labelW - 6}" y="${ry + 20}" font-size="11" text-anchor="end">${esc(r.label)}</text>`);
    [['product', r.a, 3], ['socketio', r.b, 17]].forEach(([kind, v, off]) => {
      const bw = typeof v === 'number' && v > 0 ? Math.max(1, scale(v)) : 0;
      out.push(`<rect x="${labelW}" y="${ry + off}" width="${bw.toFixed(1)}" height="12" fill="${COLORS[kind]}"/>`);
      out.push(`<text x="${labelW + bw + 4}" y="${ry + off + 10}" font-size="10" fill="#333">${esc(typeof v === 'number' ? short(v) + (unit ? ` ${unit}` : '') : '–')}</text>`);
    });
  });
  out.push('</g>');
  return { svg: out.join(''), h };
}

function short(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}

/** The chart: deliveries/s and p99 per fan-out scenario, joins/s, KiB per idle connection. */
export function chart(scenarios, m, meta) {
  const fan = scenarios.filter((s) => s.mode === 'burst' || s.mode === 'paced').map((s) => s.id);
  const row = (id, key) => ({ label: id, a: m[id]?.product?.[key] ?? null, b: m[id]?.socketio?.[key] ?? null });
  const W = 980;
  const colW = 470;
  const p1 = panel({ x: 10, y: 50, w: colW, title: 'Deliveries per second', rows: fan.map((id) => row(id, 'deliveriesPerSec')), log: true, unit: '', better: 'log scale · higher is better' });
  const p2 = panel({ x: 500, y: 50, w: colW, title: 'p99 latency (ms)', rows: fan.map((id) => row(id, 'p99Ms')), log: true, unit: 'ms', better: 'log scale · lower is better' });
  const y2 = 50 + Math.max(p1.h, p2.h) + 20;
  const p3 = panel({ x: 10, y: y2, w: colW, title: 'Connect + auth + join per second', rows: ['storm-10k'].filter((id) => m[id]).map((id) => row(id, 'connectRate')), log: false, unit: '/s', better: 'higher is better' });
  const p4 = panel({ x: 500, y: y2, w: colW, title: 'RSS per idle connection (KiB)', rows: ['idle-10k', 'idle-max'].filter((id) => m[id]).map((id) => row(id, 'rssPerConnKiB')), log: false, unit: 'KiB', better: 'lower is better' });
  const H = y2 + Math.max(p3.h, p4.h) + 20;
  const legend =
    `<rect x="10" y="30" width="12" height="12" fill="${COLORS.product}"/><text x="27" y="40" font-size="12">A: ${esc(SERVERS.product.label)}</text>` +
    `<rect x="230" y="30" width="12" height="12" fill="${COLORS.socketio}"/><text x="247" y="40" font-size="12">B: ${esc(SERVERS.socketio.label)}</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="16" font-weight="bold">modelence-native-ws vs socket.io — medians, ${esc(meta.quick ? 'quick mode' : 'full run')}, ${esc(meta.finishedAt.slice(0, 10))}</text>`,
    legend,
    p1.svg,
    p2.svg,
    p3.svg,
    p4.svg,
    '</svg>',
    '',
  ].join('\n');
}
