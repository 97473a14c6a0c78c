'use strict';

const { NativeEmitter } = require('./native');
const { codes, typeError, runtimeError, describe } = require('./errors');
const { adapterOptions } = require('./options');
const { serialize, checkTarget } = require('./json');

/**
 * Publishes to channel members on every instance, from a process that runs no websocket
 * server (a worker, a cron job).
 */
class Emitter {
  #native;
  #closing = null;

  /** @internal */
  constructor(native) {
    this.#native = native;
  }

  /**
   * Sends `data` as event `category` to every member of `category:id`, on every instance.
   * @example
   * emitter.broadcast('notifications', userId, { text: 'Your export is ready' });
   */
  broadcast(category, id, data) {
    const where = 'Emitter.broadcast';
    checkTarget(where, category, id);
    const json = serialize(data, where);
    if (this.#closing) throw runtimeError(codes.SERVER_CLOSED, `${where}: this emitter is closed`);
    try {
      this.#native.broadcast(category, id, json);
    } catch (cause) {
      const error = typeError(codes.INVALID_ARGUMENT, `${where}: ${cause.message}`);
      error.cause = cause;
      throw error;
    }
  }

  /** Sends what is still queued (up to 5 s) and disconnects. Idempotent. */
  close() {
    if (!this.#closing) this.#closing = this.#native.close();
    return this.#closing;
  }
}

/**
 * Connects an emitter to the backend the servers share.
 * @example
 * const emitter = await createEmitter({ mongodb: { uri: process.env.MONGODB_URI } });
 */
async function createEmitter(opts) {
  if (opts === null || typeof opts !== 'object') {
    throw typeError(codes.INVALID_OPTION, `createEmitter(): options must be an object, got ${describe(opts)}`);
  }
  const adapter = adapterOptions(opts, 'createEmitter()');
  if (!adapter) throw typeError(codes.INVALID_OPTION, 'createEmitter(): pass { mongodb: { uri } } or { redis: { url } }');
  try {
    return new Emitter(await NativeEmitter.connect(adapter.mongodb, adapter.redis));
  } catch (cause) {
    throw runtimeError(codes.ADAPTER_FAILED, `createEmitter(): ${cause.message}`, cause);
  }
}

module.exports = { createEmitter, Emitter };
