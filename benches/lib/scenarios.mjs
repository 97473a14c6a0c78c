// The scenarios, their sizes (full, --quick, --long) and the targets from the performance issue.
import { fmtInt } from './format.mjs';

/**
 * Every scenario. `mode` is the loadgen mode; sizes are loadgen options (clients, channels,
 * count = broadcasts per channel, size = payload bytes, intervalMs, holdSecs, sampleMs).
 * `quick` and `long` override sizes in those modes; `runs` overrides the run count.
 */
export const SCENARIOS = [
  {
    id: 'burst-1k',
    title: 'Burst fan-out, 1k clients',
    mode: 'burst',
    clients: 1000,
    channels: 1,
    count: 1000,
    size: 100,
    quick: { count: 200 },
  },
  {
    id: 'burst-10k',
    title: 'Burst fan-out, 10k clients',
    mode: 'burst',
    clients: 10000,
    channels: 1,
    count: 250,
    size: 100,
    quick: { clients: 2000, count: 100 },
  },
  {
    id: 'paced-10k',
    title: 'Paced fan-out, 10k clients, one broadcast per interval',
    mode: 'paced',
    clients: 10000,
    channels: 1,
    count: 100,
    intervalMs: 100,
    size: 100,
    quick: { clients: 2000, count: 30 },
  },
  {
    id: 'channels-10k',
    title: 'Many small channels, 10k clients',
    mode: 'burst',
    clients: 10000,
    channels: 1000,
    count: 100,
    size: 100,
    quick: { clients: 2000, channels: 200, count: 20 },
  },
  {
    id: 'storm-10k',
    title: 'Connect + auth + join storm',
    mode: 'connect',
    clients: 10000,
    concurrency: 256,
    // Half a second per run, so one run's rate is off by up to ±10 %: five runs for the median.
    runs: 5,
    quick: { clients: 2000 },
  },
  {
    id: 'idle-10k',
    title: 'Idle memory per connection',
    mode: 'idle',
    clients: 10000,
    holdSecs: 3,
    sampleMs: 1000,
    quick: { clients: 2000, holdSecs: 2 },
  },
  {
    id: 'js-1',
    title: 'JS broadcast calls/s, 1 member',
    mode: 'burst',
    clients: 1,
    channels: 1,
    count: 20000,
    size: 100,
    quick: { count: 5000 },
  },
  {
    id: 'js-100',
    title: 'JS broadcast calls/s, 100 members',
    mode: 'burst',
    clients: 100,
    channels: 1,
    count: 5000,
    size: 100,
    quick: { count: 1000 },
  },
  {
    id: 'idle-max',
    title: 'Largest idle connection count, held',
    mode: 'idle',
    clients: 100000,
    holdSecs: 30,
    sampleMs: 2000,
    concurrency: 512,
    runs: 1,
    quick: { clients: 10000, holdSecs: 5, sampleMs: 1000 },
    long: { holdSecs: 600, sampleMs: 10000 },
  },
];

/** The scenarios for a mode, with `--set id.key=value` overrides applied. */
export function plan({ quick = false, long = false, only = null, skip = [], set = [] } = {}) {
  const picked = SCENARIOS.filter((s) => (!only || only.includes(s.id)) && !skip.includes(s.id)).map((s) => {
    const { quick: q, long: l, ...base } = s;
    return { ...base, ...(quick ? q : {}), ...(long ? l : {}) };
  });
  for (const item of set) {
    const m = /^([\w*-]+)\.(\w+)=(.+)$/.exec(item);
    if (!m) throw new Error(`--set ${item}: expected <scenario|*>.<key>=<value>, e.g. burst-10k.clients=5000`);
    const [, id, key, value] = m;
    const targets = picked.filter((s) => id === '*' || s.id === id);
    if (!targets.length && id !== '*') throw new Error(`--set ${item}: no scenario ${id} in this run`);
    for (const s of targets) s[key] = Number.isNaN(Number(value)) ? value : Number(value);
  }
  return picked;
}

/** A scenario's size in words, e.g. `10,000 clients × 250 broadcasts`. */
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

/**
 * The target lines. Each `check(m)` gets the medians `m[scenario][server][metric]`
 * and returns `{ product, socketio, ratio, pass }` (pass: true, false or null when not run).
 */
export const TARGETS = [
  {
    id: 'burst-rate',
    text: 'Burst fan-out deliveries/s at 10k clients ≥ 6× socket.io, zero loss',
    scenario: 'burst-10k',
    metric: 'deliveriesPerSec',
    unit: 'deliveries/s',
    need: (ratio, m) => ratio >= 6 && m.lostMax === 0,
    needText: 'ratio ≥ 6, lost 0',
  },
  {
    id: 'burst-p99',
    text: 'p99 latency in that burst ≤ 1/10 of socket.io’s',
    scenario: 'burst-10k',
    metric: 'p99Ms',
    unit: 'ms',
    need: (ratio) => ratio <= 0.1,
    needText: 'ratio ≤ 0.1',
  },
  {
    id: 'paced-p99',
    text: 'Paced fan-out p99 latency no worse than socket.io’s',
    scenario: 'paced-10k',
    metric: 'p99Ms',
    unit: 'ms',
    need: (ratio) => ratio <= 1,
    needText: 'ratio ≤ 1',
  },
  {
    id: 'paced-cpu',
    text: 'Paced fan-out server CPU per delivery ≤ 0.6× socket.io’s',
    scenario: 'paced-10k',
    metric: 'cpuPerDeliveryUs',
    unit: 'µs CPU/delivery',
    need: (ratio) => ratio <= 0.6,
    needText: 'ratio ≤ 0.6',
  },
  {
    id: 'storm-rate',
    text: 'Connect + auth + join rate ≥ 3× socket.io',
    scenario: 'storm-10k',
    metric: 'connectRate',
    unit: 'joins/s',
    need: (ratio) => ratio >= 3,
    needText: 'ratio ≥ 3',
  },
  {
    id: 'idle-rss',
    text: 'RSS per idle connection ≤ 1/2 of socket.io’s',
    scenario: 'idle-10k',
    metric: 'rssPerConnKiB',
    unit: 'KiB/conn',
    need: (ratio) => ratio <= 0.5,
    needText: 'ratio ≤ 0.5',
  },
  {
    id: 'idle-max',
    text: '100,000 idle connections held with memory flat',
    scenario: 'idle-max',
    metric: 'held',
    unit: 'connections',
    productOnly: true,
    /** Flat: RSS at the end of the hold within 5 % of its start (both after a full GC). */
    need: (_ratio, m) => m.held >= 100000 && m.holdGrowthPct <= 5,
    needText: 'held ≥ 100,000, RSS growth ≤ 5 %',
  },
];
