'use strict';

const { codes, typeError, describe } = require('./errors');

/** Throws a TypeError unless `category` and `id` are strings (the target of a broadcast). */
function checkTarget(where, category, id) {
  if (typeof category !== 'string') {
    throw typeError(codes.INVALID_ARGUMENT, `${where}: category must be a string, got ${describe(category)}`);
  }
  if (typeof id !== 'string') {
    throw typeError(codes.INVALID_ARGUMENT, `${where}: id must be a string, got ${describe(id)}`);
  }
}

/**
 * Serializes broadcast data once, in JS, so Rust can embed the text in the packet without
 * re-parsing it. `undefined` becomes `null`, as socket.io does for a missing argument.
 */
function serialize(data, where) {
  let json;
  try {
    json = JSON.stringify(data);
  } catch (cause) {
    const error = typeError(
      codes.UNSERIALIZABLE_DATA,
      `${where}: data cannot be serialized to JSON (${cause.message}); ` +
        'send plain objects, arrays, strings, finite numbers, booleans or null',
    );
    error.cause = cause;
    throw error;
  }
  return json === undefined ? 'null' : json;
}

module.exports = { serialize, checkTarget };
