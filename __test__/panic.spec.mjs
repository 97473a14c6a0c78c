// The panic policy: an internal failure becomes a JS error; Node never aborts. Uses a
// build with hidden test hooks (`npm run build:tools` makes it under target/test-hooks).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const addon = fileURLToPath(new URL('../target/test-hooks/modelence-native-ws.linux-x64-gnu.node', import.meta.url));

test('a panic inside an export throws a JS Error and the process carries on', () => {
  assert.ok(existsSync(addon), `${addon} is missing: run npm run build:tools`);
  const script = `
    const hooks = require(${JSON.stringify(addon)});
    let caught;
    try { hooks.__forcePanic('forced for the test'); } catch (e) { caught = e; }
    if (!(caught instanceof Error)) throw new Error('no JS error');
    console.log('sync:' + caught.message);
    hooks.__forceAsyncPanic('forced async').then(
      () => console.log('async: resolved?!'),
      (e) => console.log('async:' + (e instanceof Error) + ':' + e.message),
    );
  `;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000 });
  assert.equal(run.signal, null, run.stderr);
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^sync:.*forced for the test/m);
  assert.match(run.stdout, /^async:true:internal failure: .*panic/m);
});
