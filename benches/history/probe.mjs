// One measurement, in its own process (measure.mjs starts it with `node --expose-gc`):
// `node --expose-gc probe.mjs <product|socketio> <on|off> <messages>`. Full GC, RSS, then
// `messages` broadcasts over CHANNELS channels without members, wait until they are handled,
// full GC, RSS again; prints the result as one JSON line.
import { createRequire } from 'node:module';
import { Server } from 'socket.io';
import { CHANNELS, payload } from './payload.mjs';

const require = createRequire(import.meta.url);
const { ServerChannel, startWebsocketServer } = require('../../lib/index.js');

const [server, recoveryArg, messagesArg] = process.argv.slice(2);
const recovery = recoveryArg === 'on';
const messages = Number(messagesArg);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** This product standalone, recovery at its default (on) or `connectionStateRecovery: false`. */
async function startProduct() {
  const channel = new ServerChannel('bench');
  const ws = await startWebsocketServer({
    port: 0,
    host: '127.0.0.1',
    channels: [channel],
    ...(recovery ? {} : { connectionStateRecovery: false }),
  });
  return {
    broadcast: (i) => channel.broadcast(String(i % CHANNELS), payload(i)),
    // Broadcasts are handed to the native side; done when its count reaches `messages`.
    async settle() {
      const deadline = Date.now() + 60000;
      while ((await ws.stats()).categories.bench.broadcasts < messages) {
        if (Date.now() > deadline) throw new Error(`product: ${messages} broadcasts not handled within 60 s`);
        await sleep(20);
      }
    },
    history: async () => (await ws.stats()).history,
  };
}

/** Stock socket.io with its in-memory adapter, with or without connection state recovery. */
async function startSocketio() {
  const io = new Server({
    transports: ['websocket'],
    perMessageDeflate: false,
    ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 120000 } } : {}),
  });
  return {
    broadcast: (i) => io.to(`bench:${i % CHANNELS}`).emit('bench', payload(i)),
    // `emit` is synchronous; one turn of the event loop for anything it deferred.
    settle: () => new Promise((resolve) => setImmediate(resolve)),
    // SessionAwareAdapter keeps every broadcast in its (private) `packets` array.
    history: async () => ({ messages: io.of('/').adapter.packets?.length ?? 0, bytes: null }),
  };
}

/** A full GC, three times with short pauses, so finalizers and native frees have run. */
async function fullGc() {
  for (let k = 0; k < 3; k++) {
    global.gc();
    await sleep(50);
  }
}

const target = await { product: startProduct, socketio: startSocketio }[server]();
await fullGc();
const before = process.memoryUsage();
for (let i = 0; i < messages; i++) target.broadcast(i);
await target.settle();
await fullGc();
const after = process.memoryUsage();
const history = await target.history();
const result = {
  server,
  recovery,
  messages,
  retained: history.messages,
  accountedBytes: history.bytes,
  rssBefore: before.rss,
  rssAfter: after.rss,
  rssGrowth: after.rss - before.rss,
  heapGrowth: after.heapUsed - before.heapUsed,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
