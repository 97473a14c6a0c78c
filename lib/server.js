'use strict';

const { NativeServer } = require('./native');
const { codes, typeError, runtimeError } = require('./errors');
const { normalizeOptions } = require('./options');
const { ServerChannel } = require('./server-channel');
const { AuthContexts } = require('./auth-contexts');
const { SocketEvents } = require('./socket-events');
const { hookCallDispatcher } = require('./hook-calls');
const { attach } = require('./attach');
const { serialize, checkTarget } = require('./json');
const { localMembers, presenceLookup, parseReplies } = require('./presence');
const { serveLiveQueries } = require('./live-queries');

/** Keeps Node's event loop alive while a standalone server listens (tokio threads do not). */
const KEEP_ALIVE_MS = 2 ** 31 - 1;

/** A running websocket server, returned by `startWebsocketServer`. */
class WebsocketServer {
  #native;
  #events;
  #contexts;
  #channels;
  #categories;
  #httpServer;
  #detach;
  #keepAlive;
  #port;
  #closing = null;

  /** @internal */
  constructor({ native, events, contexts, channels, httpServer, detach, port }) {
    this.#native = native;
    this.#events = events;
    this.#contexts = contexts;
    this.#channels = channels;
    this.#categories = new Set(channels.map((c) => c.category));
    this.#httpServer = httpServer;
    this.#detach = detach;
    this.#port = port;
    if (!httpServer) this.#keepAlive = setInterval(() => {}, KEEP_ALIVE_MS);
    for (const channel of channels) {
      if (channel instanceof ServerChannel) ServerChannel.attachServer(channel, this, true);
    }
  }

  /** The port clients connect to (in attach mode, the app server's; 0 before it listens). */
  get port() {
    if (this.#httpServer) {
      const address = this.#httpServer.address();
      return address && typeof address === 'object' ? address.port : 0;
    }
    return this.#port;
  }

  /** Whether `close()` has been called. */
  get closed() {
    return this.#closing !== null;
  }

  /**
   * Calls `handler(socket)` for every new connection (after authentication).
   * @example
   * server.onConnection((socket) => console.log('connected', socket.id, socket.auth.user));
   */
  onConnection(handler) {
    this.#events.onConnection(handler);
    return this;
  }

  /** Calls `handler(socket, reason)` when a connection ends. */
  onDisconnect(handler) {
    this.#events.onDisconnect(handler);
    return this;
  }

  /**
   * Calls `handler(socket, ...args)` for client event `event`; when the client asked for an
   * acknowledgement, the handler's return value (or resolved value) is sent back.
   * @example
   * server.onEvent('typing', (socket, room) => chat.broadcast(room, { typing: socket.auth.user?.name }));
   */
  onEvent(event, handler) {
    this.#events.onEvent(event, handler);
    return this;
  }

  /** Calls `handler(error, { socket, event })` when a handler throws (default: a log line). */
  onError(handler) {
    this.#events.onError(handler);
    return this;
  }

  /**
   * @internal The members of `category:id` on this server and on every other instance its
   * adapter reaches (those that answer within `presenceTimeoutMs`).
   */
  async membersOf(category, id) {
    if (this.#closing) return [];
    const channel = `${category}:${id}`;
    const local = localMembers(this.#native, this.#contexts, channel);
    const remote = parseReplies(await this.#native.remoteMembers(channel));
    return local.concat(remote);
  }

  /**
   * Sends `data` as event `category` to every member of channel `category:id`.
   * Throws a TypeError for bad arguments and an Error when the category is not registered
   * here or the server is closed.
   */
  broadcast(category, id, data) {
    const where = 'WebsocketServer.broadcast';
    checkTarget(where, category, id);
    this.broadcastJson(category, id, serialize(data, where));
  }

  /** @internal Broadcasts already-serialized JSON. */
  broadcastJson(category, id, json) {
    if (this.#closing) {
      throw runtimeError(codes.SERVER_CLOSED, 'broadcast: this websocket server is closed; start a new one to broadcast again');
    }
    if (!this.#categories.has(category)) {
      throw runtimeError(
        codes.CHANNEL_NOT_REGISTERED,
        `broadcast: channel category ${JSON.stringify(category)} is not registered with this server; ` +
          'add its ServerChannel to startWebsocketServer({ channels }) or a Module',
      );
    }
    try {
      this.#native.broadcast(category, id, json);
    } catch (cause) {
      if (cause.code === 'InvalidArg') {
        const error = typeError(codes.INVALID_ARGUMENT, cause.message);
        error.cause = cause;
        throw error;
      }
      throw runtimeError(codes.SERVER_CLOSED, cause.message, cause);
    }
  }

  /**
   * The server's metrics in the Prometheus text format (version 0.0.4): what `metrics: true`
   * serves at `/metrics`, for an app that serves it itself (on an internal port, behind auth).
   * Works whether or not `metrics` is on; rejects with `MNW_SERVER_CLOSED` after `close()`.
   * @example
   * // Only on the loopback interface, for a Prometheus agent on the same host:
   * http.createServer(async (req, res) => {
   *   res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
   *   res.end(await server.metrics());
   * }).listen(9464, '127.0.0.1');
   */
  async metrics() {
    this.#checkOpen('metrics');
    return this.#native.metrics();
  }

  /**
   * The main figures as a plain object (`WebsocketStats`): connections by transport, channels,
   * per-category joins/broadcasts/deliveries, bytes, slow-consumer cuts, hook timeouts, peers.
   * @example
   * const { connections, categories } = await server.stats();
   * console.log(connections.websocket, categories.chat?.deliveries);
   */
  async stats() {
    this.#checkOpen('stats');
    return JSON.parse(await this.#native.stats());
  }

  /** Rejects reading figures once `close()` was called: the engines they come from are gone. */
  #checkOpen(method) {
    if (this.#closing) throw runtimeError(codes.SERVER_CLOSED, `${method}: this websocket server is closed`);
  }

  /**
   * Stops accepting connections, disconnects every client, releases the port (standalone)
   * or the app server's listeners (attach mode), and lets the process exit. Idempotent.
   */
  close() {
    if (!this.#closing) {
      for (const channel of this.#channels) {
        if (channel instanceof ServerChannel) ServerChannel.attachServer(channel, this, false);
      }
      if (this.#detach) this.#detach();
      clearInterval(this.#keepAlive);
      this.#closing = this.#native.close();
    }
    return this.#closing;
  }
}

/**
 * Creates the native server. The native side owns the rules it shares with JS (channel
 * names, option ranges it checks again): an option it refuses becomes `MNW_INVALID_OPTION`.
 */
function createNative(options, contexts, events, answerPresence) {
  try {
    return new NativeServer(
      options.nativeOptions,
      Boolean(options.authenticate),
      hookCallDispatcher(contexts, events),
      answerPresence,
    );
  } catch (cause) {
    if (cause.code !== 'InvalidArg') throw cause;
    const error = typeError(codes.INVALID_OPTION, `startWebsocketServer(): ${cause.message}`);
    error.cause = cause;
    throw error;
  }
}

/**
 * Starts the native websocket server, attached to `httpServer` or listening on `port`, with
 * the channels of `modules` and `channels`, and the live queries of `modules`' `queries`.
 * Rejects with a TypeError for invalid options (nothing is started then).
 */
async function startWebsocketServer(opts = {}) {
  const options = normalizeOptions(opts);
  const contexts = new AuthContexts(options.authenticate, options.channels);
  const events = new SocketEvents(contexts, { eventTimeoutMs: options.nativeOptions.eventTimeoutMs });
  // Other instances' presence queries need `native` itself, which exists only after this call.
  let answerPresence = () => '[]';
  const native = createNative(options, contexts, events, (channel) => answerPresence(channel));
  answerPresence = presenceLookup(native, contexts);
  events.bind(native);
  if (options.adapter) {
    try {
      await native.connectAdapter(options.adapter.mongodb, options.adapter.redis);
    } catch (cause) {
      await native.close();
      throw runtimeError(codes.ADAPTER_FAILED, `startWebsocketServer(): ${cause.message}`, cause);
    }
  }
  const common = { native, events, contexts, channels: options.channels };
  if (options.httpServer) {
    const detach = attach(options.httpServer, native, options);
    return withLiveQueries(new WebsocketServer({ ...common, httpServer: options.httpServer, detach }), options);
  }
  let port;
  try {
    port = await native.listen(options.host, options.port);
  } catch (cause) {
    await native.close();
    throw runtimeError(codes.START_FAILED, `startWebsocketServer(): ${cause.message}`, cause);
  }
  return withLiveQueries(new WebsocketServer({ ...common, port }), options);
}

/** Serves the live queries of `options.modules` on `server`, when they define any. */
function withLiveQueries(server, options) {
  const { registry, maxPerSocket } = options.liveQueries;
  if (registry.size > 0) serveLiveQueries(server, { registry, authenticate: options.authenticate, maxPerSocket });
  return server;
}

module.exports = { startWebsocketServer, WebsocketServer };
