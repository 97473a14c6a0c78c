'use strict';

const { describe } = require('./errors');

/**
 * Reading the client's live-query messages (Modelence 0.22's `subscribeLiveQuery` and
 * `unsubscribeLiveQuery` payloads) before anything acts on them. Each reader returns
 * `{ value }` or `{ error }`, the error being what the client is told after "Invalid payload: ".
 */

/**
 * Longest `subscriptionId` and `method`, in characters. Modelence's client sends ids like
 * `sub-12-1733140000000` and methods like `todo.getAll`; the bound keeps what a socket's
 * subscriptions hold (and what every `liveQueryData` repeats) small.
 */
const MAX_NAME_LENGTH = 256;

/** The `clientInfo` of a subscription that sent none (the values Modelence uses). */
function defaultClientInfo() {
  return { screenWidth: 0, screenHeight: 0, windowWidth: 0, windowHeight: 0, pixelRatio: 1, orientation: null };
}

const CLIENT_INFO_NUMBERS = ['screenWidth', 'screenHeight', 'windowWidth', 'windowHeight', 'pixelRatio'];

function isRecord(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function readName(payload, field) {
  const value = payload[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME_LENGTH) {
    return { error: `${field} must be a string of 1 to ${MAX_NAME_LENGTH} characters, got ${describe(value)}` };
  }
  return { value };
}

/** `clientInfo` keeps only its six known fields, as Modelence does. */
function readClientInfo(info) {
  if (info === undefined) return { value: defaultClientInfo() };
  if (!isRecord(info)) return { error: `clientInfo must be an object, got ${describe(info)}` };
  const value = {};
  for (const field of CLIENT_INFO_NUMBERS) {
    if (typeof info[field] !== 'number') {
      return { error: `clientInfo.${field} must be a number, got ${describe(info[field])}` };
    }
    value[field] = info[field];
  }
  if (info.orientation !== null && typeof info.orientation !== 'string') {
    return { error: `clientInfo.orientation must be a string or null, got ${describe(info.orientation)}` };
  }
  value.orientation = info.orientation;
  return { value };
}

/**
 * Reads `{ subscriptionId, method, args = {}, authToken?, clientInfo? }`. A missing
 * `clientInfo` becomes zeros with `pixelRatio: 1`; a missing `authToken` becomes `null`.
 */
function parseSubscribe(payload) {
  if (!isRecord(payload)) {
    return { error: `expected an object { subscriptionId, method, args }, got ${describe(payload)}` };
  }
  const subscriptionId = readName(payload, 'subscriptionId');
  if (subscriptionId.error) return subscriptionId;
  const method = readName(payload, 'method');
  if (method.error) return method;
  const args = payload.args === undefined ? {} : payload.args;
  if (!isRecord(args)) return { error: `args must be an object, got ${describe(args)}` };
  const { authToken = null } = payload;
  if (authToken !== null && typeof authToken !== 'string') {
    return { error: `authToken must be a string or null, got ${describe(authToken)}` };
  }
  const clientInfo = readClientInfo(payload.clientInfo);
  if (clientInfo.error) return clientInfo;
  return {
    value: {
      subscriptionId: subscriptionId.value,
      method: method.value,
      args,
      authToken,
      clientInfo: clientInfo.value,
    },
  };
}

/** Reads `{ subscriptionId }`. */
function parseUnsubscribe(payload) {
  if (!isRecord(payload)) return { error: `expected an object { subscriptionId }, got ${describe(payload)}` };
  const subscriptionId = readName(payload, 'subscriptionId');
  return subscriptionId.error ? subscriptionId : { value: { subscriptionId: subscriptionId.value } };
}

module.exports = { parseSubscribe, parseUnsubscribe, MAX_NAME_LENGTH };
