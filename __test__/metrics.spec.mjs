// Issue #16: Prometheus metrics and stats. Real parts throughout: real socket.io-client
// connections (websocket and long-polling), a raw client that stops reading, real server
// processes sharing a real Redis, and the output read by an independent parser (the official
// Python client's, `prometheus_client.parser`; see support/prometheus.mjs).
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { ServerChannel, createWebsocketProvider } from '../lib/index.js';
import { startServer, connect, join, eventually, collect } from './support/helpers.mjs';
import { attacker } from './support/attacker.mjs';
import { startRedis, hasRedis, startInstance } from './support/cluster.mjs';
import { ensurePrometheusClient, parsePrometheus, sample } from './support/prometheus.mjs';

const TEST = { timeout: 30_000 };
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The type of every family the server renders (core/src/metrics/render.rs). */
const FAMILY_TYPES = {
  modelence_ws_connections: 'gauge',
  modelence_ws_connections_total: 'counter',
  modelence_ws_disconnects_total: 'counter',
  modelence_ws_channels: 'gauge',
  modelence_ws_joins_total: 'counter',
  modelence_ws_leaves_total: 'counter',
  modelence_ws_broadcasts_total: 'counter',
  modelence_ws_deliveries_total: 'counter',
  modelence_ws_bytes_sent_total: 'counter',
  modelence_ws_bytes_received_total: 'counter',
  modelence_ws_messages_received_total: 'counter',
  modelence_ws_slow_consumer_disconnects_total: 'counter',
  modelence_ws_adapter_published_total: 'counter',
  modelence_ws_adapter_received_total: 'counter',
  modelence_ws_dropped_total: 'counter',
  modelence_ws_hook_duration_seconds: 'histogram',
  modelence_ws_hook_timeouts_total: 'counter',
  modelence_ws_recoveries_total: 'counter',
  modelence_ws_recovery_replayed_total: 'counter',
  modelence_ws_recovery_history_messages: 'gauge',
  modelence_ws_recovery_history_bytes: 'gauge',
  modelence_ws_cluster_peers: 'gauge',
  modelence_ws_adapter_up: 'gauge',
  modelence_ws_adapter_queue: 'gauge',
  modelence_ws_adapter_lag_seconds: 'histogram',
  process_resident_memory_bytes: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_open_fds: 'gauge',
  process_max_fds: 'gauge',
};

/** The only values each label may take (bounded sets; `category` is completed per server). */
/** The results a join may end with. */
const JOIN_RESULTS = ['ok', 'denied', 'invalid', 'timeout', 'rate_limited', 'error'];

const LABEL_VALUES = {
  transport: ['websocket', 'polling'],
  // joins' results, then recoveries' results
  result: [...JOIN_RESULTS, 'recovered', 'expired', 'gap'],
  hook: ['authenticate', 'access_check', 'on_event', 'on_publish', 'presence'],
  reason: [
    'transport close',
    'transport error',
    'parse error',
    'ping timeout',
    'client namespace disconnect',
    'server namespace disconnect',
    'server shutting down',
    'forced server close',
    'multiple http polling error',
    'other',
    'overloaded', // dropped_total
  ],
};

before(() => ensurePrometheusClient());

/** `GET <url><path>` on a fresh connection: `{ status, contentType, body }`, or `{ error }`. */
function get(url, path = '/metrics', method = 'GET') {
  return new Promise((resolve) => {
    const request = http.request(`${url}${path}`, { method, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode, contentType: response.headers['content-type'], body }));
    });
    request.on('error', (error) => resolve({ error: error.code ?? error.message }));
    request.end();
  });
}

/** Scrapes `url` + `path`, checks the answer, and parses it. */
async function scrape(url, path = '/metrics') {
  const response = await get(url, path);
  assert.equal(response.status, 200, `GET ${path}: ${JSON.stringify(response).slice(0, 200)}`);
  assert.equal(response.contentType, CONTENT_TYPE);
  return parsePrometheus(response.body);
}

/** Every family parses with the type the server declares, and every label is from its set. */
function assertWellFormed(parsed, categories) {
  const byName = new Map();
  for (const family of parsed.families) {
    // The parser names counter families without `_total`; give it back to compare.
    const counted = family.samples.some((s) => s.name === `${family.name}_total`);
    byName.set(family.type === 'counter' && counted ? `${family.name}_total` : family.name, family.type);
  }
  for (const [name, type] of Object.entries(FAMILY_TYPES)) {
    if (name.startsWith('process_') && process.platform !== 'linux') continue;
    assert.equal(byName.get(name), type, `family ${name}`);
  }
  const allowed = { ...LABEL_VALUES, category: [...categories, 'unknown'] };
  for (const { name, labels } of parsed.samples) {
    for (const [key, value] of Object.entries(labels)) {
      if (key === 'le') continue;
      assert.ok(allowed[key], `${name} has an unexpected label ${key}`);
      assert.ok(allowed[key].includes(value), `${name}{${key}="${value}"}: not one of the bounded values`);
    }
  }
}

/** Joins by result for `category`, as the metrics count them. */
function joins(parsed, category) {
  return Object.fromEntries(
    JOIN_RESULTS.map((result) => [result, sample(parsed, 'modelence_ws_joins_total', { category, result })]),
  );
}

for (const mode of ['attach', 'standalone']) {
  test(`${mode}: connections, joins by result and deliveries are counted; no label carries a channel id`, TEST, async (t) => {
    const chat = new ServerChannel('chat');
    const vip = new ServerChannel('vip', () => false);
    const boom = new ServerChannel('boom', () => {
      throw new Error('check failed');
    });
    const hang = new ServerChannel('hang', () => new Promise(() => {}));
    const categories = ['chat', 'vip', 'boom', 'hang'];
    const { url, server } = await startServer(t, {
      standalone: mode === 'standalone',
      channels: [chat, vip, boom, hang],
      accessCheckTimeoutMs: 300,
      metrics: true,
    });
    const N = 3; // websocket clients
    const P = 2; // long-polling clients
    const M = 5; // broadcasts
    const clients = [];
    for (let i = 0; i < N; i++) clients.push(await connect(t, url));
    for (let i = 0; i < P; i++) clients.push(await connect(t, url, { transports: ['polling'] }));
    const start = await scrape(url);
    assertWellFormed(start, categories);
    assert.equal(sample(start, 'modelence_ws_connections', { transport: 'websocket' }), N);
    assert.equal(sample(start, 'modelence_ws_connections', { transport: 'polling' }), P);
    assert.equal(sample(start, 'modelence_ws_connections_total'), N + P);

    for (const client of clients) assert.deepEqual(await join(client, 'chat:1'), { joined: 'chat:1' });
    // One refused join of every kind, with ids that must never show up in the metrics.
    const [first] = clients;
    const refusals = {
      'vip:secret-id-9': ['vip', 'denied', 'Access denied'],
      'secret-room-42:x': ['unknown', 'denied', 'Access denied'],
      'no-colon-channel': ['unknown', 'invalid', 'Invalid channel name'],
      'boom:secret-id-10': ['boom', 'error', 'Access check failed'],
      'hang:secret-id-11': ['hang', 'timeout', 'Access check timed out'],
    };
    for (const [channel, [, , error]] of Object.entries(refusals)) {
      const reply = await join(first, channel);
      assert.ok(reply.error?.error.startsWith(error), `${channel}: ${JSON.stringify(reply)}`);
    }

    const received = clients.map((client) => collect(client, 'chat'));
    for (let n = 0; n < M; n++) chat.broadcast('1', { n });
    await eventually(() => received.every((r) => r.length === M), 3000, 'every member to get every broadcast');
    const after = await scrape(url);
    assertWellFormed(after, categories);

    const chatBefore = sample(start, 'modelence_ws_deliveries_total', { category: 'chat' });
    const chatAfter = sample(after, 'modelence_ws_deliveries_total', { category: 'chat' });
    assert.equal(chatAfter - chatBefore, (N + P) * M, 'deliveries grew by members × broadcasts');
    assert.equal(
      sample(after, 'modelence_ws_broadcasts_total', { category: 'chat' }) -
        sample(start, 'modelence_ws_broadcasts_total', { category: 'chat' }),
      M,
    );
    assert.equal(sample(after, 'modelence_ws_connections', { transport: 'websocket' }), N);
    assert.equal(sample(after, 'modelence_ws_connections', { transport: 'polling' }), P);
    assert.equal(sample(after, 'modelence_ws_channels'), 1, 'only chat:1 has members');

    const expected = Object.fromEntries([...categories, 'unknown'].map((c) => [c, Object.fromEntries(JOIN_RESULTS.map((r) => [r, 0]))]));
    expected.chat.ok = N + P;
    for (const [category, result] of Object.values(refusals)) expected[category][result] += 1;
    for (const category of [...categories, 'unknown']) assert.deepEqual(joins(after, category), expected[category], category);

    const text = await server.metrics();
    for (const id of ['secret-id', 'secret-room-42', 'no-colon-channel', 'chat:1']) {
      assert.ok(!text.includes(id), `the metrics mention ${id}`);
    }

    // stats() gives the same figures.
    const stats = await server.stats();
    assert.deepEqual(stats.connections, { websocket: N, polling: P });
    assert.equal(stats.connectionsTotal, N + P);
    assert.equal(stats.channels, 1);
    assert.deepEqual(Object.keys(stats.categories).sort(), [...categories, 'unknown'].sort());
    for (const category of [...categories, 'unknown']) assert.deepEqual(stats.categories[category].joins, expected[category]);
    assert.equal(stats.categories.chat.deliveries, chatAfter);
    assert.equal(stats.categories.chat.broadcasts, sample(after, 'modelence_ws_broadcasts_total', { category: 'chat' }));
    assert.ok(stats.bytesSent > 0 && stats.bytesReceived > 0 && stats.messagesReceived >= N + P + 5);
    assert.equal(stats.slowConsumerDisconnects, 0);
    assert.equal(stats.clusterPeers, 0);

    // Leaving and disconnecting.
    await new Promise((resolve) => {
      first.once('leftChannel', resolve);
      first.emit('leaveChannel', 'chat:1');
    });
    for (const client of clients) client.close();
    await eventually(async () => {
      const s = await server.stats();
      return s.connections.websocket === 0 && s.connections.polling === 0;
    }, 5000, 'the connection gauges to drop to 0');
    const end = await scrape(url);
    assert.equal(sample(end, 'modelence_ws_leaves_total', { category: 'chat' }), 1);
    const disconnects = end.samples.filter((s) => s.name === 'modelence_ws_disconnects_total').reduce((sum, s) => sum + s.value, 0);
    assert.equal(disconnects, N + P);
    assert.equal(sample(end, 'modelence_ws_channels'), 0);
  });
}

test('attach mode: the route is taken before the app\'s own listeners, which keep theirs', TEST, async (t) => {
  const { url, server } = await startServer(t, { metrics: true });
  const metrics = await get(url, '/metrics');
  assert.equal(metrics.status, 200);
  assert.equal(metrics.contentType, CONTENT_TYPE);
  assertWellFormed(parsePrometheus(metrics.body), []);
  assert.equal((await get(url, '/metrics?format=text')).status, 200, 'a query string is ignored');
  assert.equal((await get(url, '/metrics', 'HEAD')).status, 200);
  assert.equal((await get(url, '/metrics', 'POST')).status, 405);
  assert.deepEqual(await get(url, '/hello'), { status: 200, contentType: 'text/plain', body: 'hello from the app' });
  assertWellFormed(parsePrometheus(await server.metrics()), []);
  await server.close();
  // After close() the app has its server back: no route, and the JS calls say why.
  assert.equal((await get(url, '/metrics')).status, 404);
  await assert.rejects(server.metrics(), { code: 'MNW_SERVER_CLOSED' });
  await assert.rejects(server.stats(), { code: 'MNW_SERVER_CLOSED' });
});

test('metrics: { path } moves the route, in attach mode and standalone', TEST, async (t) => {
  const path = '/internal/metrics';
  const attached = await startServer(t, { metrics: { path } });
  await scrape(attached.url, path);
  assert.deepEqual(await get(attached.url, '/metrics'), { status: 404, contentType: undefined, body: 'not found' });
  const standalone = await startServer(t, { standalone: true, metrics: { path } });
  await scrape(standalone.url, path);
  assert.notEqual((await get(standalone.url, '/metrics')).status, 200);
});

test('metrics: false (or absent) serves no route; server.metrics() and stats() still work', TEST, async (t) => {
  for (const metrics of [false, undefined]) {
    const attached = await startServer(t, { metrics });
    assert.deepEqual(await get(attached.url, '/metrics'), { status: 404, contentType: undefined, body: 'not found' }, 'the app answers');
    const standalone = await startServer(t, { standalone: true, metrics });
    assert.notEqual((await get(standalone.url, '/metrics')).status, 200);
    for (const { server } of [attached, standalone]) {
      assertWellFormed(parsePrometheus(await server.metrics()), []);
      assert.equal((await server.stats()).connectionsTotal, 0);
    }
  }
});

test('a client that stops reading while large broadcasts flow is cut off and counted; a reading one is not', TEST, async (t) => {
  const chat = new ServerChannel('chat');
  const { url, port, server } = await startServer(t, { standalone: true, channels: [chat], maxBufferedBytes: 1024 * 1024, metrics: true });
  const reader = await connect(t, url);
  assert.deepEqual(await join(reader, 'chat:room'), { joined: 'chat:room' });
  const slow = await attacker(t, port);
  assert.match(await slow.connect(), /^40\{/);
  slow.send('42["joinChannel","chat:room"]');
  assert.equal(await slow.waitMessage((m) => m.startsWith('42')), '42["joinedChannel","chat:room","0"]', 'with recovery on (the default), replies carry the position');
  slow.pause();

  // 100 broadcasts of 256 KB (25 MB, far beyond the kernel's buffers and the 1 MiB queue),
  // each awaited by the reader so that only the client that stopped reading falls behind.
  const big = 'x'.repeat(256 * 1024);
  let got = 0;
  reader.on('chat', () => (got += 1));
  for (let n = 1; n <= 100; n++) {
    chat.broadcast('room', { n, big });
    await eventually(() => got === n, 5000, `the reader to get broadcast ${n}`);
  }
  assert.ok(await slow.waitServerClosed(3000), 'the client that stopped reading is disconnected');
  await eventually(async () => (await server.stats()).slowConsumerDisconnects === 1, 3000, 'the cut to be counted');
  const parsed = await scrape(url);
  assert.equal(sample(parsed, 'modelence_ws_slow_consumer_disconnects_total'), 1);
  assert.equal(sample(parsed, 'modelence_ws_deliveries_total', { category: 'chat' }) >= 100, true);
  assert.ok(sample(parsed, 'modelence_ws_bytes_sent_total') > 100 * 256 * 1024, 'the reader got 25 MB');
  assert.ok(reader.connected, 'the reading client stays connected');
  assert.equal(sample(parsed, 'modelence_ws_connections', { transport: 'websocket' }), 1);
});

test('an onEvent handler that times out is counted and lands in the hook histogram', TEST, async (t) => {
  const { url, server } = await startServer(t, { eventTimeoutMs: 200, metrics: true });
  const errors = [];
  server.onEvent('hang', () => new Promise(() => {}));
  server.onEvent('fast', () => 'done');
  server.onError((error) => errors.push(error.code));
  const client = await connect(t, url);
  client.emit('hang', () => assert.fail('a timed-out handler sends no ack'));
  await eventually(() => errors.includes('MNW_EVENT_TIMEOUT'), 3000, 'onError with MNW_EVENT_TIMEOUT');
  assert.equal(await client.timeout(2000).emitWithAck('fast'), 'done');

  const parsed = await scrape(url);
  const hook = { hook: 'on_event' };
  assert.equal(sample(parsed, 'modelence_ws_hook_timeouts_total', hook), 1);
  assert.equal(sample(parsed, 'modelence_ws_hook_duration_seconds_count', hook), 2);
  assert.equal(sample(parsed, 'modelence_ws_hook_duration_seconds_bucket', { ...hook, le: '0.1' }), 1, 'the fast call');
  assert.equal(sample(parsed, 'modelence_ws_hook_duration_seconds_bucket', { ...hook, le: '0.5' }), 2, 'the timed-out call, after ~200 ms');
  assert.equal(sample(parsed, 'modelence_ws_hook_duration_seconds_bucket', { ...hook, le: '+Inf' }), 2);
  assert.ok(sample(parsed, 'modelence_ws_hook_duration_seconds_sum', hook) >= 0.2);
  for (const other of ['authenticate', 'access_check', 'on_publish', 'presence']) {
    assert.equal(sample(parsed, 'modelence_ws_hook_timeouts_total', { hook: other }), 0, other);
  }
  assert.equal((await server.stats()).hookTimeouts.on_event, 1);
});

test('with Redis: cluster_peers counts the other instances; the adapter counters, lag and health show', { ...TEST, skip: !hasRedis && 'redis-server is not installed' }, async (t) => {
  const redis = await startRedis(t);
  const redisUrl = redis.url;
  const options = { metrics: true, heartbeatIntervalMs: 200, heartbeatTimeoutMs: 1000 };
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => startInstance(t, { redis: { url: redisUrl } }, options)));
  const peers = async (instance) => sample(await scrape(instance.url), 'modelence_ws_cluster_peers');
  await eventually(async () => (await peers(a)) === 2, 5000, 'a to count b and c');

  const K = 2; // members on a
  const M = 5; // broadcasts made on b
  const members = [];
  for (let i = 0; i < K; i++) {
    const client = await connect(t, a.url);
    assert.deepEqual(await join(client, 'chat:1'), { joined: 'chat:1' });
    members.push(collect(client, 'chat'));
  }
  const [aBefore, bBefore] = [await scrape(a.url), await scrape(b.url)];
  for (let n = 0; n < M; n++) b.broadcast('1', { n });
  await eventually(() => members.every((m) => m.length === M), 5000, "a's members to get b's broadcasts");
  const [aAfter, bAfter] = [await scrape(a.url), await scrape(b.url)];
  const grew = (before, after, name, labels) => sample(after, name, labels) - sample(before, name, labels);
  assert.ok(grew(bBefore, bAfter, 'modelence_ws_adapter_published_total') >= M, 'b handed its broadcasts to Redis');
  assert.ok(grew(aBefore, aAfter, 'modelence_ws_adapter_received_total') >= M, 'a received them from Redis');
  assert.equal(grew(aBefore, aAfter, 'modelence_ws_deliveries_total', { category: 'chat' }), K * M);
  assert.equal(grew(aBefore, aAfter, 'modelence_ws_broadcasts_total', { category: 'chat' }), M);
  assert.equal(grew(bBefore, bAfter, 'modelence_ws_deliveries_total', { category: 'chat' }), 0, 'b has no members');
  assert.ok(grew(aBefore, aAfter, 'modelence_ws_adapter_lag_seconds_count') >= M, "each of b's broadcasts has a lag sample on a");
  const lagged = sample(aAfter, 'modelence_ws_adapter_lag_seconds_bucket', { le: '+Inf' });
  assert.equal(lagged, sample(aAfter, 'modelence_ws_adapter_lag_seconds_count'), 'every sample is in a bucket');
  assert.ok(sample(aAfter, 'modelence_ws_adapter_lag_seconds_bucket', { le: '1' }) >= M, 'on loopback, well under a second');
  assert.equal(sample(aAfter, 'modelence_ws_adapter_up'), 1);
  assert.equal(sample(aAfter, 'modelence_ws_adapter_queue'), 0, 'nothing waits to be published at rest');

  c.kill();
  await eventually(async () => (await peers(a)) === 1, 5000, 'a to drop c once it falls silent');

  redis.stop();
  const up = async () => sample(await scrape(a.url), 'modelence_ws_adapter_up');
  await eventually(async () => (await up()) === 0, 5000, 'adapter_up to fall to 0 once Redis is gone');
});

test("the README's metric table and the Grafana dashboard name exactly what the server renders", TEST, async (t) => {
  const { url } = await startServer(t, { metrics: true });
  const parsed = await scrape(url);
  const rendered = new Set(parsed.samples.map((s) => s.name));
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Observability'), readme.indexOf('**Keep `/metrics` private.**'));
  const rows = section.split('\n').filter((line) => line.startsWith('| `'));
  const documented = rows.flatMap((row) => row.split(' | ')[0].match(/(modelence_ws|process)_\w+/g));
  assert.deepEqual(documented.sort(), Object.keys(FAMILY_TYPES).sort());
  const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8'));
  const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
  assert.ok(exprs.some((e) => e.includes('histogram_quantile(0.99')), 'a hook p99 panel');
  for (const name of exprs.flatMap((expr) => expr.match(/modelence_ws_\w+/g))) {
    assert.ok(rendered.has(name), `the dashboard queries ${name}, which the server does not render`);
  }
});

test("the provider's metrics option serves the route on Modelence's server", TEST, async (t) => {
  const provider = createWebsocketProvider({ authenticate: null, modelence: false, metrics: true });
  const httpServer = http.createServer((req, res) => res.end('app'));
  const initDone = provider.init({ httpServer, channels: [{ category: 'chat', canAccessChannel: null }] });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await provider.close();
    httpServer.closeAllConnections();
    httpServer.close();
  });
  await initDone;
  const url = `http://127.0.0.1:${httpServer.address().port}`;
  const client = await connect(t, url);
  assert.deepEqual(await join(client, 'chat:1'), { joined: 'chat:1' });
  const parsed = await scrape(url);
  assertWellFormed(parsed, ['chat']);
  assert.equal(sample(parsed, 'modelence_ws_joins_total', { category: 'chat', result: 'ok' }), 1);
  assert.equal((await get(url, '/other')).body, 'app');
  // The same figures through the provider's own calls (for an internal route).
  assert.match(await provider.metrics(), /^modelence_ws_joins_total\{category="chat",result="ok"\} 1$/m);
  assert.equal((await provider.stats()).categories.chat.joins.ok, 1);
});

test("the provider's metrics() before init rejects with a clear code", async () => {
  const provider = createWebsocketProvider({ authenticate: null, modelence: false });
  await assert.rejects(provider.metrics(), { code: 'MNW_SERVER_CLOSED', message: /call init\(\) first/ });
});
