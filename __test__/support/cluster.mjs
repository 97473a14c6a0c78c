// Real multi-instance plumbing for tests: backend servers (Redis, MongoDB or the project's
// MongoDB emulator) and server instances in separate Node processes.
import { spawn, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import { waitFor } from './helpers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The MongoDB emulator binary (dev-only test tool, not a database). */
export const EMULATOR = `${root}target/release/mongo-emulator`;

/** A free loopback port (for servers that cannot bind port 0 themselves). */
export async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function lines(stream, onLine) {
  let buffer = '';
  stream.on('data', (chunk) => {
    buffer += chunk;
    let i;
    while ((i = buffer.indexOf('\n')) >= 0) {
      onLine(buffer.slice(0, i));
      buffer = buffer.slice(i + 1);
    }
  });
}

/** Whether a Redis server can be started here. */
export const hasRedis = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].some(existsSync);

/** Starts a real redis-server on a free port; returns `{ url, stop }`. */
export async function startRedis(t) {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise((resolve, reject) => {
    lines(child.stdout, (line) => line.includes('Ready to accept connections') && resolve());
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  t.after(() => child.kill('SIGKILL'));
  await ready;
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') };
}

/**
 * A MongoDB for the adapter: the real replica set at `MONGODB_URI` when set, otherwise the
 * project's emulator (`cargo build --release -p mongo-emulator`). Returns
 * `{ uri, emulated, admin(command), client, stop }`.
 */
export async function startMongo(t, { standalone = false } = {}) {
  let uri;
  let child;
  const emulated = !process.env.MONGODB_URI || standalone;
  if (!emulated) {
    uri = process.env.MONGODB_URI;
  } else {
    if (!existsSync(EMULATOR)) throw new Error(`${EMULATOR} is missing: run cargo build --release -p mongo-emulator`);
    child = spawn(EMULATOR, ['--port', '0', ...(standalone ? ['--standalone'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
    t.after(() => child.kill('SIGKILL'));
    uri = await new Promise((resolve, reject) => {
      lines(child.stdout, (line) => resolve(line.trim()));
      child.on('exit', (code) => reject(new Error(`mongo-emulator exited with ${code}`)));
    });
  }
  const client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000 });
  t.after(() => client.close(true));
  return {
    uri,
    emulated,
    client,
    /** Runs a command on the admin database (the emulator's fault injection lives there). */
    admin: (command) => client.db('admin').command(command),
    stop: () => child?.kill('SIGKILL'),
  };
}

/**
 * Starts a server instance in its own process with `backend` (and more server `options`);
 * returns `{ url, broadcast, members, membersMany, kill, close, stderr }`.
 */
export async function startInstance(t, backend, options = {}) {
  const child = fork(fileURLToPath(new URL('./instance.mjs', import.meta.url)), {
    env: { ...process.env, BACKEND: JSON.stringify(backend), OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  let requests = 0;
  child.stderr.on('data', (chunk) => (stderr += chunk));
  t.after(() => child.kill('SIGKILL'));
  const ask = (message) => {
    const request = (requests += 1);
    const reply = new Promise((resolve) => {
      const onMessage = (m) => {
        if (m.type === 'members' && m.request === request) {
          child.off('message', onMessage);
          resolve(m);
        }
      };
      child.on('message', onMessage);
    });
    child.send({ ...message, request });
    return reply;
  };
  const first = await waitFor(child, 'message', 20000);
  if (first.type !== 'ready') {
    const error = new Error(first.message);
    error.code = first.code;
    throw error;
  }
  return {
    url: `http://127.0.0.1:${first.port}`,
    broadcast: (id, data, pad = 0) => child.send({ type: 'broadcast', id, data, pad }),
    /** `chat.members(id)` run in the instance: `{ members, ms }`. */
    members: (id) => ask({ type: 'members', id }),
    /** `chat.members(id)` for every id of `ids`, all started in one tick: `{ lists, ms }`. */
    membersMany: (ids) => ask({ type: 'members-many', ids }),
    kill: () => child.kill('SIGKILL'),
    /** What the instance printed on stderr so far (native logs). */
    stderr: () => stderr,
    close: async () => {
      child.send({ type: 'close' });
      await once(child, 'exit');
    },
  };
}
