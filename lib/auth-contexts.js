'use strict';

const { debug } = require('./log');
const { ACCESS, AUTH, PUBLISH, answerCall } = require('./hook-answers');

const ANONYMOUS = Object.freeze({ user: null, session: null, roles: Object.freeze([]) });

/**
 * The auth context of every live connection, kept in JS so access checks receive the app's
 * own objects (a Modelence user document stays a document). Rust drives it through the
 * three dispatchers below and tells it when a connection is gone.
 */
class AuthContexts {
  /**
   * sid → its stored context (an object), or the number of its `authenticate` attempt still
   * awaited: one entry per connection, so a connect costs one insertion, not two and a delete.
   */
  #contexts = new Map();
  #nextAttempt = 0;
  #authenticate;
  #checks;
  #publishers;

  constructor(authenticate, channels) {
    this.#authenticate = authenticate;
    this.#checks = new Map(channels.filter((c) => c.canAccessChannel).map((c) => [c.category, c.canAccessChannel]));
    this.#publishers = new Map(channels.filter((c) => c.onPublish).map((c) => [c.category, c.onPublish]));
  }

  /**
   * Dispatcher: `(callId, sid, token) => void`; answers `AUTH.STORED` once the context is
   * stored, or `AUTH.REFUSED` with the message (see `authenticate`).
   */
  authenticateCall = (callId, sid, token) => {
    this.#authenticateThen(sid, token, (refusal) =>
      refusal === null ? answerCall(callId, AUTH.STORED) : answerCall(callId, AUTH.REFUSED, refusal),
    );
  };

  /** Dispatcher: `(callId, sid, category, id) => void`; answers with the `ACCESS` code. */
  checkAccessCall = (callId, sid, category, id) => {
    this.#checkAccessThen(sid, category, id, (verdict) => answerCall(callId, verdict));
  };

  /**
   * Dispatcher: `(callId, sid, category, id, json) => void`; answers `PUBLISH.ACCEPTED` with
   * the JSON to broadcast or `PUBLISH.REJECTED` with the message (see `publish`).
   */
  publishCall = (callId, sid, category, id, json) => {
    this.publish(sid, category, id, json).then((outcome) =>
      'json' in outcome
        ? answerCall(callId, PUBLISH.ACCEPTED, outcome.json)
        : answerCall(callId, PUBLISH.REJECTED, outcome.error),
    );
  };

  /** Number of connections with a stored context or an `authenticate` call awaited. */
  get size() {
    return this.#contexts.size;
  }

  /** The auth context of connection `sid` (anonymous when none was stored). */
  get(sid) {
    const context = this.#contexts.get(sid);
    return typeof context === 'object' ? context : ANONYMOUS;
  }

  /**
   * `(sid, token) => Promise<null | message>`: never rejects. A connection may send CONNECT
   * several times; each call is an attempt, and only the latest one of a live connection may
   * store its context. A late result of an attempt Rust gave up on (timeout, then `forget`,
   * then another CONNECT) is discarded, so it never becomes another attempt's context.
   */
  authenticate = (sid, token) => new Promise((resolve) => this.#authenticateThen(sid, token, resolve));

  /** `authenticate`, reporting to `done(null | message)` (every connection passes here). */
  #authenticateThen(sid, token, done) {
    const attempt = ++this.#nextAttempt;
    this.#contexts.set(sid, attempt);
    const stored = (context) => {
      if (context === null || typeof context !== 'object') {
        this.#settle(sid, attempt);
        debug('authenticate returned %s instead of { user, session, roles }', typeof context);
        return done('Authentication failed');
      }
      // Rust gave up on this attempt (timeout): a later attempt may already be running.
      // Refuse rather than let the connection through without its context.
      if (this.#contexts.get(sid) !== attempt) return done('Authentication failed');
      this.#contexts.set(sid, context);
      return done(null);
    };
    const refused = (error) => {
      this.#settle(sid, attempt);
      const message = error instanceof Error ? error.message : String(error);
      debug('authenticate refused %s: %s', sid, message);
      done(message || 'Authentication failed');
    };
    settleWith(this.#authenticate, token, stored, refused);
  }

  /** Ends `attempt` of `sid` without a context, unless it was superseded or forgotten. */
  #settle(sid, attempt) {
    if (this.#contexts.get(sid) === attempt) this.#contexts.delete(sid);
  }

  /** Runs the access check of `category` for `sid` joining `category:id`; reports `done(ACCESS.*)`. */
  #checkAccessThen(sid, category, id, done) {
    const check = this.#checks.get(category);
    if (!check) return done(ACCESS.DENIED);
    const context = this.get(sid);
    const channel = `${category}:${id}`;
    const params = {
      user: context.user ?? null,
      session: context.session ?? null,
      roles: Array.isArray(context.roles) ? context.roles : [],
      channelId: id,
      channel,
    };
    const verdict = (allowed) => {
      if (allowed === true) return done(ACCESS.ALLOWED);
      if (allowed === false) return done(ACCESS.DENIED);
      debug('access check for %s returned %s instead of a boolean: denied', channel, typeof allowed);
      return done(ACCESS.FAILED);
    };
    const failed = (error) => {
      debug('access check for %s threw: %s', channel, error && error.stack);
      done(ACCESS.FAILED);
    };
    return settleWith(check, params, verdict, failed);
  }

  /** `(sid, category, id, json) => Promise<{ json } | { error }>`: runs `onPublish`; never rejects. */
  publish = async (sid, category, id, json) => {
    const onPublish = this.#publishers.get(category);
    if (!onPublish) return { error: 'Publishing is not allowed on this channel' };
    const context = this.get(sid);
    try {
      const data = await onPublish(
        { user: context.user ?? null, session: context.session ?? null, roles: Array.isArray(context.roles) ? context.roles : [], channelId: id, channel: `${category}:${id}` },
        id,
        JSON.parse(json),
      );
      const out = JSON.stringify(data);
      return { json: out === undefined ? 'null' : out };
    } catch (error) {
      debug('onPublish for %s:%s rejected: %s', category, id, error && error.message);
      return { error: (error && error.message) || 'Publish rejected' };
    }
  };

  /** `(sid) => void`: the connection is gone. */
  forget = (sid) => {
    this.#contexts.delete(sid);
  };
}

/**
 * Calls the app's `hook(arg)` and passes its value (awaited when it is a thenable) to
 * `onValue`, or what it threw or rejected with to `onError`. One `then` per call, and none
 * for a synchronous hook: the connect path calls two hooks per connection, and async wrappers
 * cost each a promise, an async frame and a microtask more.
 */
function settleWith(hook, arg, onValue, onError) {
  let result;
  try {
    result = hook(arg);
    // A native promise settles once; any other thenable goes through one, as `await` would.
    if (result instanceof Promise) return result.then(onValue, onError);
    if (result !== null && (typeof result === 'object' || typeof result === 'function') && typeof result.then === 'function') {
      return Promise.resolve(result).then(onValue, onError);
    }
  } catch (error) {
    return onError(error);
  }
  return onValue(result);
}

module.exports = { AuthContexts };
