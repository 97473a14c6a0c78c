// Medians, target verdicts, and writing BENCHMARKS.md (markdown.mjs) and its chart (chart.mjs).
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { round } from './runner.mjs';
import { TARGETS, sizeOf } from './scenarios.mjs';
import { peersOf } from './servers.mjs';
import { fmt, fmtInt, fmtRatio, fmtSigned } from './format.mjs';
import { chart } from './chart.mjs';
import { markdown } from './markdown.mjs';
import { keepSections } from './sections.mjs';

const KEYS = [
  'joined', 'connectRate', 'connectSeconds', 'handshakeP99Ms', 'connectCpuPerJoinUs',
  'deliveriesPerSec', 'seconds', 'p50Ms', 'p90Ms', 'p99Ms', 'p99FromStartMs', 'maxMs', 'serverCpuSeconds',
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

/** The metrics whose lowest and highest run are kept beside the median (`<key>Min`, `<key>Max`). */
const RANGED_KEYS = ['deliveriesPerSec', 'connectRate'];

/**
 * `m[scenario][server]`: medians of every numeric metric, the rates' ranges, loss totals and
 * run counts.
 */
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
      // The rates' spread across runs, shown beside their medians: how far one run can be off.
      for (const key of RANGED_KEYS) {
        const values = good.map((r) => r[key]).filter((x) => typeof x === 'number');
        m[`${key}Min`] = values.length ? Math.min(...values) : null;
        m[`${key}Max`] = values.length ? Math.max(...values) : null;
      }
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
  const kinds = meta.servers ?? ['product', 'socketio'];
  writeFileSync(chartFile, chart(scenarios, m, meta, ['product', ...peersOf(kinds)]));
  // keepSections: the Cluster section (`npm run bench -- --cluster`) survives this rewrite.
  writeFileSync(file, keepSections(file, markdown({ chartRel: path.relative(path.dirname(file), chartFile), meta, machine, scenarios, results, m, v })));
}
