// Peer D: raw uWebSockets pub/sub on Bun (Bun.serve, `ws.subscribe`, `server.publish`), with
// just the Engine.IO v4 / Socket.IO v5 framing a Modelence client (and the load generator)
// uses: open packet, heartbeat, CONNECT with `{ token }` through the app's authenticate,
// joinChannel/leaveChannel through the channel's canAccessChannel, broadcasts as
// `42["<category>",data]`. Websocket transport and the main namespace only; no acks (neither
// the app's handlers nor the load generator use them), no long-polling, no recovery: about
// the least work a JS server can do per message, not a socket.io replacement.
// The /bench routes are served by Bun's node:http on a second port, as for peer C.
import { CATEGORY, authenticate, canAccessChannel, benchRoutes, createApp, listen } from '../servers/common.mjs';

/** Engine.IO's defaults, as socket.io announces them. */
const PING_INTERVAL = 25000;
const PING_TIMEOUT = 20000;
const MAX_PAYLOAD = 1e6;

const sockets = new Set();
const event = (...args) => `42${JSON.stringify(args)}`;

const server = Bun.serve({
  hostname: process.env.BENCH_HOST || '127.0.0.1',
  port: 0,
  fetch(req, srv) {
    const url = new URL(req.url);
    if (url.pathname !== '/socket.io/') return new Response(null, { status: 404 });
    const websocket = url.searchParams.get('EIO') === '4' && url.searchParams.get('transport') === 'websocket';
    if (websocket && srv.upgrade(req, { data: { auth: null, alive: true } })) return undefined;
    return new Response('websocket transport only', { status: 400 });
  },
  websocket: {
    maxPayloadLength: MAX_PAYLOAD,
    sendPings: false, // Engine.IO's heartbeat below does it
    open(ws) {
      sockets.add(ws);
      const sid = crypto.randomUUID();
      ws.send(`0${JSON.stringify({ sid, upgrades: [], pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT, maxPayload: MAX_PAYLOAD })}`);
    },
    message(ws, message) {
      if (typeof message !== 'string') return; // binary packets: not used by the app
      try {
        onEnginePacket(ws, message);
      } catch {
        ws.close(1003, 'invalid payload'); // unparsable JSON, as socket.io drops the client
      }
    },
    close(ws) {
      sockets.delete(ws);
    },
  },
});

/** Engine.IO: `3` pong, `1` close, `4…` a Socket.IO packet; anything else is ignored. */
function onEnginePacket(ws, p) {
  if (p === '3') ws.data.alive = true;
  else if (p === '1') ws.close();
  else if (p[0] === '4') onSocketPacket(ws, p.slice(1));
}

/** Socket.IO on the main namespace: `0` CONNECT, `1` DISCONNECT, `2` EVENT. */
function onSocketPacket(ws, p) {
  if (p[1] === '/') return; // another namespace: not served
  if (p[0] === '0' && !ws.data.auth) connect(ws, p.length > 1 ? JSON.parse(p.slice(1)) : {});
  else if (p[0] === '1') ws.close();
  else if (p[0] === '2' && ws.data.auth) {
    const [name, arg] = JSON.parse(p.slice(p.indexOf('['))); // an ack id before `[` is never answered, as the app's handlers do not ack
    if (name === 'joinChannel') join(ws, arg);
    else if (name === 'leaveChannel') {
      ws.unsubscribe(String(arg));
      ws.send(event('leftChannel', arg));
    }
  }
}

/** CONNECT: the app's authenticate on the token, then `40{"sid":…}` or `44{"message":…}`. */
async function connect(ws, handshake) {
  let reply;
  try {
    ws.data.auth = await authenticate(handshake?.token);
    reply = `40${JSON.stringify({ sid: crypto.randomUUID() })}`;
  } catch (error) {
    reply = `44${JSON.stringify({ message: error.message })}`;
  }
  if (ws.readyState === WebSocket.OPEN) ws.send(reply);
}

/** joinChannel as Modelence handles it: the category's access check, then subscribe. */
async function join(ws, channelName) {
  const [category] = String(channelName).split(':');
  const allowed = category === CATEGORY && (await canAccessChannel(ws.data.auth));
  if (ws.readyState !== WebSocket.OPEN) return;
  if (!allowed) {
    ws.send(event('joinError', { channel: channelName, error: 'Access denied' }));
    return;
  }
  ws.subscribe(String(channelName));
  ws.send(event('joinedChannel', channelName));
}

// Heartbeat: ping every socket each PING_INTERVAL; close those without a pong PING_TIMEOUT later.
setInterval(() => {
  for (const ws of sockets) {
    ws.data.alive = false;
    ws.send('2');
  }
  setTimeout(() => {
    for (const ws of sockets) if (!ws.data.alive) ws.close();
  }, PING_TIMEOUT);
}, PING_INTERVAL);

const control = createApp(
  benchRoutes(
    (category, id, data) => server.publish(`${category}:${id}`, event(category, data)),
    () => ({ clients: sockets.size }),
  ),
);
listen(control, 'uws-bun', () => server.port);
