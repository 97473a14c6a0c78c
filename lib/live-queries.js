'use strict';

const { debug, rateLimitedWarn } = require('./log');
const { describe } = require('./errors');
const { LiveSubscription, messageOf } = require('./live-subscription');
const { parseSubscribe, parseUnsubscribe } = require('./live-query-payload');
const { SUBSCRIBE_LIVE_QUERY, UNSUBSCRIBE_LIVE_QUERY, LIVE_QUERY_ERROR } = require('./protocol');

/**
 * Modelence's live queries over the native server's socket handles (PROTOCOL.md, "Live
 * queries"): `subscribeLiveQuery` runs a module query that returns a `LiveData` and sends
 * each fetch as `liveQueryData`; `unsubscribeLiveQuery` and disconnection end subscriptions.
 */

/** Default `maxLiveQueriesPerSocket`: subscriptions one connection may hold at once. */
const DEFAULT_MAX_LIVE_QUERIES_PER_SOCKET = 1000;

const ANONYMOUS = Object.freeze({ user: null, session: null, roles: Object.freeze([]) });

/** The connection's `{ ip, userAgent }` for the method context (`null` where unknown). */
function connectionInfoOf(socket) {
  const info = socket.connectionInfo;
  return { ip: info?.ip ?? null, userAgent: info?.userAgent ?? null };
}

/** Every connection's live subscriptions, and the three handlers that drive them. */
class LiveQueries {
  /** socket id → subscriptionId → subscription. */
  #sockets = new Map();
  #registry;
  #authenticate;
  #maxPerSocket;
  #warn = rateLimitedWarn(1000);

  /**
   * `registry`: the queries served; `authenticate`: `(token) => AuthContext` for each
   * subscription's `authToken` (null: every subscription is anonymous); `maxPerSocket`: the
   * subscriptions one connection may hold.
   */
  constructor({ registry, authenticate = null, maxPerSocket }) {
    this.#registry = registry;
    this.#authenticate = authenticate;
    this.#maxPerSocket = maxPerSocket ?? DEFAULT_MAX_LIVE_QUERIES_PER_SOCKET;
  }

  /** How many subscriptions are open, across every connection. */
  get size() {
    let n = 0;
    for (const subscriptions of this.#sockets.values()) n += subscriptions.size;
    return n;
  }

  #log = (message, error) => {
    debug('%s: %s', message, error && error.stack);
    this.#warn(`${message}: ${messageOf(error)}`);
  };

  /** Handles `subscribeLiveQuery`: a reused `subscriptionId` replaces that subscription. */
  subscribe(socket, payload) {
    if (!socket.connected) return;
    const parsed = parseSubscribe(payload);
    if (parsed.error) {
      socket.emit(LIVE_QUERY_ERROR, { subscriptionId: null, error: `Invalid payload: ${parsed.error}` });
      return;
    }
    const request = parsed.value;
    const { subscriptionId } = request;
    let subscriptions = this.#sockets.get(socket.id);
    if (!subscriptions) this.#sockets.set(socket.id, (subscriptions = new Map()));
    subscriptions.get(subscriptionId)?.close();
    subscriptions.delete(subscriptionId);
    if (subscriptions.size >= this.#maxPerSocket) {
      const error = `Too many live queries on this connection (limit ${this.#maxPerSocket}): unsubscribe from some first`;
      socket.emit(LIVE_QUERY_ERROR, { subscriptionId, error });
      return;
    }
    // Registered before anything is awaited, so an unsubscribe or a disconnect finds it.
    const subscription = new LiveSubscription(socket, subscriptionId, request.method, this.#log);
    subscriptions.set(subscriptionId, subscription);
    void this.#start(socket, subscription, request);
  }

  async #start(socket, subscription, { subscriptionId, method, args, authToken, clientInfo }) {
    try {
      const auth = await this.#authenticateSubscription(authToken);
      if (subscription.closed) return;
      const context = {
        session: auth.session ?? null,
        user: auth.user ?? null,
        roles: Array.isArray(auth.roles) ? auth.roles : [],
        clientInfo,
        connectionInfo: connectionInfoOf(socket),
        req: null,
        res: null,
      };
      const liveData = await this.#registry.run(method, args, context);
      subscription.start(liveData);
    } catch (error) {
      if (subscription.closed) return;
      subscription.close();
      this.#forget(socket.id, subscriptionId, subscription);
      this.#log(`live query ${method} failed`, error);
      socket.emit(LIVE_QUERY_ERROR, { subscriptionId, error: messageOf(error) });
    }
  }

  async #authenticateSubscription(token) {
    if (!this.#authenticate) return ANONYMOUS;
    const auth = await this.#authenticate(token);
    if (auth === null || typeof auth !== 'object') {
      debug('authenticate returned %s instead of { user, session, roles }', describe(auth));
      throw new Error('Authentication failed');
    }
    return auth;
  }

  #forget(sid, subscriptionId, subscription) {
    const subscriptions = this.#sockets.get(sid);
    if (subscriptions?.get(subscriptionId) !== subscription) return;
    subscriptions.delete(subscriptionId);
    if (subscriptions.size === 0) this.#sockets.delete(sid);
  }

  /** Handles `unsubscribeLiveQuery`: ends that subscription (an invalid payload is ignored). */
  unsubscribe(socket, payload) {
    const parsed = parseUnsubscribe(payload);
    if (parsed.error) {
      debug('invalid unsubscribeLiveQuery payload from %s: %s', socket.id, parsed.error);
      return;
    }
    const { subscriptionId } = parsed.value;
    const subscription = this.#sockets.get(socket.id)?.get(subscriptionId);
    if (!subscription) return;
    subscription.close();
    this.#forget(socket.id, subscriptionId, subscription);
  }

  /** Ends every subscription of a connection that has gone. */
  disconnect(socket) {
    const subscriptions = this.#sockets.get(socket.id);
    if (!subscriptions) return;
    this.#sockets.delete(socket.id);
    for (const subscription of subscriptions.values()) subscription.close();
  }
}

/**
 * Serves Modelence live queries on `server` (a `WebsocketServer`) from `registry` (a
 * `LiveQueryRegistry` of the app's modules), through the server's public handlers:
 * `onEvent('subscribeLiveQuery' | 'unsubscribeLiveQuery')` and `onDisconnect`. Returns the
 * `LiveQueries` (its `size` counts open subscriptions).
 * @example
 * serveLiveQueries(server, { registry: new LiveQueryRegistry([todoModule], roles), authenticate });
 */
function serveLiveQueries(server, { registry, authenticate = null, maxPerSocket } = {}) {
  const service = new LiveQueries({ registry, authenticate, maxPerSocket });
  server.onEvent(SUBSCRIBE_LIVE_QUERY, (socket, payload) => service.subscribe(socket, payload));
  server.onEvent(UNSUBSCRIBE_LIVE_QUERY, (socket, payload) => service.unsubscribe(socket, payload));
  server.onDisconnect((socket) => service.disconnect(socket));
  return service;
}

module.exports = { serveLiveQueries, LiveQueries, DEFAULT_MAX_LIVE_QUERIES_PER_SOCKET };
