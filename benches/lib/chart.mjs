// The chart of BENCHMARKS.md (docs/bench.svg): hand-written SVG, no dependency. Four panels of
// horizontal grouped bars, one bar per server that ran, log scale where ranges are wide.
import { SERVERS } from './servers.mjs';
import { short } from './format.mjs';

const COLORS = { product: '#1f77b4', socketio: '#ff7f0e', 'socketio-bun': '#2ca02c', 'uws-bun': '#9467bd' };
const BAR = 12;
const GAP = 2;

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel({ x, y, w, title, rows, kinds, log, unit, better }) {
  const rowH = 6 + kinds.length * (BAR + GAP);
  const labelW = 110;
  const plotW = w - labelW - 70;
  const h = 40 + rows.length * rowH + 24;
  const values = rows.flatMap((r) => kinds.map((k) => r[k])).filter((v) => typeof v === 'number' && v > 0);
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
    out.push(`<text x="${labelW - 6}" y="${ry + rowH / 2 + 4}" font-size="11" text-anchor="end">${esc(r.label)}</text>`);
    kinds.forEach((kind, j) => {
      const v = r[kind];
      const off = 3 + j * (BAR + GAP);
      const bw = typeof v === 'number' && v > 0 ? Math.max(1, scale(v)) : 0;
      out.push(`<rect x="${labelW}" y="${ry + off}" width="${bw.toFixed(1)}" height="${BAR}" fill="${COLORS[kind] ?? '#7f7f7f'}"/>`);
      out.push(`<text x="${labelW + bw + 4}" y="${ry + off + 10}" font-size="10" fill="#333">${esc(typeof v === 'number' ? short(v) + (unit ? ` ${unit}` : '') : '–')}</text>`);
    });
  });
  out.push('</g>');
  return { svg: out.join(''), h };
}

/** One swatch and label per server, wrapped to the chart's width; returns the SVG and its height. */
function legend(kinds, width) {
  const out = [];
  let [x, y] = [10, 30];
  for (const kind of kinds) {
    const text = `${SERVERS[kind].short}: ${SERVERS[kind].label}`;
    const w = 30 + text.length * 6.6;
    if (x > 10 && x + w > width) [x, y] = [10, y + 18];
    out.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[kind] ?? '#7f7f7f'}"/><text x="${x + 17}" y="${y + 10}" font-size="12">${esc(text)}</text>`);
    x += w;
  }
  return { svg: out.join(''), h: y + 18 - 30 };
}

/**
 * The chart: deliveries/s and p99 per fan-out scenario, joins/s, KiB per idle connection, one
 * bar per server of `kinds` that has numbers in `m` (`m[scenario][server][metric]`).
 */
export function chart(scenarios, m, meta, kinds) {
  const shown = kinds.filter((k) => Object.values(m).some((row) => row[k]));
  const fan = scenarios.filter((s) => s.mode === 'burst' || s.mode === 'paced').map((s) => s.id);
  const row = (id, key) => Object.fromEntries([['label', id], ...shown.map((k) => [k, m[id]?.[k]?.[key] ?? null])]);
  const W = 980;
  const colW = 470;
  const head = legend(shown, W);
  const y1 = 30 + head.h + 8;
  const common = { w: colW, kinds: shown };
  const p1 = panel({ ...common, x: 10, y: y1, title: 'Deliveries per second', rows: fan.map((id) => row(id, 'deliveriesPerSec')), log: true, unit: '', better: 'log scale · higher is better' });
  const p2 = panel({ ...common, x: 500, y: y1, title: 'p99 latency (ms)', rows: fan.map((id) => row(id, 'p99Ms')), log: true, unit: 'ms', better: 'log scale · lower is better' });
  const y2 = y1 + Math.max(p1.h, p2.h) + 20;
  const p3 = panel({ ...common, x: 10, y: y2, title: 'Connect + auth + join per second', rows: ['storm-10k'].filter((id) => m[id]).map((id) => row(id, 'connectRate')), log: false, unit: '/s', better: 'higher is better' });
  const p4 = panel({ ...common, x: 500, y: y2, title: 'RSS per idle connection (KiB)', rows: ['idle-10k', 'idle-max'].filter((id) => m[id]).map((id) => row(id, 'rssPerConnKiB')), log: false, unit: 'KiB', better: 'lower is better' });
  const H = y2 + Math.max(p3.h, p4.h) + 20;
  const peers = shown.some((k) => k !== 'product' && k !== 'socketio') ? 'socket.io and peers' : 'socket.io';
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="16" font-weight="bold">modelence-native-ws vs ${peers} — medians, ${esc(meta.quick ? 'quick mode' : 'full run')}, ${esc(meta.finishedAt.slice(0, 10))}</text>`,
    head.svg,
    p1.svg,
    p2.svg,
    p3.svg,
    p4.svg,
    '</svg>',
    '',
  ].join('\n');
}
