// The cluster bench's own npm packages (benches/cluster/package.json: stock socket.io's Redis and MongoDB
// adapters and their clients), installed on first use into benches/cluster/node_modules so
// that `npm install` and `npm test` never fetch them.
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = path.dirname(fileURLToPath(import.meta.url));
const NEEDED = ['@socket.io/redis-adapter', 'redis', '@socket.io/mongo-adapter', 'mongodb'];

/** The installed version of one of this directory's packages, or null. */
export function installedVersion(name) {
  const file = path.join(DIR, 'node_modules', name, 'package.json');
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * Installs benches/cluster/package.json's dependencies when any is missing
 * (`npm install --prefix benches/cluster`). socket.io itself and its socket.io-adapter come
 * from the project's own node_modules (the adapter's peer dependency is not installed here,
 * so both use the same copy as benches/servers/socketio.mjs). Returns the versions.
 */
export function ensureClusterDeps(log = console.log) {
  if (NEEDED.some((name) => !installedVersion(name))) {
    log(`installing the cluster bench's packages (${NEEDED.join(', ')}) into ${path.relative(process.cwd(), DIR) || DIR} ...`);
    const out = spawnSync('npm', ['install', '--prefix', DIR, '--no-audit', '--no-fund', '--legacy-peer-deps'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (out.status !== 0) {
      throw new Error(`npm install --prefix ${DIR} failed (${out.status ?? out.error?.message}): ${(out.stderr || out.stdout || '').trim().slice(-2000)}`);
    }
  }
  return Object.fromEntries(NEEDED.map((name) => [name, installedVersion(name)]));
}
