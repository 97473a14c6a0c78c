'use strict';

const { startWebsocketServer } = require('./server');
const { codes, typeError, runtimeError, describe } = require('./errors');
const { rateLimitedWarn } = require('./log');
const { liveQueryOptions } = require('./options');
const { serveLiveQueries } = require('./live-queries');
const { modelenceEnvironment } = require('./modelence-env');
const { SUBSCRIBE_LIVE_QUERY, UNSUBSCRIBE_LIVE_QUERY } = require('./protocol');

const where = 'createWebsocketProvider()';

/** Options only the provider reads; the rest go to `startWebsocketServer`. */
const PROVIDER_ONLY = ['modules', 'roles', 'appRoot', 'modelence', 'liveQueries', 'maxLiveQueriesPerSocket'];

/** Validates the provider's own options up front (the server's are checked by `init`). */
function checkProviderOptions(opts) {
  if (opts === null || typeof opts !== 'object') {
    throw typeError(codes.INVALID_OPTION, `${where}: options must be an object, got ${describe(opts)}`);
  }
  for (const field of ['httpServer', 'port', 'host', 'channels']) {
    if (opts[field] !== undefined) {
      throw typeError(codes.INVALID_OPTION, `${where}: options.${field} is supplied by Modelence's init(); remove it`);
    }
  }
  const invalid = (field, expected, value) =>
    typeError(codes.INVALID_OPTION, `${where}: options.${field} must be ${expected}, got ${describe(value)}`);
  if (opts.appRoot !== undefined && (typeof opts.appRoot !== 'string' || opts.appRoot === '')) {
    throw invalid('appRoot', "the app's directory (a non-empty string)", opts.appRoot);
  }
  if (opts.modelence !== undefined && opts.modelence !== false) {
    throw invalid('modelence', "false (to skip looking up the app's Modelence) or left out", opts.modelence);
  }
  if (opts.liveQueries !== undefined && typeof opts.liveQueries !== 'boolean') {
    throw invalid('liveQueries', 'a boolean', opts.liveQueries);
  }
}

/** The part of the start-up line about live queries. */
function liveQuerySummary(registry, enabled) {
  if (!enabled) return 'live queries: off (options.liveQueries is false)';
  if (registry.size === 0) return 'live queries: none (pass your modules: createWebsocketProvider({ modules }))';
  return `live queries: ${registry.size} from ${registry.moduleCount} module${registry.moduleCount === 1 ? '' : 's'}`;
}

/**
 * A Modelence `WebsocketServerProvider` backed by the native server:
 * `startApp({ modules, websocket: { provider: createWebsocketProvider({ modules }) } })`.
 * Serves channels (from Modelence's `init`) and live queries (from `modules`' queries).
 * Without `authenticate`, `mongodb` or `redis`, `init` takes them from the app's Modelence
 * (`modelence/server`, resolved from `appRoot`, default `process.cwd()`) and logs one line
 * saying which sources it used. Other options are those of `startWebsocketServer` except
 * `httpServer`, `port`, `host` and `channels`, which Modelence's `init` supplies.
 * @example
 * startApp({ modules, websocket: { provider: createWebsocketProvider({ modules }) } });
 */
function createWebsocketProvider(opts = {}) {
  checkProviderOptions(opts);
  const { registry, maxPerSocket } = liveQueryOptions(opts, where);
  const liveQueries = opts.liveQueries !== false;
  const serverOpts = Object.fromEntries(Object.entries(opts).filter(([key]) => !PROVIDER_ONLY.includes(key)));
  const warn = rateLimitedWarn(1000);
  let server = null;
  let starting = null;
  // Handlers registered before init are applied when the server starts.
  const registrations = [];
  const register = (method, args) => {
    if (server) server[method](...args);
    else registrations.push([method, args]);
  };

  async function start({ httpServer, channels = [] }) {
    const env = await modelenceEnvironment(opts);
    const plain = Array.from(channels, (c) => ({
      category: c && c.category,
      canAccessChannel: (c && c.canAccessChannel) || null,
      onPublish: (c && c.onPublish) || null,
    }));
    const { authenticate, mongodb, redis } = env;
    const started = await startWebsocketServer({
      ...serverOpts,
      authenticate,
      mongodb,
      redis,
      httpServer,
      channels: plain,
    });
    if (liveQueries) serveLiveQueries(started, { registry, authenticate, maxPerSocket });
    server = started;
    for (const [method, args] of registrations.splice(0)) started[method](...args);
    console.info(`[modelence-native-ws] ${env.summary}; ${liveQuerySummary(registry, liveQueries)}`);
  }

  /** The running server, once `init` has finished; a clear error before. */
  async function started() {
    if (starting) await starting;
    if (!server) throw runtimeError(codes.SERVER_CLOSED, 'the websocket server is not running: call init() first');
    return server;
  }

  return {
    /** Called once by Modelence with its HTTP server and all modules' channels. */
    init({ httpServer, channels = [] } = {}) {
      if (starting) return starting;
      starting = start({ httpServer, channels });
      // Modelence does not await init: report failures here so they are never unhandled.
      starting.catch((error) => console.error(`[modelence-native-ws] init failed: ${error.message}`));
      return starting;
    },

    /** Broadcasts to `category:id`; never throws into the caller (drops with a warning). */
    broadcast({ category, id, data } = {}) {
      if (!server) {
        warn(`broadcast to ${category}:${id} dropped: the websocket server is not initialized yet`);
        return;
      }
      try {
        server.broadcast(category, id, data);
      } catch (error) {
        warn(`broadcast to ${category}:${id} dropped: ${error.message}`);
      }
    },

    /** See `WebsocketServer.onConnection`; may be called before `init`. */
    onConnection: (handler) => register('onConnection', [handler]),
    /** See `WebsocketServer.onDisconnect`; may be called before `init`. */
    onDisconnect: (handler) => register('onDisconnect', [handler]),
    /** See `WebsocketServer.onEvent`; may be called before `init`. The live-query events are taken unless `liveQueries: false`. */
    onEvent: (event, handler) => {
      if (liveQueries && (event === SUBSCRIBE_LIVE_QUERY || event === UNSUBSCRIBE_LIVE_QUERY)) {
        throw typeError(
          codes.INVALID_ARGUMENT,
          `onEvent: "${event}" is served by the provider's live queries (options.modules); ` +
            'pass createWebsocketProvider({ liveQueries: false }) to handle it yourself',
        );
      }
      register('onEvent', [event, handler]);
    },
    /** See `WebsocketServer.onError`; may be called before `init`. */
    onError: (handler) => register('onError', [handler]),

    /**
     * The server's Prometheus metrics text (see `WebsocketServer.metrics`), e.g. to serve on
     * an internal route; rejects with `MNW_SERVER_CLOSED` before `init` finished or after `close`.
     */
    async metrics() {
      return (await started()).metrics();
    },

    /** The server's main figures (see `WebsocketServer.stats`); like `metrics()`. */
    async stats() {
      return (await started()).stats();
    },

    /** Closes the server started by `init` (if any). */
    async close() {
      if (starting) await starting.catch(() => {});
      if (server) await server.close();
    },
  };
}

module.exports = { createWebsocketProvider };
