'use strict';

const { startWebsocketServer } = require('./server');
const { codes, typeError, describe } = require('./errors');
const { rateLimitedWarn } = require('./log');

/**
 * A Modelence `WebsocketServerProvider` backed by the native server:
 * `startApp({ websocket: { provider: createWebsocketProvider({ authenticate }) } })`.
 * `opts` takes every option of `startWebsocketServer` except `httpServer`, `port`, `host`,
 * `modules` and `channels`, which Modelence's `init` supplies.
 */
function createWebsocketProvider(opts = {}) {
  if (opts === null || typeof opts !== 'object') {
    throw typeError(codes.INVALID_OPTION, `createWebsocketProvider(): options must be an object, got ${describe(opts)}`);
  }
  for (const field of ['httpServer', 'port', 'host', 'modules', 'channels']) {
    if (opts[field] !== undefined) {
      throw typeError(codes.INVALID_OPTION, `createWebsocketProvider(): options.${field} is supplied by Modelence's init(); remove it`);
    }
  }
  const warn = rateLimitedWarn(1000);
  let server = null;
  let starting = null;
  // Handlers registered before init are applied when the server starts.
  const registrations = [];
  const register = (method, args) => {
    if (server) server[method](...args);
    else registrations.push([method, args]);
  };

  return {
    /** Called once by Modelence with its HTTP server and all modules' channels. */
    init({ httpServer, channels = [] } = {}) {
      if (starting) return starting;
      const plain = Array.from(channels, (c) => ({
        category: c && c.category,
        canAccessChannel: (c && c.canAccessChannel) || null,
        onPublish: (c && c.onPublish) || null,
      }));
      starting = startWebsocketServer({ ...opts, httpServer, channels: plain }).then((started) => {
        server = started;
        for (const [method, args] of registrations.splice(0)) started[method](...args);
      });
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
    /** See `WebsocketServer.onEvent`; may be called before `init`. */
    onEvent: (event, handler) => register('onEvent', [event, handler]),
    /** See `WebsocketServer.onError`; may be called before `init`. */
    onError: (handler) => register('onError', [handler]),

    /** Closes the server started by `init` (if any). */
    async close() {
      if (starting) await starting.catch(() => {});
      if (server) await server.close();
    },
  };
}

module.exports = { createWebsocketProvider };
