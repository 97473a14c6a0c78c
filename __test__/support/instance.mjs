// One server instance in its own process, driven over the fork IPC channel by cluster.mjs.
// BACKEND (env) holds the adapter options: { mongodb: {...} } or { redis: {...} }; OPTIONS
// (env, optional) more startWebsocketServer options. A client's token becomes its user's name.
import { startWebsocketServer, ServerChannel } from '../../lib/index.js';

const chat = new ServerChannel('chat');
let server;
try {
  server = await startWebsocketServer({
    host: '127.0.0.1',
    port: 0,
    channels: [chat],
    authenticate: (token) => ({ user: token ? { name: token } : null, session: null, roles: [] }),
    ...JSON.parse(process.env.OPTIONS ?? '{}'),
    ...JSON.parse(process.env.BACKEND),
  });
} catch (error) {
  process.send({ type: 'error', message: error.message, code: error.code });
  process.exit(1);
}
process.send({ type: 'ready', port: server.port });
process.on('message', async (message) => {
  if (message.type === 'broadcast') {
    // `pad`: add that many bytes to the payload (for size limits) without sending them over IPC.
    chat.broadcast(message.id, message.pad ? { data: message.data, pad: 'x'.repeat(message.pad) } : message.data);
  } else if (message.type === 'members') {
    const started = performance.now();
    const members = await chat.members(message.id);
    process.send({ type: 'members', request: message.request, members, ms: performance.now() - started });
  } else if (message.type === 'members-many') {
    // All calls start in the same tick, so they are in flight together.
    const started = performance.now();
    const lists = await Promise.all(message.ids.map((id) => chat.members(id)));
    process.send({ type: 'members', request: message.request, lists, ms: performance.now() - started });
  } else if (message.type === 'close') {
    await server.close();
    process.exit(0);
  }
});
