// The cluster bench's MongoDB: the real server at MONGODB_URI when it is set (a replica set;
// each run gets its own database, dropped afterwards), else the project's dev-only wire-protocol
// emulator (tools/mongo-emulator, a test double: in memory, one process) started for the run.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from '../lib/runner.mjs';
import { cpuSeconds } from './proc.mjs';

const require = createRequire(import.meta.url);
const EMULATOR = path.join(ROOT, 'target', 'release', 'mongo-emulator');

/** What the bench says it ran against (for tables): the real server or the emulator. */
export function mongoLabel() {
  return process.env.MONGODB_URI ? 'MongoDB at MONGODB_URI' : 'the MongoDB emulator (tools/mongo-emulator, a dev-only test double)';
}

/** Starts the emulator on a free loopback port; resolves to `{ uri, child }` once it prints its URI. */
function startEmulator() {
  const child = spawn(EMULATOR, ['--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
    child.once('error', (e) => reject(new Error(`${EMULATOR}: ${e.message} (build it: cargo build --release -p mongo-emulator)`)));
    child.once('exit', (code) => reject(new Error(`mongo-emulator exited ${code} before printing its URI: ${err.trim()}`)));
    child.stdout.on('data', (d) => {
      out += d;
      const line = out.split('\n');
      if (line.length > 1) resolve({ uri: line[0].trim(), child });
    });
  });
}

/**
 * Starts the MongoDB backend of one run. Returns `{ kind, url, dbName, pid, version,
 * cpuSeconds(), snapshot(), stop() }`: `url` is what instances get as BENCH_MONGODB_URL,
 * `cpuSeconds()` the emulator's CPU (null for a real server, whose process is not ours),
 * `snapshot()` the documents in the run's database so far.
 */
export async function startMongo() {
  const { MongoClient } = require('mongodb');
  const external = process.env.MONGODB_URI;
  const started = external ? { uri: external, child: null } : await startEmulator();
  const dbName = `mnw_bench_${process.pid}_${Date.now().toString(36)}`;
  const client = new MongoClient(started.uri, { serverSelectionTimeoutMS: 10000 });
  await client.connect();
  const db = client.db(dbName);
  const info = await db.admin().command({ buildInfo: 1 });
  const exited = started.child ? new Promise((r) => started.child.once('exit', r)) : null;
  return {
    kind: 'mongodb',
    url: started.uri,
    dbName,
    pid: started.child?.pid ?? null,
    version: external ? `MongoDB ${info.version}` : `mongo-emulator (reports ${info.version})`,
    cpuSeconds: () => (started.child ? cpuSeconds(started.child.pid) : null),
    /** `{ documents }`: documents in every collection of the run's database. */
    async snapshot() {
      const names = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
      let documents = 0;
      for (const name of names) documents += (await db.command({ count: name })).n;
      return { documents };
    },
    async stop() {
      if (external) await db.dropDatabase().catch(() => {});
      await client.close().catch(() => {});
      if (started.child && started.child.exitCode === null && started.child.signalCode === null) {
        started.child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
