// The Cluster chart (docs/bench-cluster.svg): deliveries/s and p99 latency per backend and
// scenario, A vs B, as horizontal bars on log scales; hand-written SVG, no dependency.
import { short } from '../lib/format.mjs';

const COLORS = { product: '#1f77b4', socketio: '#ff7f0e' };
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel({ x, y, w, title, note, rows, unit }) {
  const rowH = 34;
  const labelW = 150;
  const plotW = w - labelW - 70;
  const top = 30;
  const out = [`<g transform="translate(${x},${y})">`, `<text x="0" y="16" font-size="14" font-weight="bold">${esc(title)}</text>`];
  out.push(`<text x="${w - 4}" y="16" font-size="11" text-anchor="end" fill="#555">${esc(note)}</text>`);
  const values = rows.flatMap((r) => [r.a, r.b]).filter((v) => typeof v === 'number' && v > 0);
  const lo = values.length ? 10 ** Math.floor(Math.log10(Math.min(...values))) : 1;
  const hi = values.length ? 10 ** Math.ceil(Math.log10(Math.max(...values))) : 10;
  const span = Math.log10(hi) - Math.log10(lo) || 1;
  const scale = (v) => (v > 0 ? ((Math.log10(v) - Math.log10(lo)) / span) * plotW : 0);
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
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
      const text = typeof v !== 'number' ? '–' : unit === ' ms' ? `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(2)} ms` : short(v);
      out.push(`<text x="${labelW + bw + 4}" y="${ry + off + 10}" font-size="10" fill="#333">${esc(text)}</text>`);
    });
  });
  out.push('</g>');
  return { svg: out.join(''), h: top + rows.length * rowH + 24 };
}

/** The chart for `rows` (`{ label, servers: { product, socketio } }`, medians), titled with `title`. */
export function clusterChart(rows, title) {
  const row = ({ label, servers }, key) => ({ label, a: servers.product?.[key] ?? null, b: servers.socketio?.[key] ?? null });
  const W = 980;
  const p1 = panel({ x: 10, y: 50, w: 470, title: 'Cross-instance deliveries per second', note: 'log scale · higher is better', rows: rows.map((r) => row(r, 'deliveriesPerSec')), unit: '' });
  const p2 = panel({ x: 500, y: 50, w: 470, title: 'p99 latency, broadcast → receipt (ms)', note: 'log scale · lower is better', rows: rows.map((r) => row(r, 'p99Ms')), unit: ' ms' });
  const H = 50 + Math.max(p1.h, p2.h) + 10;
  const legend =
    `<rect x="10" y="30" width="12" height="12" fill="${COLORS.product}"/><text x="27" y="40" font-size="12">A: modelence-native-ws (redis / mongodb adapter)</text>` +
    `<rect x="400" y="30" width="12" height="12" fill="${COLORS.socketio}"/><text x="417" y="40" font-size="12">B: socket.io 4.8 + @socket.io/redis-adapter / mongo-adapter</text>`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="16" font-weight="bold">${esc(title)}</text>`,
    legend,
    p1.svg,
    p2.svg,
    '</svg>',
    '',
  ].join('\n');
}
