// A temporary Modelence-style app for the drop-in tests: its own directory with the
// `modelence` test stand-in installed in its node_modules (fixtures/modelence-stand-in), a
// provider started the way Modelence's startApp starts one, and a client that speaks
// Modelence's live-query messages.
import http from 'node:http';
import { once } from 'node:events';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { waitFor } from './helpers.mjs';

const STAND_IN = fileURLToPath(new URL('../fixtures/modelence-stand-in/', import.meta.url));

/**
 * Creates an app directory with `node_modules/modelence` (the stand-in, copied) and returns
 * `{ root, modelence }`, `modelence` being the app's `modelence/server` module, imported
 * through the app's own resolution (the instance the provider finds). Pass
 * `{ withModelence: false }` for an app without Modelence.
 */
export async function createApp(t, { withModelence = true } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'mnw-modelence-app-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'stand-in-app', private: true, type: 'module' }));
  if (!withModelence) return { root, modelence: null };
  cpSync(STAND_IN, join(root, 'node_modules', 'modelence'), { recursive: true });
  const file = createRequire(join(root, 'package.json')).resolve('modelence/server');
  return { root, modelence: await import(pathToFileURL(file).href) };
}

/**
 * Starts `provider` as Modelence's startApp does (`void provider.init(...)`, then `listen`)
 * and resolves with the app's URL once init is done; everything is closed after the test.
 */
export async function startApp(t, provider, channels = []) {
  const httpServer = http.createServer((req, res) => res.end('app'));
  const initDone = provider.init({ httpServer, channels });
  httpServer.listen(0, '127.0.0.1');
  await once(httpServer, 'listening');
  t.after(async () => {
    await provider.close();
    httpServer.closeAllConnections?.();
    await new Promise((r) => httpServer.close(() => r()));
  });
  await initDone;
  return `http://127.0.0.1:${httpServer.address().port}`;
}

const CONSOLE = { info: console.info, warn: console.warn, error: console.error };

/** Captures `console[method]` lines for the duration of a test (then restores the originals). */
export function captureConsole(t, methods = ['info', 'warn', 'error']) {
  const lines = [];
  for (const m of methods) console[m] = (...args) => lines.push(args.map(String).join(' '));
  t.after(() => {
    for (const m of methods) console[m] = CONSOLE[m];
  });
  return lines;
}

/** Turns `liveQueryData`'s strings back into Dates as Modelence's client does with `typeMap`. */
export function revive(data, typeMap) {
  if (!typeMap) return data;
  if (typeMap.type === 'date') return new Date(data);
  if (typeMap.type === 'array') return data.map((item, i) => revive(item, typeMap.elements[i]));
  if (typeMap.type === 'object') {
    return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, revive(value, typeMap.props[key])]));
  }
  return data;
}

let nextId = 0;

/**
 * Modelence's client side of live queries on a socket.io-client `socket`: `subscribe(method,
 * args, extra)` emits `subscribeLiveQuery` with a fresh (or given) `subscriptionId` and returns
 * `{ id, messages, next(), unsubscribe() }`; `messages` collects that subscription's
 * `liveQueryData` (`{ data, typeMap }`) and `liveQueryError` (`{ error }`) in order.
 */
export function liveClient(socket) {
  const byId = new Map();
  const route = (kind) => (payload) => {
    const entry = byId.get(payload.subscriptionId);
    if (!entry) return;
    entry.messages.push({ kind, ...payload });
    entry.waiters.splice(0).forEach((wake) => wake());
  };
  socket.on('liveQueryData', route('data'));
  socket.on('liveQueryError', route('error'));
  return {
    subscribe(method, args = {}, { subscriptionId = `sub-${++nextId}-${Date.now()}`, ...extra } = {}) {
      const entry = byId.get(subscriptionId) ?? { messages: [], waiters: [] };
      byId.set(subscriptionId, entry);
      socket.emit('subscribeLiveQuery', { subscriptionId, method, args, ...extra });
      return {
        id: subscriptionId,
        messages: entry.messages,
        /** Resolves with message number `n` (0-based) of this subscription, waiting up to `ms`. */
        async nth(n, ms = 3000) {
          const deadline = Date.now() + ms;
          while (entry.messages.length <= n) {
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`subscription ${subscriptionId}: no message #${n} within ${ms} ms`);
            await new Promise((wake) => {
              const timer = setTimeout(wake, left);
              entry.waiters.push(() => (clearTimeout(timer), wake()));
            });
          }
          return entry.messages[n];
        },
        unsubscribe() {
          socket.emit('unsubscribeLiveQuery', { subscriptionId });
        },
      };
    },
  };
}

/** The next `liveQueryError` on `socket` (any subscription). */
export const nextLiveQueryError = (socket, ms) => waitFor(socket, 'liveQueryError', ms);
