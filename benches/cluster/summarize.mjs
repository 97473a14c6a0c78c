// One cluster run as flat numbers: the loadgens' reports added up, the instances' and the
// backend's (Redis or MongoDB) snapshots at the two barriers turned into costs.

const MiB = 2 ** 20;
const sum = (xs) => xs.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
const max = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
};
const mean = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? sum(v) / v.length : null;
};
const diff = (a, b) => (typeof a === 'number' && typeof b === 'number' ? b - a : null);

/**
 * The result of one run. Connect: loadgens connect at once, so the cluster's rate is every
 * join over the slowest loadgen's connect time. Delivery: all triggers leave together (start
 * barrier), so deliveries/s is every delivery over the longest loadgen window (its first send
 * stamp to its last receipt); p50/p99/max are the worst loadgen's. CPU, backend and machine
 * figures run from the start barrier to the end barrier.
 */
export function summarize({ kind, adapter, scenario, config, plan, baseline, marks, reports, relay, deadInstances, instanceLogs = [], wallSeconds }) {
  const good = reports.filter((r) => !r.error);
  const connects = good.map((r) => r.connect);
  const deliveries = good.map((r) => r.delivery).filter(Boolean);
  const lat = (key) => max(deliveries.map((d) => d.latency_ms?.[key]));
  const { start, end } = marks;
  const window = start && end ? (end.t - start.t) / 1e6 : null;
  const joined = sum(connects.map((c) => c.joined));
  const received = sum(deliveries.map((d) => d.received));
  const heldRss = start?.stats ? start.stats.map((s) => s.rss) : [];
  const baseRss = baseline.map((s) => s.rss);
  const instanceCpu = start && end ? start.cpu.map((c, i) => diff(c, end.cpu[i])) : [];
  const loadgenCpu = start && end ? start.loadgenCpu.map((c, i) => diff(c, end.loadgenCpu[i])) : [];
  const backendCpu = diff(start?.backendCpu, end?.backendCpu);
  // Redis: its INFO counters; MongoDB: documents in the run's database.
  const info = (key) => diff(start?.backend?.info?.[key], end?.backend?.info?.[key]);
  const published = sum(plan.map((g) => g.channels * scenario.count));
  const ours = sum(instanceCpu) + sum(loadgenCpu) + (backendCpu ?? 0) + (diff(start?.selfCpu, end?.selfCpu) ?? 0);
  const busy = diff(start?.machine.task, end?.machine.task);
  const triggers = relay.triggers.filter(Boolean);
  const r = {
    server: kind,
    adapter,
    scenario: scenario.id,
    mode: scenario.mode,
    layout: scenario.layout,
    instances: config.instances,
    requested: config.connections,
    joined,
    connectFailed: sum(connects.map((c) => c.failed)),
    connectRetries: sum(connects.map((c) => c.retries)),
    connectRate: joined / (max(connects.map((c) => c.seconds)) || Infinity),
    connectSeconds: max(connects.map((c) => c.seconds)),
    handshakeP99Ms: max(connects.map((c) => c.handshake_ms?.p99)),
    rssBaselineMiB: mean(baseRss) / MiB,
    rssHeldMiB: mean(heldRss) / MiB,
    rssHeldMaxMiB: max(heldRss) / MiB,
    rssEndMaxMiB: end ? max(end.rss) / MiB : null,
    rssPerConnKiB: heldRss.length && joined ? (sum(heldRss) - sum(baseRss)) / joined / 1024 : null,
    expected: sum(deliveries.map((d) => d.expected)),
    received,
    lost: sum(deliveries.map((d) => d.lost)),
    duplicates: sum(deliveries.map((d) => d.duplicates)),
    outOfOrder: sum(deliveries.map((d) => d.out_of_order)),
    malformed: sum(deliveries.map((d) => d.malformed)),
    complete: deliveries.length === plan.length && deliveries.every((d) => d.complete),
    deliveriesPerSec: received / (max(deliveries.map((d) => d.seconds)) || Infinity),
    deliverySeconds: max(deliveries.map((d) => d.seconds)),
    p50Ms: lat('p50'),
    p90Ms: lat('p90'),
    p99Ms: lat('p99'),
    maxMs: lat('max'),
    broadcastCallsPerSec: mean(triggers.map((t) => t.callsPerSec)),
    barrierSeconds: window,
    // How long the first loadgen to finish joining waited for the last (must stay well under
    // cluster.idleTimeoutSecs, or that loadgen gives up before its deliveries start).
    startWaitSeconds: relay.startedAt && relay.firstAskedAt ? (relay.startedAt - relay.firstAskedAt) / 1e6 : null,
    endBarrierTimedOut: relay.endTimedOut,
    instanceCpuSeconds: sum(instanceCpu),
    instanceCpuMaxSeconds: max(instanceCpu),
    cpuPerDeliveryUs: received ? (sum(instanceCpu) / received) * 1e6 : null,
    // The backend's process (redis-server or the MongoDB emulator; null for a MongoDB at
    // MONGODB_URI, which is not ours to read).
    backendCpuSeconds: backendCpu,
    backendCores: backendCpu !== null && window ? backendCpu / window : null,
    // Redis's own getrusage (INFO used_cpu_*): microseconds, not 10 ms ticks.
    redisInfoCpuSeconds: (info('used_cpu_sys') ?? NaN) + (info('used_cpu_user') ?? NaN),
    redisCpuPerPublishUs: (((info('used_cpu_sys') ?? NaN) + (info('used_cpu_user') ?? NaN)) / published) * 1e6,
    redisCommands: info('total_commands_processed'),
    redisInMiB: info('total_net_input_bytes') / MiB,
    redisOutMiB: info('total_net_output_bytes') / MiB,
    // Broadcasts the publishing instances made (each one message through the backend).
    published,
    redisOutPerPublishBytes: (info('total_net_output_bytes') ?? NaN) / published,
    redisOverflows: diff(start?.backend?.overflows, end?.backend?.overflows),
    // MongoDB: documents the run inserted per broadcast (a document per broadcast, or fewer
    // when an adapter batches).
    documentsPerPublish: (diff(start?.backend?.documents, end?.backend?.documents) ?? NaN) / published,
    loadgenCpuSeconds: sum(loadgenCpu),
    otherCores: busy !== null && window ? Math.max(0, (busy - ours) / window) : null,
    irqCores: window ? (diff(start?.machine.irq, end?.machine.irq) ?? 0) / window : null,
    wallSeconds,
    errors: [
      ...reports.filter((x) => x.error).map((x) => x.error),
      ...relay.errors,
      ...triggers.filter((t) => t.error).map((t) => `trigger: ${t.error}`),
      ...deadInstances.map((d) => `died: ${d}`),
    ],
    instanceLogs,
    closedEarly: sum(good.map((x) => x.closed_early)),
    loadgenErrors: good.reduce((acc, x) => {
      for (const [k, n] of Object.entries(x.errors ?? {})) acc[k] = (acc[k] ?? 0) + n;
      return acc;
    }, {}),
    perInstance: baseline.map((b, i) => ({
      index: i,
      rssBaselineMiB: b.rss / MiB,
      rssHeldMiB: heldRss[i] / MiB,
      rssEndMiB: end ? end.rss[i] / MiB : null,
      cpuSeconds: instanceCpu[i] ?? null,
    })),
    perLoadgen: plan.map((g, i) => {
      const x = reports[i];
      const d = x.delivery;
      return {
        ...g,
        joined: x.connect?.joined ?? null,
        connectRate: x.connect?.rate ?? null,
        received: d?.received ?? null,
        lost: d?.lost ?? null,
        duplicates: d?.duplicates ?? null,
        deliveriesPerSec: d?.rate ?? null,
        p50Ms: d?.latency_ms?.p50 ?? null,
        p99Ms: d?.latency_ms?.p99 ?? null,
        cpuSeconds: loadgenCpu[i] ?? null,
        error: x.error ?? null,
      };
    }),
    raw: reports,
  };
  r.ok = r.errors.length === 0 && r.closedEarly === 0 && r.joined === r.requested && r.complete && r.lost === 0 && r.duplicates === 0 && r.connectFailed === 0;
  return r;
}

/**
 * Several runs of one server on one scenario as one row: the median of every number, with
 * lost, duplicates, closedEarly and connectFailed summed over the runs.
 */
export function combine(runs) {
  const good = runs.filter((r) => !r.fatal);
  const out = { server: runs[0]?.server, adapter: runs[0]?.adapter, scenario: runs[0]?.scenario, runs: runs.length, okRuns: good.filter((r) => r.ok).length };
  const keys = new Set(good.flatMap((r) => Object.keys(r).filter((k) => typeof r[k] === 'number')));
  for (const key of keys) out[key] = median(good.map((r) => r[key]));
  for (const key of ['lost', 'duplicates', 'closedEarly', 'connectFailed', 'redisOverflows']) out[key] = sum(good.map((r) => r[key]));
  out.errors = runs.flatMap((r) => (r.fatal ? [r.fatal] : r.errors));
  return out;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
