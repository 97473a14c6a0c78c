'use strict';

/**
 * What a live query's `fetch()` result becomes on the wire, as Modelence's client expects it
 * in `liveQueryData { data, typeMap }`: MongoDB ObjectIds (anything with a `toHexString()`
 * method) become their hex strings, and `typeMap` says where the client must turn strings
 * back into Dates (`{ type: 'date' }`, `{ type: 'object', props }`, `{ type: 'array',
 * elements }`; `null` when there is nothing to revive). One walk computes both; unchanged
 * parts of the result are not copied.
 */

const DATE = Object.freeze({ type: 'date' });

function isObjectIdLike(value) {
  return typeof value.toHexString === 'function';
}

function isBinary(value) {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/** `[data, typeMap]` for one value. */
function encode(value) {
  if (value === null || typeof value !== 'object') return [value, null];
  if (isObjectIdLike(value)) return [value.toHexString(), null];
  if (value instanceof Date) return [value, DATE];
  // Sent as binary attachments; there is nothing inside to revive.
  if (isBinary(value)) return [value, null];
  if (Array.isArray(value)) return encodeArray(value);
  return encodeObject(value);
}

function encodeArray(array) {
  let copy = null;
  let elements = null;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (item === null || typeof item !== 'object') continue;
    const [data, typeMap] = encode(item);
    if (data !== item) {
      copy ??= array.slice();
      copy[i] = data;
    }
    if (typeMap) (elements ??= {})[i] = typeMap;
  }
  return [copy ?? array, elements && { type: 'array', elements }];
}

function encodeObject(object) {
  let copy = null;
  let props = null;
  for (const [key, value] of Object.entries(object)) {
    if (value === null || typeof value !== 'object') continue;
    const [data, typeMap] = encode(value);
    if (data !== value) {
      copy ??= { ...object };
      copy[key] = data;
    }
    if (typeMap) (props ??= {})[key] = typeMap;
  }
  return [copy ?? object, props && { type: 'object', props }];
}

/**
 * Turns a live query result into what `liveQueryData` carries: `{ data, typeMap }`.
 * @example
 * encodeResult({ at: new Date(0), _id: new ObjectId() });
 * // → { data: { at: Date, _id: '65f…' }, typeMap: { type: 'object', props: { at: { type: 'date' } } } }
 */
function encodeResult(result) {
  const [data, typeMap] = encode(result);
  return { data, typeMap };
}

module.exports = { encodeResult };
