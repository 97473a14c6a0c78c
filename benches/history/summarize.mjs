// Medians of the history bench's runs and what a retained message costs, per server.
import { median } from '../lib/report.mjs';

/** The servers compared, in table order, and the configurations they run with recovery on and off. */
export const HISTORY_SERVERS = {
  product: {
    short: 'A',
    label: 'modelence-native-ws',
    on: 'default (on; 1,000 messages per channel, 16 MiB)',
    off: '`connectionStateRecovery: false`',
  },
  socketio: {
    short: 'B',
    label: 'socket.io 4.8, in-memory adapter',
    on: '`connectionStateRecovery: { maxDisconnectionDuration: 120000 }`',
    off: 'no `connectionStateRecovery`',
  },
};

/**
 * Per server in `results` (probe.mjs results): median RSS and JS heap growth with recovery on
 * and off, median messages retained, and per retained message the RSS (on − off), the JS heap
 * (on − off) and, where the server accounts for it, the history's own byte count.
 */
export function summarize(results) {
  const out = {};
  for (const server of Object.keys(HISTORY_SERVERS)) {
    const on = results.filter((r) => r.server === server && r.recovery);
    const off = results.filter((r) => r.server === server && !r.recovery);
    if (!on.length || !off.length) continue;
    const rssGrowthOn = median(on.map((r) => r.rssGrowth));
    const rssGrowthOff = median(off.map((r) => r.rssGrowth));
    const heapGrowthOn = median(on.map((r) => r.heapGrowth));
    const heapGrowthOff = median(off.map((r) => r.heapGrowth));
    const retained = median(on.map((r) => r.retained));
    const accounted = median(on.map((r) => (r.accountedBytes === null ? null : r.accountedBytes / r.retained)));
    out[server] = {
      runs: on.length,
      retained,
      rssGrowthOn,
      rssGrowthOff,
      heapGrowthOn,
      heapGrowthOff,
      rssPerMessage: retained ? (rssGrowthOn - rssGrowthOff) / retained : null,
      heapPerMessage: retained ? (heapGrowthOn - heapGrowthOff) / retained : null,
      accountedPerMessage: accounted,
    };
  }
  return out;
}
