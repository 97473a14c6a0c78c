// The product against its peers, column by column: which peer is best and by how much.
import { SERVERS, peersOf } from './servers.mjs';
import { fmtRatio, ratioOf } from './format.mjs';

/** Metrics where more is better (rates); for every other one (latency, CPU, memory) less is. */
const HIGHER_IS_BETTER = new Set(['deliveriesPerSec', 'connectRate', 'callsPerSec', 'held']);

/** The best peer's median of `key` in `row` (`m[scenario]`): `{ kind, value }`, or null. */
export function bestPeer(row, key) {
  const higherIsBetter = HIGHER_IS_BETTER.has(key);
  let best = null;
  for (const kind of peersOf(Object.keys(row ?? {}))) {
    const value = row[kind][key];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    if (!best || (higherIsBetter ? value > best.value : value < best.value)) best = { kind, value };
  }
  return best;
}

/** The product's ratio to the best peer for `key`, as `0.52× D` (D: that peer), or '–'. */
export function vsBest(row, key) {
  const best = bestPeer(row, key);
  const r = best ? ratioOf(row.product?.[key], best.value) : null;
  return r === null ? '–' : `${fmtRatio(r)} ${SERVERS[best.kind].short}`;
}

/** Why `kind` has no numbers in scenario `id`: the first error of its runs when all failed, else null. */
export function whyNot(results, id, kind) {
  const runs = results.filter((r) => r.scenario === id && r.server === kind);
  if (!runs.length || runs.some((r) => !r.error)) return null;
  return runs[0].error.split('\n')[0];
}
