// The server side of the soak: a standalone server (with authenticate and an async access
// check in the path) that broadcasts a per-channel sequence number on every channel in turn.
// Driven by scripts/soak.mjs over the fork IPC channel.
import v8 from 'node:v8';
import { startWebsocketServer, ServerChannel } from '../lib/index.js';

const channels = Number(process.env.SOAK_CHANNELS);
const intervalMs = Number(process.env.SOAK_BROADCAST_INTERVAL_MS);
const room = new ServerChannel('room', async ({ user }) => user !== null);
const server = await startWebsocketServer({
  host: '127.0.0.1',
  port: 0,
  channels: [room],
  authenticate: async (token) => ({ user: { token }, session: null, roles: [] }),
  maxChannelsPerSocket: 16,
});
const seqs = new Array(channels).fill(0);
let next = 0;
let timer = null;
process.on('message', async (message) => {
  if (message.type === 'start') {
    // Each tick broadcasts on a slice of the channels, so every channel gets one per second.
    const perTick = Math.max(1, Math.ceil((channels * intervalMs) / 1000));
    timer = setInterval(() => {
      for (let i = 0; i < perTick; i++) {
        const channel = next++ % channels;
        room.broadcast(String(channel), { c: channel, s: ++seqs[channel], pad: 'x'.repeat(64) });
      }
    }, intervalMs);
  } else if (message.type === 'stop') {
    clearInterval(timer);
    process.send({ type: 'stopped', seqs });
  } else if (message.type === 'memory') {
    global.gc?.();
    const { heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    process.send({
      type: 'memory',
      heapUsedMiB: heapUsed / 2 ** 20,
      heapTotalMiB: heapTotal / 2 ** 20,
      externalMiB: (external + arrayBuffers) / 2 ** 20,
      // Which V8 spaces hold the heap's capacity (what RSS pays for beyond heapUsed).
      spacesMiB: Object.fromEntries(
        v8.getHeapSpaceStatistics().map((s) => [s.space_name, Number((s.space_size / 2 ** 20).toFixed(1))]),
      ),
    });
  } else if (message.type === 'close') {
    await server.close();
    process.exit(0);
  }
});
process.send({ type: 'ready', port: server.port });
