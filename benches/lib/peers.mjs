// The peer servers' runtime: Bun and the packages of benches/peers/, installed there on first
// use (never by `npm ci` or `npm test` at the root).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../peers');
const BUN = path.join(DIR, 'node_modules', '.bin', 'bun');

/** Bun's version, or null when the binary is missing or is still npm's placeholder. */
function bunVersion() {
  const out = spawnSync(BUN, ['--version'], { encoding: 'utf8' });
  return out.status === 0 ? out.stdout.trim() : null;
}

function installed(name) {
  try {
    return JSON.parse(readFileSync(path.join(DIR, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * Makes sure benches/peers/ is installed and returns the path of its Bun binary; throws with
 * the reason when it cannot be. Installs from the lockfile with install scripts on, since
 * Bun's postinstall is what puts the real binary in place of npm's placeholder
 * (package.json's `allowScripts` approves it; `--strict-allow-scripts` fails instead of
 * leaving a placeholder should npm's policy change).
 */
export function ensureBun(log = () => {}) {
  const want = JSON.parse(readFileSync(path.join(DIR, 'package.json'), 'utf8')).dependencies;
  const ready = () => bunVersion() === want.bun && Object.entries(want).every(([name, v]) => installed(name) === v);
  if (ready()) return BUN;
  log('installing the peer servers (Bun, socket.io, @socket.io/bun-engine) into benches/peers/ ...');
  const args = ['ci', '--prefix', DIR, '--omit=peer', '--ignore-scripts=false', '--strict-allow-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
  const out = spawnSync('npm', args, { encoding: 'utf8' });
  if (out.status !== 0) {
    const why = (out.stderr || out.stdout || String(out.error)).split('\n').filter((l) => l.trim() && !/^npm error\s+at /.test(l));
    throw new Error(`npm ci --prefix benches/peers failed: ${why.slice(0, 4).join(' ')}`);
  }
  if (!ready()) throw new Error(`Bun ${want.bun} is not usable after installing benches/peers/ (its postinstall did not put the binary in place: install scripts disabled?)`);
  return BUN;
}

/** Versions of what the peers run on, for the report's machine section. */
export function peerFacts() {
  return { bun: bunVersion() ?? 'not installed', bunSocketio: installed('socket.io') ?? 'not installed', bunEngine: installed('@socket.io/bun-engine') ?? 'not installed' };
}
