// Hook calls made while the runtime never pauses still reach JS soon: Node's thread is woken
// when a runtime worker parks, and a worker busy without a pause wakes it within the
// deferred wake's bound (`MAX_DEFER` in src/binding/hook_calls.rs) instead. Uses the build
// with hidden test hooks (`npm run build:tools` makes it under target/test-hooks), in a child
// process that loads it as the package's binding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const addon = fileURLToPath(new URL('../target/test-hooks/modelence-native-ws.linux-x64-gnu.node', import.meta.url));
const lib = fileURLToPath(new URL('../lib/index.js', import.meta.url));

test('an event reaches its handler while the runtime is busy without a pause', (t) => {
  assert.ok(existsSync(addon), `${addon} is missing: run npm run build:tools`);
  const script = `
    const { startWebsocketServer } = require(${JSON.stringify(lib)});
    const { io } = require('socket.io-client');
    const hooks = require(${JSON.stringify(addon)});
    (async () => {
      const server = await startWebsocketServer({ host: '127.0.0.1', port: 0 });
      let handledAt;
      server.onEvent('ping', () => { handledAt = performance.now(); return 'pong'; });
      const client = io('http://127.0.0.1:' + server.port, { transports: ['websocket'] });
      await new Promise((resolve) => client.on('connect', resolve));
      await client.emitWithAck('ping');
      await new Promise((resolve) => setTimeout(resolve, 50)); // the worker has parked since
      const start = performance.now();
      const busy = hooks.__busyRuntime(2000);
      const answer = await client.emitWithAck('ping');
      const answeredAfter = performance.now() - start;
      await busy;
      const busyFor = performance.now() - start;
      console.log(JSON.stringify({ answer, handledAfter: handledAt - start, answeredAfter, busyFor }));
      client.close();
      await server.close();
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  const run = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 20000,
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    // One worker, as on this 2-core machine: with more, the event could be served by one that parks.
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addon, MODELENCE_WS_WORKER_THREADS: '1' },
  });
  assert.equal(run.status, 0, run.stderr);
  const seen = JSON.parse(run.stdout.trim().split('\n').pop());
  t.diagnostic(`busy runtime: handler after ${seen.handledAfter.toFixed(1)} ms, answer after ${seen.answeredAfter.toFixed(1)} ms`);
  assert.equal(seen.answer, 'pong');
  assert.ok(seen.busyFor >= 1900, `the runtime stayed busy (${seen.busyFor} ms)`);
  // Without the bound the handler would run only once the runtime pauses, ≈2 s later.
  assert.ok(seen.handledAfter < 500, `handler ran ${seen.handledAfter} ms into the busy runtime`);
  assert.ok(seen.answeredAfter < 1000, `answered ${seen.answeredAfter} ms into the busy runtime`);
});
