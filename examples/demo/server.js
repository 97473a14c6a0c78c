'use strict';

/**
 * The demo chat: `npm start`, then open http://localhost:3000 in two windows.
 *
 * A plain `node:http` app that shares its port with the native websocket server (attach
 * mode). Messages are sent by HTTP POST, as a Modelence mutation would be, validated here,
 * then broadcast on the `chat` channel. The `adminChat` channel only admits admins, and a
 * `presence` channel carries the online count of each room.
 */
const http = require('node:http');
const fs = require('node:fs/promises');
const path = require('node:path');
const { ServerChannel, startWebsocketServer } = require('../../lib/index.js');

/** The token the page sends when "I am an admin" is ticked (a real app checks a session). */
const ADMIN_TOKEN = 'admin-token';

/** The rooms; `category` names the channel a room's messages go through. */
const ROOMS = Object.freeze([
  { id: 'general', title: 'General', category: 'chat', adminOnly: false },
  { id: 'random', title: 'Random', category: 'chat', adminOnly: false },
  { id: 'admins', title: 'Admins', category: 'adminChat', adminOnly: true },
]);

/** Longest name and message text, in characters; longest request body, in bytes. */
const LIMITS = Object.freeze({ name: 32, text: 500, body: 4096 });

/**
 * How often the online counts are recomputed, in ms (broadcast only when they change). Also
 * how long `GET /api/rooms` reuses the last counts: each recount is a presence query per room
 * that every instance of a cluster answers, so requests must not trigger one each.
 */
const PRESENCE_POLL_MS = 1000;

const ROOT = path.resolve(__dirname, '../..');

/**
 * The only files served: URL path -> [file, content type]. A fixed table, so no request
 * path can reach any other file (no traversal by construction).
 */
const STATIC_FILES = new Map([
  ['/', [path.join(__dirname, 'public/index.html'), 'text/html; charset=utf-8']],
  ['/app.js', [path.join(__dirname, 'public/app.js'), 'text/javascript; charset=utf-8']],
  ['/style.css', [path.join(__dirname, 'public/style.css'), 'text/css; charset=utf-8']],
  ['/client/index.js', [path.join(ROOT, 'client/index.js'), 'text/javascript; charset=utf-8']],
  ['/vendor/socket.io-client.js', [socketIoClientEsm(), 'text/javascript; charset=utf-8']],
]);

function socketIoClientEsm() {
  const pkg = require.resolve('socket.io-client/package.json');
  return path.join(path.dirname(pkg), 'dist/socket.io.esm.min.js');
}

/** The auth context of a token: admins for `ADMIN_TOKEN`, anonymous guests otherwise. */
function authenticate(token) {
  const admin = token === ADMIN_TOKEN;
  return { user: admin ? { name: 'admin' } : null, session: null, roles: admin ? ['admin'] : [] };
}

/**
 * Checks a POST /api/messages body and the sender's rights.
 * Returns `{ room, name, text }` or `{ status, error }`.
 */
function validateMessage(body, token) {
  if (body === null || typeof body !== 'object') return { status: 400, error: 'send a JSON object { room, name, text }' };
  const room = ROOMS.find((r) => r.id === body.room);
  if (!room) return { status: 400, error: `unknown room; use one of ${ROOMS.map((r) => r.id).join(', ')}` };
  const name = typeof body.name === 'string' ? body.name.trim() : '';
  const text = typeof body.text === 'string' ? body.text.trim() : '';
  if (name.length < 1 || name.length > LIMITS.name) return { status: 400, error: `name must be 1 to ${LIMITS.name} characters` };
  if (text.length < 1 || text.length > LIMITS.text) return { status: 400, error: `text must be 1 to ${LIMITS.text} characters` };
  if (room.adminOnly && !authenticate(token).roles.includes('admin')) return { status: 403, error: 'only admins can post here' };
  return { room, name, text };
}

/**
 * Wraps `fetch` (a function returning a Promise) so that at most one call is in flight and
 * its result is shared: `get()` reuses a result younger than `ttlMs` (counted from the start
 * of its fetch), `refresh()` fetches again unless a fetch is already running.
 */
function shared(fetch, ttlMs) {
  let latest = null;
  const running = () => latest !== null && !latest.settled;
  const refresh = () => {
    if (running()) return latest.promise;
    const entry = { at: Date.now(), settled: false, promise: null };
    entry.promise = fetch().finally(() => (entry.settled = true));
    latest = entry;
    return entry.promise;
  };
  const get = () => (latest !== null && Date.now() - latest.at < ttlMs ? latest.promise : refresh());
  return { get, refresh };
}

function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
}

/** Reads a JSON body of at most `LIMITS.body` bytes; resolves `undefined` when it is not JSON. */
async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > LIMITS.body) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Starts the demo on `port` (0 = a free port). Resolves to `{ url, port, close, restartWebsockets }`;
 * `restartWebsockets()` replaces the websocket server as a deploy would, dropping every
 * connection while the pages stay open.
 */
async function startDemo({ port = 0, host } = {}) {
  const chat = new ServerChannel('chat');
  const adminChat = new ServerChannel('adminChat', ({ roles }) => roles.includes('admin'));
  const presence = new ServerChannel('presence');
  const channelOf = (room) => (room.category === 'chat' ? chat : adminChat);

  /** Online count per room id: a number, or null while the server cannot count. */
  async function onlineCounts() {
    const counts = {};
    for (const room of ROOMS) {
      const channel = channelOf(room);
      try {
        counts[room.id] = typeof channel.count === 'function' ? await channel.count(room.id) : null;
      } catch {
        counts[room.id] = null;
      }
    }
    return counts;
  }
  const roomCounts = shared(onlineCounts, PRESENCE_POLL_MS);

  async function handleApi(req, res, pathname) {
    if (pathname === '/api/rooms' && req.method === 'GET') {
      const online = await roomCounts.get();
      return sendJson(res, 200, { rooms: ROOMS.map((room) => ({ ...room, online: online[room.id] })) });
    }
    if (pathname === '/api/messages' && req.method === 'POST') {
      const token = (req.headers.authorization || '').replace(/^Bearer /, '') || null;
      const result = validateMessage(await readJson(req), token);
      if (result.error) return sendJson(res, result.status, { error: result.error });
      const message = { room: result.room.id, name: result.name, text: result.text, at: new Date().toISOString() };
      channelOf(result.room).broadcast(result.room.id, message);
      return sendJson(res, 201, message);
    }
    return sendJson(res, 404, { error: 'no such endpoint' });
  }

  async function handle(req, res) {
    const { pathname } = new URL(req.url, 'http://localhost');
    if (pathname.startsWith('/api/')) return handleApi(req, res, pathname);
    const file = req.method === 'GET' || req.method === 'HEAD' ? STATIC_FILES.get(pathname) : undefined;
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      return res.end('not found');
    }
    const body = await fs.readFile(file[0]);
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const httpServer = http.createServer((req, res) => {
    handle(req, res).catch((error) => {
      console.error(`[demo] ${req.method} ${req.url} failed: ${error.message}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  const startWebsockets = () =>
    startWebsocketServer({ httpServer, channels: [chat, adminChat, presence], authenticate });
  let websockets = await startWebsockets();

  let last = '';
  const poller = setInterval(async () => {
    const latest = await roomCounts.refresh();
    const json = JSON.stringify(latest);
    if (json === last || websockets.closed) return;
    try {
      presence.broadcast('rooms', latest);
      last = json;
    } catch (error) {
      console.error(`[demo] presence broadcast failed: ${error.message}`);
    }
  }, PRESENCE_POLL_MS);

  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(port, host, resolve);
  });
  const actualPort = httpServer.address().port;

  return {
    url: `http://${host ?? 'localhost'}:${actualPort}`,
    port: actualPort,
    async restartWebsockets() {
      await websockets.close();
      websockets = await startWebsockets();
    },
    async close() {
      clearInterval(poller);
      await websockets.close();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(() => resolve()));
    },
  };
}

module.exports = { startDemo, ROOMS, LIMITS, ADMIN_TOKEN };

if (require.main === module) {
  const port = Number(process.env.PORT || 3000);
  startDemo({ port }).then(
    (demo) => {
      console.log(`Demo running at http://localhost:${demo.port}`);
      const stop = () => demo.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (error) => {
      console.error(`[demo] could not start: ${error.message}`);
      process.exit(1);
    },
  );
}
