'use strict';

const { codes, typeError, runtimeError, describe } = require('./errors');
const { SocketHandle, checkEvent } = require('./socket-handle');
const { deconstruct, reconstruct } = require('./payload');
const { ackArgumentsOf } = require('./ack-args');
const { PROTOCOL_EVENTS } = require('./protocol');
const { EVENT, answerCall } = require('./hook-answers');

/**
 * The error `onError` handlers get when an `onEvent` handler for `event` outlived the
 * server's `eventTimeoutMs` (`timeoutMs` when the app set it; the native side owns the default).
 */
function eventTimeoutError(event, timeoutMs) {
  const limit = timeoutMs === undefined ? 'eventTimeoutMs' : `${timeoutMs} ms`;
  return runtimeError(
    codes.EVENT_TIMEOUT,
    `onEvent handler for "${event}" did not settle within ${limit}; no acknowledgement was sent. ` +
      'Make the handler settle faster or raise eventTimeoutMs',
  );
}

function defaultErrorHandler(error, { event }) {
  const where = event ? `handler for "${event}"` : 'connection handler';
  console.error(`[modelence-native-ws] ${where} failed:`, error);
}

/**
 * The app's socket-level handlers (`onConnection`, `onDisconnect`, `onEvent`, `onError`) and
 * the dispatchers Rust calls to reach them. Handlers never take a connection or the server
 * down: a throw or rejection goes to `onError`.
 */
class SocketEvents {
  #native = null;
  #contexts;
  #handles = new Map();
  #connection = [];
  #disconnect = [];
  #events = new Map();
  #errors = [];
  #eventTimeoutMs;

  /** `eventTimeoutMs` is the server's option (only used in timeout messages). */
  constructor(contexts, { eventTimeoutMs } = {}) {
    this.#contexts = contexts;
    this.#eventTimeoutMs = eventTimeoutMs;
  }

  /** @internal Connects the dispatcher to its native server. */
  bind(native) {
    this.#native = native;
  }

  #enableNotices() {
    this.#native.setSocketNotices(true);
  }

  /** Registers `handler(socket)` for every new connection. */
  onConnection(handler) {
    this.#checkHandler(handler, 'onConnection');
    this.#connection.push(handler);
    this.#enableNotices();
  }

  /** Registers `handler(socket, reason)` for every disconnection. */
  onDisconnect(handler) {
    this.#checkHandler(handler, 'onDisconnect');
    this.#disconnect.push(handler);
    this.#enableNotices();
  }

  /**
   * Registers `handler(socket, ...args)` for client event `event`; its result is the ack
   * (one argument, or several with `ackArgs(...)`).
   */
  onEvent(event, handler) {
    checkEvent(event, 'onEvent');
    if (PROTOCOL_EVENTS.has(event)) {
      throw typeError(codes.INVALID_ARGUMENT, `onEvent: "${event}" belongs to the channel protocol and is handled natively; pick another event name`);
    }
    this.#checkHandler(handler, 'onEvent');
    if (this.#events.has(event)) {
      throw typeError(codes.INVALID_ARGUMENT, `onEvent: "${event}" already has a handler; register one handler per event`);
    }
    this.#events.set(event, handler);
    this.#enableNotices();
    this.#native.setEventRoute(event, true);
  }

  /** Registers `handler(error, { socket, event })` for handler failures (default: a log line). */
  onError(handler) {
    this.#checkHandler(handler, 'onError');
    this.#errors.push(handler);
  }

  #checkHandler(handler, where) {
    if (typeof handler !== 'function') {
      throw typeError(codes.INVALID_ARGUMENT, `${where}: handler must be a function, got ${describe(handler)}`);
    }
  }

  #report(error, context) {
    const handlers = this.#errors.length ? this.#errors : [defaultErrorHandler];
    for (const handler of handlers) {
      try {
        handler(error, context);
      } catch (nested) {
        defaultErrorHandler(nested, context);
      }
    }
  }

  #run(handler, args, context) {
    try {
      const result = handler(...args);
      if (result && typeof result.then === 'function') result.then(undefined, (e) => this.#report(e, context));
    } catch (error) {
      this.#report(error, context);
    }
  }

  /**
   * The handle of `sid`, announced to `onConnection` handlers the first time it is seen
   * (whichever of the connect notice or a first event arrives first). The connect notice
   * always announces: Rust sends it only for acknowledged connections, and their
   * disconnect notice follows it on the same queue. An event from a socket that is gone
   * before its connect notice was handled gets a detached, disconnected handle.
   */
  #handle(sid, fromConnectNotice = false, connectionInfo = undefined) {
    let handle = this.#handles.get(sid);
    if (handle) {
      if (connectionInfo) handle.setConnectionInfo(connectionInfo);
      return handle;
    }
    handle = new SocketHandle(sid, this.#native, this.#contexts);
    if (connectionInfo) handle.setConnectionInfo(connectionInfo);
    if (!fromConnectNotice && this.#native.rooms(sid) === null) {
      handle.markDisconnected();
      return handle;
    }
    this.#handles.set(sid, handle);
    for (const handler of this.#connection) this.#run(handler, [handle], { socket: handle });
    return handle;
  }

  /** The live handle of connection `sid`, if any. */
  get(sid) {
    return this.#handles.get(sid);
  }

  /**
   * Dispatcher: `(kind, sid, reason)` from Rust, in order for each connection. Kinds:
   * `connect` (reason: the connection info as JSON); `disconnect` (reason: socket.io's);
   * `event-timeout` (reason: the event whose `onEvent` handler outlived `eventTimeoutMs`);
   * `gone` (the connection's state is dropped).
   */
  socketNotice = (kind, sid, reason) => {
    if (kind === 'connect') {
      this.#handle(sid, true, reason ? JSON.parse(reason) : undefined);
    } else if (kind === 'disconnect') {
      this.#gone(sid, reason ?? 'transport close');
    } else if (kind === 'event-timeout') {
      this.#eventTimedOut(sid, reason ?? '');
    } else {
      this.#gone(sid, 'transport close');
      this.#contexts.forget(sid);
    }
  };

  #eventTimedOut(sid, event) {
    const socket = this.#handle(sid);
    this.#report(eventTimeoutError(event, this.#eventTimeoutMs), { socket, event });
  }

  #gone(sid, reason) {
    const socket = this.#handles.get(sid);
    if (!socket) return;
    this.#handles.delete(sid);
    socket.markDisconnected();
    for (const handler of this.#disconnect) this.#run(handler, [socket, reason], { socket });
  }

  /**
   * Dispatcher: `(callId, sid, event, payload, wantsAck) => void`; answers `EVENT.ACKED` with
   * the ack's JSON and binary parts, or `EVENT.NO_ACK` (see `event`).
   */
  eventCall = (callId, sid, event, payload, wantsAck) => {
    this.event(sid, event, payload, wantsAck).then((ack) =>
      ack === null
        ? answerCall(callId, EVENT.NO_ACK)
        : answerCall(callId, EVENT.ACKED, ack.json, ack.binary),
    );
  };

  /** `(sid, event, payload, wantsAck) => Promise<payload | null>`: the ack; never rejects. */
  event = async (sid, event, payload, wantsAck) => {
    const handler = this.#events.get(event);
    if (!handler) return null;
    const socket = this.#handle(sid);
    try {
      const result = await handler(socket, ...reconstruct(payload));
      if (!wantsAck) return null;
      return deconstruct(ackArgumentsOf(result));
    } catch (error) {
      this.#report(error, { socket, event });
      return null;
    }
  };
}

module.exports = { SocketEvents };
