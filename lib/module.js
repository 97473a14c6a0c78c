'use strict';

const { codes, typeError, describe } = require('./errors');

/** A named group of channels, as in a Modelence app's `new Module(name, { channels })`. */
class Module {
  constructor(name, opts = {}) {
    if (typeof name !== 'string' || name.length === 0) {
      throw typeError(codes.INVALID_ARGUMENT, `new Module(): name must be a non-empty string, got ${describe(name)}`);
    }
    if (opts === null || typeof opts !== 'object') {
      throw typeError(codes.INVALID_ARGUMENT, `new Module(${JSON.stringify(name)}): options must be an object, got ${describe(opts)}`);
    }
    const channels = opts.channels ?? [];
    if (!Array.isArray(channels)) {
      throw typeError(
        codes.INVALID_ARGUMENT,
        `new Module(${JSON.stringify(name)}): channels must be an array of ServerChannel, got ${describe(channels)}`,
      );
    }
    Object.defineProperty(this, 'name', { value: name, enumerable: true });
    Object.defineProperty(this, 'channels', { value: Object.freeze([...channels]), enumerable: true });
  }
}

module.exports = { Module };
