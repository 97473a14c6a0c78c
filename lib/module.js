'use strict';

const { codes, typeError, describe } = require('./errors');

/**
 * A named group of channels and live queries, as in a Modelence app's
 * `new Module(name, { channels, queries })`. Query `key` is served as `<name>.<key>`.
 * @example
 * const todo = new Module('todo', { channels: [todoChannel], queries: { getAll: () => new LiveData({ fetch, watch }) } });
 */
class Module {
  constructor(name, opts = {}) {
    if (typeof name !== 'string' || name.length === 0) {
      throw typeError(codes.INVALID_ARGUMENT, `new Module(): name must be a non-empty string, got ${describe(name)}`);
    }
    if (opts === null || typeof opts !== 'object') {
      throw typeError(
        codes.INVALID_ARGUMENT,
        `new Module(${JSON.stringify(name)}): options must be an object, got ${describe(opts)}`,
      );
    }
    const channels = opts.channels ?? [];
    if (!Array.isArray(channels)) {
      throw typeError(
        codes.INVALID_ARGUMENT,
        `new Module(${JSON.stringify(name)}): channels must be an array of ServerChannel, got ${describe(channels)}`,
      );
    }
    const queries = opts.queries ?? {};
    if (queries === null || typeof queries !== 'object' || Array.isArray(queries)) {
      throw typeError(
        codes.INVALID_ARGUMENT,
        `new Module(${JSON.stringify(name)}): queries must be an object of query handlers, got ${describe(queries)}`,
      );
    }
    Object.defineProperty(this, 'name', { value: name, enumerable: true });
    Object.defineProperty(this, 'channels', { value: Object.freeze([...channels]), enumerable: true });
    Object.defineProperty(this, 'queries', { value: Object.freeze({ ...queries }), enumerable: true });
  }
}

module.exports = { Module };
