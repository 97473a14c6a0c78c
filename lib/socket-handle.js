'use strict';

const { codes, typeError, runtimeError, describe } = require('./errors');
const { deconstruct, reconstruct } = require('./payload');
const { RESERVED_EVENTS } = require('./protocol');

/** Default time `emitWithAck` waits for the client's acknowledgement. */
const DEFAULT_ACK_TIMEOUT_MS = 10000;

function checkEvent(event, where) {
  if (typeof event !== 'string' || event.length === 0) {
    throw typeError(codes.INVALID_ARGUMENT, `${where}: event must be a non-empty string, got ${describe(event)}`);
  }
  if (RESERVED_EVENTS.has(event)) {
    throw typeError(codes.INVALID_ARGUMENT, `${where}: "${event}" is a reserved socket.io event name; pick another`);
  }
}

function encode(args, where) {
  try {
    return deconstruct(args);
  } catch (cause) {
    const error = typeError(codes.UNSERIALIZABLE_DATA, `${where}: arguments cannot be serialized (${cause.message})`);
    error.cause = cause;
    throw error;
  }
}

/**
 * One client connection, as the app sees it on the server. A handle outlives its connection:
 * once the client is gone, `emit`/`join`/`leave`/`disconnect` return `false` and
 * `emitWithAck`/`emitWithAckArgs` reject with `MNW_SOCKET_GONE`.
 */
class SocketHandle {
  #native;
  #contexts;
  #connected = true;
  #connectionInfo = Object.freeze({ ip: null, userAgent: null });

  /** @internal */
  constructor(id, native, contexts) {
    Object.defineProperty(this, 'id', { value: id, enumerable: true });
    this.#native = native;
    this.#contexts = contexts;
  }

  /** The connection's auth context (`{ user, session, roles }`). */
  get auth() {
    return this.#contexts.get(this.id);
  }

  /** Where the connection comes from: `{ ip, userAgent }` (the direct peer's IP; `null` when unknown). */
  get connectionInfo() {
    return this.#connectionInfo;
  }

  /** @internal From the connect notice. */
  setConnectionInfo({ ip = null, userAgent = null } = {}) {
    this.#connectionInfo = Object.freeze({ ip, userAgent });
  }

  /** Whether the connection is still open. */
  get connected() {
    return this.#connected;
  }

  /** The channels (`category:id`) this socket is in. Empty once disconnected. */
  get channels() {
    return (this.#native.rooms(this.id) ?? []).filter((room) => room !== this.id);
  }

  /**
   * Sends `event` with `args` (JSON values and Buffers) to this client.
   * @returns {boolean} `false` if the client has disconnected.
   * @example
   * socket.emit('liveQueryData', { rows });
   */
  emit(event, ...args) {
    checkEvent(event, 'SocketHandle.emit');
    return this.#connected && this.#native.emit(this.id, event, encode(args, 'SocketHandle.emit'));
  }

  /**
   * Sends `event` and resolves with the client's acknowledgement (its first argument).
   * A last argument of the exact shape `{ timeoutMs }` sets the wait (default 10 s).
   * @example
   * const answer = await socket.emitWithAck('confirm', { id: 1 }, { timeoutMs: 2000 });
   */
  async emitWithAck(event, ...args) {
    return (await this.#ask('emitWithAck', event, args))[0];
  }

  /**
   * Like `emitWithAck`, but resolves with every argument of the client's acknowledgement, as
   * an array (`[]` when the client called back without arguments).
   * @example
   * // client: socket.on('confirm', (order, callback) => callback(null, { ok: true }));
   * const [error, result] = await socket.emitWithAckArgs('confirm', order, { timeoutMs: 2000 });
   */
  async emitWithAckArgs(event, ...args) {
    return this.#ask('emitWithAckArgs', event, args);
  }

  /** Sends `event` with `args` (maybe ending in `{ timeoutMs }`); resolves with the ack's arguments. */
  async #ask(method, event, args) {
    const where = `SocketHandle.${method}`;
    checkEvent(event, where);
    let timeoutMs = DEFAULT_ACK_TIMEOUT_MS;
    const last = args[args.length - 1];
    if (last && typeof last === 'object' && !Array.isArray(last) && Object.keys(last).join() === 'timeoutMs') {
      timeoutMs = last.timeoutMs;
      args = args.slice(0, -1);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 2 ** 31 - 1) {
        throw typeError(codes.INVALID_ARGUMENT, `${where}: timeoutMs must be a positive integer, got ${describe(timeoutMs)}`);
      }
    }
    const payload = encode(args, where);
    if (!this.#connected) throw gone(this.id);
    const outcome = await this.#native.emitWithAck(this.id, event, payload, timeoutMs);
    if (outcome.failure === 'timeout') {
      throw runtimeError(codes.ACK_TIMEOUT, `${method}("${event}"): the client did not acknowledge within ${timeoutMs} ms`);
    }
    if (outcome.failure) throw gone(this.id);
    return reconstruct(outcome.args);
  }

  /**
   * Adds this socket to `channel` WITHOUT running the channel's access check: the server
   * decides. `false` if the client has disconnected.
   * @example
   * socket.join(`notifications:${socket.auth.user.id}`);
   */
  join(channel) {
    if (typeof channel !== 'string') {
      throw typeError(codes.INVALID_ARGUMENT, `SocketHandle.join: channel must be a string, got ${describe(channel)}`);
    }
    if (!this.#connected) return false;
    try {
      return this.#native.join(this.id, channel);
    } catch (cause) {
      const error = typeError(codes.INVALID_ARGUMENT, `SocketHandle.join: ${cause.message}`);
      error.cause = cause;
      throw error;
    }
  }

  /** Removes this socket from `channel`. `false` if the client has disconnected. */
  leave(channel) {
    if (typeof channel !== 'string') {
      throw typeError(codes.INVALID_ARGUMENT, `SocketHandle.leave: channel must be a string, got ${describe(channel)}`);
    }
    return this.#connected && this.#native.leave(this.id, channel);
  }

  /** Disconnects the client. `false` if it was already gone. */
  disconnect() {
    return this.#connected && this.#native.disconnect(this.id);
  }

  /** @internal */
  markDisconnected() {
    this.#connected = false;
  }
}

function gone(id) {
  return runtimeError(codes.SOCKET_GONE, `socket ${id} has disconnected; its handle can no longer send`);
}

module.exports = { SocketHandle, checkEvent };
