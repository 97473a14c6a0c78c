'use strict';

/**
 * Event arguments cross into Rust as `{ json, binary }`: a JSON array text in which binary
 * values are socket.io placeholders (`{ _placeholder: true, num }`), plus the Buffers.
 */

function isBinary(value) {
  return Buffer.isBuffer(value) || ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

function toBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Splits `args` into JSON text and binary parts. Throws a TypeError for cyclic or BigInt data. */
function deconstruct(args) {
  const binary = [];
  const json = JSON.stringify(args, function replace(key, value) {
    const original = this[key];
    if (original !== null && typeof original === 'object' && isBinary(original)) {
      binary.push(toBuffer(original));
      return { _placeholder: true, num: binary.length - 1 };
    }
    return value === undefined && Array.isArray(this) ? null : value;
  });
  return { json, binary };
}

/** Rebuilds the argument array from `{ json, binary }`, with binary parts as Buffers. */
function reconstruct({ json, binary }) {
  return JSON.parse(json, (key, value) => {
    if (
      value !== null &&
      typeof value === 'object' &&
      value._placeholder === true &&
      typeof value.num === 'number' &&
      Object.keys(value).length === 2 &&
      binary[value.num] !== undefined
    ) {
      return binary[value.num];
    }
    return value;
  });
}

module.exports = { deconstruct, reconstruct };
