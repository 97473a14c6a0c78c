'use strict';

/**
 * Stable error codes. Every error this package throws carries one as `error.code`;
 * the README's "Error codes" table lists them.
 */
const codes = Object.freeze({
  INVALID_ARGUMENT: 'MNW_INVALID_ARGUMENT',
  INVALID_OPTION: 'MNW_INVALID_OPTION',
  UNSERIALIZABLE_DATA: 'MNW_UNSERIALIZABLE_DATA',
  CHANNEL_NOT_REGISTERED: 'MNW_CHANNEL_NOT_REGISTERED',
  SERVER_CLOSED: 'MNW_SERVER_CLOSED',
  START_FAILED: 'MNW_START_FAILED',
  NATIVE_BINDING_MISSING: 'MNW_NATIVE_BINDING_MISSING',
  SOCKET_GONE: 'MNW_SOCKET_GONE',
  ADAPTER_FAILED: 'MNW_ADAPTER_FAILED',
  ACK_TIMEOUT: 'MNW_ACK_TIMEOUT',
  EVENT_TIMEOUT: 'MNW_EVENT_TIMEOUT',
});

/** A TypeError for a wrong argument or option, with a stable `code`. */
function typeError(code, message) {
  const error = new TypeError(message);
  error.code = code;
  return error;
}

/** An Error for a runtime failure, with a stable `code` and an optional `cause`. */
function runtimeError(code, message, cause) {
  const error = cause === undefined ? new Error(message) : new Error(message, { cause });
  error.code = code;
  return error;
}

/** Describes a value for an error message: its type, and the value itself when short. */
function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (type === 'number' || type === 'boolean' || type === 'bigint') return `${type} ${String(value)}`;
  if (type === 'function') return 'a function';
  if (type === 'undefined') return 'undefined';
  return `${type === 'object' ? 'an object' : type}`;
}

module.exports = { codes, typeError, runtimeError, describe };
