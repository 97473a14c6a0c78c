// Number formats shared by the report's tables and its chart.

/** An integer with thousands separators, or '–'. */
export const fmtInt = (v) => (typeof v === 'number' && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

/** A signed percentage-style number with one decimal, or '–'. */
export const fmtSigned = (v) => (typeof v === 'number' ? (v >= 0 ? '+' : '') + v.toFixed(1) : '–');

/** A number with `digits` decimals below 10, fewer above, separators from 1000 on. */
export function fmt(v, digits = 2) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1000) return fmtInt(v);
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(Math.min(1, digits));
  return v.toFixed(digits);
}

/** a / b, or null when either is missing or b is 0. */
export const ratioOf = (a, b) => (typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null);

/** A ratio as `15×`, `2.87×` or `0.459×`, or '–'. */
export const fmtRatio = (r) => (typeof r !== 'number' || !Number.isFinite(r) ? '–' : `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(2) : r.toFixed(3)}×`);

/** A fraction as a whole percentage, or '–'. */
export const pct = (v) => (typeof v === 'number' ? `${Math.round(v * 100)} %` : '–');

/** A compact number for small print and chart labels, about 3 digits: 1.3M, 189k, 24.8k, 12, 0.46. */
export function short(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 10) return v.toFixed(0);
  if (a >= 1) return v.toFixed(1);
  return v.toPrecision(2);
}
