'use strict';

const { codes, typeError, runtimeError, describe } = require('./errors');
const { serialize } = require('./json');

/**
 * Longest channel name (`category:id`), in bytes, from the native side, which owns the
 * channel-name rules; a `ServerChannel` exists before any server, so its constructor checks
 * this one number early. Anything else the native side refuses (control characters, say)
 * rejects `startWebsocketServer` with `MNW_INVALID_OPTION`.
 */
const { MAX_CHANNEL_NAME_BYTES } = require('./native');

/** Longest category: room for `:` and a one-byte id within `MAX_CHANNEL_NAME_BYTES`. */
const MAX_CATEGORY_BYTES = MAX_CHANNEL_NAME_BYTES - 2;

/** Throws a TypeError unless `category` can name channels (`category:id`). */
function validateCategory(category, where) {
  if (typeof category !== 'string') {
    throw typeError(codes.INVALID_ARGUMENT, `${where}: category must be a string, got ${describe(category)}`);
  }
  if (category.length === 0 || category.includes(':') || Buffer.byteLength(category) > MAX_CATEGORY_BYTES) {
    throw typeError(
      codes.INVALID_ARGUMENT,
      `${where}: category must be 1 to ${MAX_CATEGORY_BYTES} bytes without ':' (the separator before the id; ` +
        `a channel name \`category:id\` is at most ${MAX_CHANNEL_NAME_BYTES} bytes), got ${describe(category)}`,
    );
  }
}

/** Throws a TypeError unless `check` is a function, null or undefined. */
function validateAccessCheck(check, where) {
  if (check !== undefined && check !== null && typeof check !== 'function') {
    throw typeError(
      codes.INVALID_ARGUMENT,
      `${where}: canAccessChannel must be a function returning a boolean or a Promise of one, got ${describe(check)}`,
    );
  }
}

/**
 * A server-side channel category. Clients join `category:id`; `broadcast(id, data)` sends
 * `data` to everyone in that channel on every running server that registered this channel.
 */
class ServerChannel {
  #servers = new Set();
  /** How `broadcast`'s errors name it; built once, not per call (broadcast is the hot path). */
  #broadcastWhere;

  constructor(category, canAccessChannel, options = {}) {
    validateCategory(category, 'new ServerChannel()');
    const where = `new ServerChannel(${JSON.stringify(category)})`;
    validateAccessCheck(canAccessChannel, where);
    if (options === null || typeof options !== 'object') {
      throw typeError(codes.INVALID_ARGUMENT, `${where}: options must be an object like { onPublish }, got ${describe(options)}`);
    }
    const { onPublish } = options;
    if (onPublish !== undefined && onPublish !== null && typeof onPublish !== 'function') {
      throw typeError(codes.INVALID_ARGUMENT, `${where}: onPublish must be a function (ctx, id, data) => data, got ${describe(onPublish)}`);
    }
    Object.defineProperty(this, 'category', { value: category, enumerable: true });
    Object.defineProperty(this, 'canAccessChannel', { value: canAccessChannel ?? null, enumerable: true });
    Object.defineProperty(this, 'onPublish', { value: onPublish ?? null, enumerable: true });
    this.#broadcastWhere = `ServerChannel(${JSON.stringify(category)}).broadcast`;
  }

  /**
   * Everyone in `<category>:<id>`, `{ socketId, user }` each: on every server in this process
   * that registered this channel and on every instance their adapters reach.
   */
  async members(id) {
    this.#checkId(id, 'members');
    const lists = await Promise.all([...this.#servers].map((server) => server.membersOf(this.category, id)));
    // Servers in one process sharing an adapter see each other's members twice.
    const seen = new Set();
    return lists.flat().filter(({ socketId }) => !seen.has(socketId) && seen.add(socketId));
  }

  /** How many sockets are in `<category>:<id>`, counted like `members`. */
  async count(id) {
    return (await this.members(id)).length;
  }

  #checkId(id, method) {
    if (typeof id !== 'string') {
      throw typeError(codes.INVALID_ARGUMENT, `ServerChannel(${JSON.stringify(this.category)}).${method}: id must be a string, got ${describe(id)}`);
    }
  }

  /** Sends `data` as event `<category>` to every member of `<category>:<id>`. */
  broadcast(id, data) {
    const where = this.#broadcastWhere;
    this.#checkId(id, 'broadcast');
    const json = serialize(data, where);
    if (this.#servers.size === 0) {
      throw runtimeError(
        codes.CHANNEL_NOT_REGISTERED,
        `${where}: no running websocket server registered this channel; pass it to ` +
          'startWebsocketServer({ channels }) or a Module before broadcasting',
      );
    }
    for (const server of this.#servers) server.broadcastJson(this.category, id, json);
  }

  /** @internal Called by a server that registered this channel (and again when it closes). */
  static attachServer(channel, server, attached) {
    if (attached) channel.#servers.add(server);
    else channel.#servers.delete(server);
  }
}

module.exports = { ServerChannel, validateCategory, validateAccessCheck };
