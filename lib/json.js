'use strict';

const { codes, typeError } = require('./errors');

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

module.exports = { serialize };
