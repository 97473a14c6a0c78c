// The benchmark harness, tiny: both servers (each in its own process) take 20 load-generator
// clients and 10 broadcasts with zero loss. Builds nothing: needs `cargo build --release -p loadgen`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { loadgenPath, runOnce } from '../benches/lib/runner.mjs';

const scenario = { id: 'smoke', mode: 'burst', clients: 20, channels: 1, count: 10, size: 100, idleTimeoutSecs: 5 };

test('bench smoke: product and socket.io each deliver 20 clients × 10 broadcasts, zero loss', { timeout: 20000 }, async () => {
  const bin = loadgenPath();
  assert.ok(
    existsSync(bin),
    `the benchmark load generator is not built (${bin} is missing): run \`cargo build --release -p loadgen\` first`,
  );
  for (const server of ['product', 'socketio']) {
    const r = await runOnce(server, scenario, { timeoutMs: 8000 });
    assert.equal(r.server, server);
    assert.equal(r.joined, 20, `${server}: every client joined`);
    assert.equal(r.expected, 200, `${server}: 20 × 10 deliveries expected`);
    assert.equal(r.received, 200, `${server}: every delivery arrived`);
    assert.equal(r.lost, 0, `${server}: zero loss`);
    assert.equal(r.duplicates, 0, `${server}: no duplicates`);
  }
});

test('bench smoke: the storm and its diagnostic servers (A′ standalone, A″ without JS hooks) join every client', { timeout: 30000 }, async () => {
  const storm = { id: 'smoke-storm', mode: 'connect', clients: 20, concurrency: 4 };
  for (const server of ['product', 'standalone', 'nohooks']) {
    const r = await runOnce(server, storm, { timeoutMs: 8000 });
    assert.equal(r.server, server);
    assert.equal(r.joined, 20, `${server}: every client connected, authenticated where asked, and joined`);
    assert.equal(r.connectFailed ?? 0, 0, `${server}: no failed handshake`);
    assert.ok(r.connectRate > 0, `${server}: a join rate was measured`);
  }
});
