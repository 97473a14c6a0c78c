// The cluster scenarios, their sizes (full and --quick), and how each splits over instances
// and load generators.

/** Cluster-wide settings; `--set cluster.<key>=<value>` overrides one. */
export const CLUSTER_DEFAULTS = {
  /** Server instances, one process each, all on this machine. */
  instances: 6,
  /** Connections in total, spread evenly over the instances (one loadgen per instance). */
  connections: 100000,
  /** Payload bytes per broadcast. */
  size: 100,
  /** Handshakes in flight per loadgen. */
  concurrency: 256,
  /** A loadgen gives up after this long without a delivery (its barrier wait counts too). */
  idleTimeoutSecs: 60,
  /** Runs per server per scenario (the table shows medians). */
  runs: 1,
};

/** `--quick`: a few minutes on a busy machine; indicative only. */
export const QUICK = { instances: 3, connections: 6000 };

/**
 * Every scenario. `layout: 'one'`: one channel per loadgen (all its clients in it);
 * `layout: 'spread'`: `channels` channels in all, spread over every client (each loadgen gets
 * its share). `count`: broadcasts per channel; paced: one round (every channel once) per
 * `intervalMs`. `quick`: what `--quick` changes. `--set <id>.<key>=<value>` overrides one
 * (count, intervalMs, channels).
 */
export const CLUSTER_SCENARIOS = [
  { id: 'burst-1ch', title: 'Burst, one channel per instance', mode: 'burst', layout: 'one', count: 20 },
  {
    id: 'paced-1ch',
    title: 'Paced, one channel per instance',
    mode: 'paced',
    layout: 'one',
    count: 10,
    intervalMs: 2000,
    quick: { count: 10, intervalMs: 500 },
  },
  { id: 'burst-1000ch', title: 'Burst, 1,000 channels over all clients', mode: 'burst', layout: 'spread', channels: 1000, count: 10 },
  {
    id: 'paced-1000ch',
    title: 'Paced, 1,000 channels over all clients',
    mode: 'paced',
    layout: 'spread',
    channels: 1000,
    count: 10,
    intervalMs: 2000,
    quick: { count: 10, intervalMs: 500 },
  },
];

/**
 * The settings and scenarios of a run: defaults, then `--quick`, then every `--set`
 * (`cluster.key=value` or `<scenario|*>.key=value`); `only` picks scenarios by id.
 */
export function clusterPlan({ quick = false, only = null, set = [] } = {}) {
  const config = { ...CLUSTER_DEFAULTS, ...(quick ? QUICK : {}) };
  const scenarios = CLUSTER_SCENARIOS.filter((s) => !only || only.includes(s.id)).map(({ quick: q, ...s }) => ({
    ...s,
    ...(quick ? q : {}),
  }));
  for (const item of set) {
    const m = /^([\w*-]+)\.(\w+)=(.+)$/.exec(item);
    if (!m) throw new Error(`--set ${item}: expected cluster.<key>=<value> or <scenario|*>.<key>=<value>`);
    const [, id, key, raw] = m;
    const value = Number.isNaN(Number(raw)) ? raw : Number(raw);
    if (id === 'cluster') {
      if (!(key in CLUSTER_DEFAULTS)) throw new Error(`--set ${item}: cluster settings are ${Object.keys(CLUSTER_DEFAULTS).join(', ')}`);
      config[key] = value;
      continue;
    }
    const targets = scenarios.filter((s) => id === '*' || s.id === id);
    if (!targets.length && id !== '*') throw new Error(`--set ${item}: no scenario ${id} in this run`);
    for (const s of targets) s[key] = value;
  }
  if (!Number.isInteger(config.instances) || config.instances < 2) throw new Error('cluster.instances must be an integer ≥ 2');
  if (!Number.isInteger(config.connections) || config.connections < config.instances) {
    throw new Error('cluster.connections must be an integer ≥ cluster.instances');
  }
  return { config, scenarios };
}

/** `total` split into `parts` integers that differ by at most one (larger first). */
export function split(total, parts) {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

/**
 * One loadgen per instance: loadgen `i` connects its clients to instance `i` (`home`) and has
 * its broadcasts made on instance `i + 1` (`publish`), so no member of a channel is on the
 * instance that broadcasts to it. Its channels are `bench:g<i>-<n>`, its own.
 */
export function loadgens(config, scenario) {
  const clients = split(config.connections, config.instances);
  const channels = scenario.layout === 'one' ? clients.map(() => 1) : split(scenario.channels, config.instances);
  return clients.map((n, i) => ({
    index: i,
    clients: n,
    channels: Math.min(channels[i], n),
    prefix: `g${i}-`,
    home: i,
    publish: (i + 1) % config.instances,
  }));
}

/** Size of a scenario for tables: "100,000 connections on 6 instances, 6 channels × 20". */
export function sizeText(config, scenario) {
  const fmt = (v) => Math.round(v).toLocaleString('en-US');
  const channels = scenario.layout === 'one' ? config.instances : scenario.channels;
  const parts = [`${fmt(config.connections)} conns`, `${config.instances} instances`, `${fmt(channels)} channels × ${fmt(scenario.count)}`];
  if (scenario.mode === 'paced') parts.push(`every ${fmt(scenario.intervalMs)} ms`);
  return parts.join(', ');
}
