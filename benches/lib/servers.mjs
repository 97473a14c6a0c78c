// The benchmark's servers: the product, its peers (what it is measured against) and
// variants of the product that show what a feature or a part of the connect path costs.

/**
 * Every server, in table order; `short` names it in the tables, `about` says what it is.
 * `peer`: a server the product is compared with (the report shows the product's ratio to the
 * best peer); `runtime: 'bun'`: runs on the Bun of benches/peers/ (installed on first use)
 * instead of this Node; `scenarios`: the only scenarios it runs; `defaultScenarios`: the
 * only ones it runs unless `--servers` names it.
 */
export const SERVERS = {
  product: { label: 'modelence-native-ws', short: 'A', about: 'this package, attach mode', script: 'benches/servers/product.mjs' },
  socketio: { label: 'socket.io 4.8', short: 'B', about: 'stock, set up as Modelence sets it up', peer: true, script: 'benches/servers/socketio.mjs' },
  'socketio-bun': {
    label: 'socket.io 4.8 on Bun (@socket.io/bun-engine)',
    short: 'C',
    about: 'the same app as B on Bun, its websockets on Bun’s uWebSockets',
    peer: true,
    runtime: 'bun',
    script: 'benches/peers/socketio-bun.mjs',
  },
  'uws-bun': {
    label: 'uWebSockets pub/sub on Bun (minimal Socket.IO framing)',
    short: 'D',
    about: 'Bun.serve publish/subscribe speaking only the Socket.IO framing the clients use, with the same authenticate and access check: about the least work a JS server can do per message, not a socket.io replacement',
    peer: true,
    runtime: 'bun',
    script: 'benches/peers/uws-bun.mjs',
  },
  // What the connect path's parts cost, in the default run on the storm only (any scenario
  // with --servers): the product on its own listener, so Node neither accepts nor hands over
  // connections (A′), and the same without the JS hooks (A″), the native connect path alone.
  standalone: {
    label: 'modelence-native-ws standalone',
    short: 'A′',
    about: 'this package on its own listener, so Node neither accepts nor hands over connections but authenticate and the access check still run in JS: a diagnostic, not a target',
    script: 'benches/servers/product.mjs',
    env: { BENCH_PRODUCT_MODE: 'standalone' },
    defaultScenarios: ['storm-10k'],
  },
  nohooks: {
    label: 'modelence-native-ws standalone, no JS hooks',
    short: 'A″',
    about: 'A′ without authenticate and without an access check, so no JS runs per connection: the native connect path alone, a diagnostic, not a target',
    script: 'benches/servers/product.mjs',
    env: { BENCH_PRODUCT_MODE: 'standalone', BENCH_PRODUCT_HOOKS: 'off' },
    defaultScenarios: ['storm-10k'],
  },
  // Metrics overhead: the product with `metrics: true`, scraped once a second for the whole
  // run, as Prometheus would; in the default run, on the burst and paced scenarios only.
  metrics: {
    label: 'modelence-native-ws + metrics scraped 1/s',
    short: 'Aᵐ',
    about: 'this package with metrics on, scraped once a second: what counting costs, not a target',
    script: 'benches/servers/product.mjs',
    env: { BENCH_PRODUCT_METRICS: '1' },
    scenarios: ['burst-10k', 'paced-10k'],
  },
  // Recovery overhead: the product with connection state recovery off, where A runs with it
  // on (the default: its offsets on every event, every broadcast kept in the history).
  norecovery: {
    label: 'modelence-native-ws, recovery off',
    short: 'A₀',
    about: 'this package with connectionStateRecovery: false: what recovery costs A, not a target',
    script: 'benches/servers/product.mjs',
    env: { BENCH_PRODUCT_RECOVERY: 'off' },
    scenarios: ['burst-10k', 'paced-10k', 'idle-10k'],
  },
};

/** What `--servers` defaults to: the product, every peer, the overhead runs and the diagnostics. */
export const DEFAULT_SERVERS = Object.keys(SERVERS);

/**
 * Whether server `kind` runs scenario `id` (a server may name the only scenarios it runs,
 * or the only ones it runs when `--servers` left to its default: `named` false).
 */
export function runsScenario(kind, id, named = true) {
  const only = SERVERS[kind].scenarios ?? (named ? null : SERVERS[kind].defaultScenarios);
  return !only || only.includes(id);
}

/** The peers among `kinds`, in table order. */
export function peersOf(kinds) {
  return Object.keys(SERVERS).filter((k) => SERVERS[k].peer && kinds.includes(k));
}
