// Runs probe.mjs for one configuration in a fresh `node --expose-gc` process.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PROBE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'probe.mjs');

/** Measures `server` (product or socketio) with recovery on or off over `messages` broadcasts; resolves to probe.mjs's result. */
export async function measureOnce(server, recovery, messages) {
  const args = ['--expose-gc', PROBE, server, recovery ? 'on' : 'off', String(messages)];
  try {
    const { stdout } = await promisify(execFile)(process.execPath, args, { timeout: 120000 });
    return JSON.parse(stdout.trim().split('\n').pop());
  } catch (error) {
    throw new Error(`${server} recovery ${recovery ? 'on' : 'off'}: ${(error.stderr || error.message).trim().split('\n')[0]}`);
  }
}
