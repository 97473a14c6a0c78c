/**
 * `modelence-native-ws/client`: the browser side of Modelence channels, built on
 * `socket.io-client`. Same shape as Modelence's own client (`ClientChannel`,
 * `startWebsockets`), with two differences: joined channels are joined again after every
 * reconnect, and a refused join reaches the channel's `onError`.
 *
 * @example
 * import { ClientChannel, startWebsockets } from 'modelence-native-ws/client';
 *
 * const chat = new ClientChannel('chat', (message) => render(message));
 * startWebsockets({ token: () => localStorage.getItem('token'), channels: [chat] });
 * chat.joinChannel('general');
 */
import { io } from 'socket.io-client';

// Wire event names: PROTOCOL.md, "Client → server events".
const JOIN_CHANNEL = 'joinChannel';
const JOIN_ERROR = 'joinError';
const LEAVE_CHANNEL = 'leaveChannel';

/** Socket.io-client's own events: a category with one of these names could never receive. */
const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** Per-channel state the public class does not expose: `{ onMessage, onError, ids }`. */
const internals = new WeakMap();

/** The running client: `{ socket, channels: Map<category, ClientChannel> }`, or null. */
let current = null;

/**
 * A channel category the browser listens to. Join ids with `joinChannel(id)`; every message
 * the server broadcasts to `category:id` reaches `onMessage(data, id)`.
 *
 * The server sends only the category and the data, not the id. `id` is therefore the joined
 * id when exactly one id of this category is joined, and `undefined` when several are: put
 * the id in the payload if you join several ids of one category at once.
 *
 * @template T The payload type the server broadcasts on this category.
 * @example
 * const chat = new ClientChannel('chat', (message, room) => show(room, message.text), {
 *   onError: ({ channel, error }) => alert(`${channel}: ${error}`),
 * });
 */
export class ClientChannel {
  /**
   * @param {string} category The category, as registered on the server (no `:`).
   * @param {(data: T, id: string | undefined) => void} onMessage Called for every message.
   * @param {{ onError?: (err: { channel: string, error: string }) => void }} [opts]
   *   `onError` receives the server's `joinError` for a join of this channel.
   * @example
   * const notifications = new ClientChannel('notifications', (n) => toast(n.title));
   */
  constructor(category, onMessage, opts = {}) {
    if (typeof category !== 'string' || category.length === 0 || category.includes(':') || RESERVED.has(category)) {
      throw new TypeError(
        `new ClientChannel(): category must be a non-empty string without ':' that is not a socket.io event name, got ${String(category)}`,
      );
    }
    if (typeof onMessage !== 'function') {
      throw new TypeError(`new ClientChannel(${JSON.stringify(category)}): onMessage must be a function`);
    }
    const onError = opts?.onError;
    if (onError !== undefined && typeof onError !== 'function') {
      throw new TypeError(`new ClientChannel(${JSON.stringify(category)}): opts.onError must be a function`);
    }
    Object.defineProperty(this, 'category', { value: category, enumerable: true });
    // `away`: joins and leaves made while not connected (id → JOIN_CHANNEL | LEAVE_CHANNEL),
    // sent after a recovered reconnect, which restores only what was joined before.
    internals.set(this, { onMessage, onError, ids: new Set(), away: new Map() });
  }

  /**
   * Joins `category:id`. Before the socket is connected the join is queued and sent on
   * connect; after a reconnect it is sent again. A join the server refuses is forgotten
   * (call `joinChannel` again, e.g. after login) and reported to `onError`.
   *
   * @param {string} id
   * @example
   * chat.joinChannel('general');
   */
  joinChannel(id) {
    checkId(this, id, 'joinChannel');
    const { ids, away } = internals.get(this);
    if (ids.has(id)) return;
    if (current) register(current, this);
    ids.add(id);
    // Only when connected: the 'connect' handler sends every queued join, and socket.io's
    // own send buffer would otherwise send this one a second time.
    if (current?.socket.connected) current.socket.emit(JOIN_CHANNEL, `${this.category}:${id}`);
    else away.set(id, JOIN_CHANNEL);
  }

  /**
   * Leaves `category:id`: no more messages, and no re-join after a reconnect.
   *
   * @param {string} id
   * @example
   * chat.leaveChannel('general');
   */
  leaveChannel(id) {
    checkId(this, id, 'leaveChannel');
    const { ids, away } = internals.get(this);
    if (!ids.delete(id)) return;
    if (current?.socket.connected) current.socket.emit(LEAVE_CHANNEL, `${this.category}:${id}`);
    else away.set(id, LEAVE_CHANNEL);
  }
}

function checkId(channel, id, method) {
  if (typeof id !== 'string') {
    throw new TypeError(`ClientChannel(${JSON.stringify(channel.category)}).${method}: id must be a string`);
  }
}

/** Listens for `channel`'s category on the running socket (once per category). */
function register(client, channel) {
  const known = client.channels.get(channel.category);
  if (known === channel) return;
  if (known) {
    throw new TypeError(
      `modelence-native-ws/client: two ClientChannel objects use the category ${JSON.stringify(channel.category)}; use one per category`,
    );
  }
  client.channels.set(channel.category, channel);
  client.socket.on(channel.category, (data) => {
    const { onMessage, ids } = internals.get(channel);
    // A message already on its way when the last id was left is dropped.
    if (ids.size === 0) return;
    onMessage(data, ids.size === 1 ? ids.values().next().value : undefined);
  });
}

/** Routes a `joinError` to its channel's `onError` and forgets that join. */
function onJoinError(client, payload) {
  const name = payload?.channel;
  if (typeof name !== 'string') return;
  const colon = name.indexOf(':');
  const channel = client.channels.get(colon < 0 ? name : name.slice(0, colon));
  if (!channel) return;
  const { onError, ids } = internals.get(channel);
  ids.delete(name.slice(colon + 1));
  onError?.({ channel: name, error: String(payload.error ?? 'Access denied') });
}

/**
 * Brings the server's channels in line with the page's on (re)connect: a fresh session gets
 * a join for every id; a recovered one already has what it had joined, and gets only the
 * joins and leaves made while it was away.
 */
function syncChannels(client, recovered) {
  for (const channel of client.channels.values()) {
    const { ids, away } = internals.get(channel);
    if (recovered) {
      for (const [id, event] of away) client.socket.emit(event, `${channel.category}:${id}`);
    } else {
      for (const id of ids) client.socket.emit(JOIN_CHANNEL, `${channel.category}:${id}`);
    }
    away.clear();
  }
}

function resolveToken(token) {
  const value = typeof token === 'function' ? token() : token;
  return typeof value === 'string' ? value : null;
}

/**
 * Connects to the app's websocket server and starts routing messages to `channels`.
 * Calling it again first stops the previous connection.
 *
 * @param {object} opts
 * @param {string} [opts.url] Server URL; default: the page's own origin.
 * @param {string | null | (() => string | null)} [opts.token] Session token sent as
 *   `auth: { token }`. A function is called on every (re)connect, so a reconnect picks up a
 *   new login.
 * @param {ClientChannel[]} opts.channels Every channel the page will join.
 * @param {string} [opts.path] Engine.IO path; default `/socket.io`.
 * @param {string[]} [opts.transports] Default `['websocket']`, as Modelence's client; pass
 *   `['polling', 'websocket']` to start with long-polling behind proxies that block WebSocket.
 * @returns {import('socket.io-client').Socket} The socket.io-client socket.
 * @example
 * const socket = startWebsockets({ token: session.token, channels: [chat, notifications] });
 * socket.on('connect_error', (err) => console.warn('websocket refused:', err.message));
 */
export function startWebsockets(opts) {
  if (opts === null || typeof opts !== 'object') throw new TypeError('startWebsockets(): options must be an object');
  const { url, token = null, channels, path, transports = ['websocket'] } = opts;
  if (!Array.isArray(channels) || !channels.every((c) => c instanceof ClientChannel)) {
    throw new TypeError('startWebsockets(): options.channels must be an array of ClientChannel');
  }
  const categories = new Set(channels.map((c) => c.category));
  if (categories.size !== channels.length) {
    throw new TypeError('startWebsockets(): options.channels has two ClientChannel objects of one category; use one per category');
  }
  if (url !== undefined && typeof url !== 'string') throw new TypeError('startWebsockets(): options.url must be a string');
  if (token !== null && typeof token !== 'string' && typeof token !== 'function') {
    throw new TypeError('startWebsockets(): options.token must be a string, null or a function returning one');
  }
  stopWebsockets();
  // forceNew: a Manager of its own, so stopWebsockets never closes a socket the app opened.
  const socketOptions = { transports, forceNew: true, auth: (send) => send({ token: resolveToken(token) }) };
  if (path !== undefined) socketOptions.path = path;
  const socket = url === undefined ? io(socketOptions) : io(url, socketOptions);
  const client = { socket, channels: new Map() };
  for (const channel of channels) register(client, channel);
  // A recovered reconnect (connection state recovery) has its channels back from the server.
  socket.on('connect', () => syncChannels(client, socket.recovered));
  socket.on(JOIN_ERROR, (payload) => onJoinError(client, payload));
  current = client;
  return socket;
}

/**
 * Disconnects and forgets every joined channel (a later `startWebsockets` starts clean).
 *
 * @example
 * logoutButton.onclick = () => stopWebsockets();
 */
export function stopWebsockets() {
  if (!current) return;
  const { socket, channels } = current;
  current = null;
  for (const channel of channels.values()) {
    const { ids, away } = internals.get(channel);
    ids.clear();
    away.clear();
  }
  socket.close();
}

/**
 * The socket of the running client, or `null` before `startWebsockets`.
 *
 * @example
 * getSocket()?.on('disconnect', (reason) => showOffline(reason));
 */
export function getSocket() {
  return current ? current.socket : null;
}
