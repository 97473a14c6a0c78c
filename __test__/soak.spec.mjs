// A short version of `npm run soak` (scripts/soak.mjs): churn while broadcasts flow, then
// zero loss, zero duplicates, RSS back within 10% and no leaked file descriptors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../scripts/soak.mjs';

test('short soak: 500 connections, churn every second for 10 s', { timeout: 120000 }, async (t) => {
  const result = await runSoak({ connections: 500, channels: 50, churn: 100, churnEveryMs: 1000, seconds: 10, settleSeconds: 20, log: (m) => t.diagnostic(m) });
  t.diagnostic(JSON.stringify(result));
  assert.ok(result.messages > 10_000, `only ${result.messages} messages flowed`);
  assert.ok(result.dropsAndReconnects >= 900);
  assert.equal(result.lost, 0);
  assert.equal(result.duplicated, 0);
  assert.ok(result.rssAfterMiB <= result.rssBeforeMiB * 1.1, `RSS ${result.rssBeforeMiB} -> ${result.rssAfterMiB} MiB`);
  assert.ok(result.fdsAfter <= result.fdsBefore, `fds ${result.fdsBefore} -> ${result.fdsAfter}`);
});
