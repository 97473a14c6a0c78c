'use strict';

const { codes, typeError, describe } = require('./errors');
const { ServerChannel, validateCategory, validateAccessCheck } = require('./server-channel');
const { Module } = require('./module');

const where = 'startWebsocketServer()';

function fail(field, expected, value) {
  return typeError(codes.INVALID_OPTION, `${where}: options.${field} must be ${expected}, got ${describe(value)}`);
}

function optionalInteger(opts, field, min, max) {
  const value = opts[field];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw fail(field, `an integer from ${min} to ${max}`, value);
  }
  return value;
}

function isHttpServer(value) {
  return value !== null && typeof value === 'object' && typeof value.on === 'function' &&
    typeof value.listeners === 'function' && typeof value.address === 'function';
}

/** Collects the channels of `modules` and `channels`, rejecting duplicate categories. */
function collectChannels(opts) {
  const modules = opts.modules ?? [];
  if (!Array.isArray(modules) || !modules.every((m) => m instanceof Module)) {
    throw fail('modules', 'an array of Module', modules);
  }
  const direct = opts.channels ?? [];
  if (!Array.isArray(direct)) throw fail('channels', 'an array of ServerChannel', direct);
  const all = [...modules.flatMap((m) => m.channels), ...direct];
  const byCategory = new Map();
  for (const channel of all) {
    if (channel === null || typeof channel !== 'object') {
      throw fail('channels', 'an array of ServerChannel (or { category, canAccessChannel } objects)', channel);
    }
    validateCategory(channel.category, where);
    validateAccessCheck(channel.canAccessChannel, `${where}: channel ${JSON.stringify(channel.category)}`);
    const previous = byCategory.get(channel.category);
    if (previous && previous !== channel) {
      throw typeError(
        codes.INVALID_OPTION,
        `${where}: channel category ${JSON.stringify(channel.category)} is registered twice; give each ServerChannel its own category`,
      );
    }
    byCategory.set(channel.category, channel);
  }
  return [...byCategory.values()];
}

function corsOrigins(cors) {
  if (cors === undefined) return undefined;
  if (cors === null || typeof cors !== 'object') throw fail('cors', "an object like { origin: '*' }", cors);
  const { origin } = cors;
  if (origin === undefined || origin === '*') return undefined;
  const list = typeof origin === 'string' ? [origin] : origin;
  if (!Array.isArray(list) || list.length === 0 || !list.every((o) => typeof o === 'string' && o.length > 0)) {
    throw fail('cors.origin', "'*', an origin string, or a non-empty array of origin strings", origin);
  }
  return list.includes('*') ? undefined : list;
}

function transports(value) {
  if (value === undefined) return undefined;
  const known = ['polling', 'websocket'];
  if (!Array.isArray(value) || value.length === 0 || !value.every((t) => known.includes(t))) {
    throw fail('transports', "a non-empty array of 'polling' and/or 'websocket'", value);
  }
  return value;
}

/** Validates `mongodb` / `redis` (at most one) into the native adapter options. */
function adapterOptions(opts, where = 'startWebsocketServer()') {
  const { mongodb, redis } = opts;
  const bad = (field, expected, value) =>
    typeError(codes.INVALID_OPTION, `${where}: options.${field} must be ${expected}, got ${describe(value)}`);
  if (mongodb !== undefined && redis !== undefined) {
    throw typeError(codes.INVALID_OPTION, `${where}: pass either mongodb or redis, not both`);
  }
  if (mongodb !== undefined) {
    if (mongodb === null || typeof mongodb !== 'object') throw bad('mongodb', "an object like { uri: 'mongodb://…' }", mongodb);
    if (typeof mongodb.uri !== 'string' || !/^mongodb(\+srv)?:\/\//.test(mongodb.uri)) {
      throw bad('mongodb.uri', "a connection string starting with 'mongodb://' or 'mongodb+srv://'", mongodb.uri);
    }
    for (const field of ['dbName', 'collection']) {
      if (mongodb[field] !== undefined && (typeof mongodb[field] !== 'string' || mongodb[field] === '')) {
        throw bad(`mongodb.${field}`, 'a non-empty string', mongodb[field]);
      }
    }
    for (const field of ['ttlSeconds', 'connectTimeoutMs']) {
      const value = mongodb[field];
      if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1)) {
        throw bad(`mongodb.${field}`, 'a positive integer', value);
      }
    }
    const { uri, dbName, collection, ttlSeconds, connectTimeoutMs } = mongodb;
    return { mongodb: { uri, dbName, collection, ttlSeconds, connectTimeoutMs }, redis: undefined };
  }
  if (redis !== undefined) {
    if (redis === null || typeof redis !== 'object') throw bad('redis', "an object like { url: 'redis://…' }", redis);
    if (typeof redis.url !== 'string' || !/^rediss?:\/\//.test(redis.url)) {
      throw bad('redis.url', "a URL starting with 'redis://' or 'rediss://'", redis.url);
    }
    if (redis.channel !== undefined && (typeof redis.channel !== 'string' || redis.channel === '')) {
      throw bad('redis.channel', 'a non-empty string', redis.channel);
    }
    const value = redis.connectTimeoutMs;
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1)) {
      throw bad('redis.connectTimeoutMs', 'a positive integer', value);
    }
    return { mongodb: undefined, redis: { url: redis.url, channel: redis.channel, connectTimeoutMs: value } };
  }
  return null;
}

/**
 * The limits that bound what one client (or a slow app) can make the server hold, in the
 * native options' camelCase names; `undefined` leaves the native default:
 * - `maxBufferedBytes` (default 4 MiB): a socket's send queue in bytes; a client whose queue
 *   would pass it is disconnected.
 * - `eventTimeoutMs` (default 10000): how long an `onEvent` handler may run; then no ack is
 *   sent and `onError` gets `MNW_EVENT_TIMEOUT`.
 * - `maxInflightEventsPerSocket` (default 16): app events and publishes of one socket waiting
 *   for JS; at the cap the server stops reading that socket.
 * - `maxPendingHookCalls` (default 1024): JS hook calls in flight across the server; beyond
 *   it, producers wait.
 */
function hardeningLimits(opts) {
  return {
    maxBufferedBytes: optionalInteger(opts, 'maxBufferedBytes', 1024, 2 ** 31 - 1),
    eventTimeoutMs: optionalInteger(opts, 'eventTimeoutMs', 1, 2 ** 31 - 1),
    maxInflightEventsPerSocket: optionalInteger(opts, 'maxInflightEventsPerSocket', 1, 65535),
    maxPendingHookCalls: optionalInteger(opts, 'maxPendingHookCalls', 1, 1e6),
  };
}

/**
 * Validates the options of `startWebsocketServer` up front and returns the normalized form:
 * `{ httpServer, port, host, channels, authenticate, nativeOptions }`.
 */
function normalizeOptions(opts) {
  if (opts === null || typeof opts !== 'object') {
    throw typeError(codes.INVALID_OPTION, `${where}: options must be an object, got ${describe(opts)}`);
  }
  const { httpServer, authenticate } = opts;
  if (httpServer !== undefined && !isHttpServer(httpServer)) {
    throw fail('httpServer', 'an http.Server or https.Server', httpServer);
  }
  const port = optionalInteger(opts, 'port', 0, 65535);
  if (httpServer !== undefined && (port !== undefined || opts.host !== undefined)) {
    throw typeError(
      codes.INVALID_OPTION,
      `${where}: pass either httpServer (share the app's port) or port/host (listen on its own port), not both`,
    );
  }
  if (opts.host !== undefined && (typeof opts.host !== 'string' || opts.host.length === 0)) {
    throw fail('host', 'a host name or IP address string', opts.host);
  }
  const path = opts.path ?? '/socket.io';
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw fail('path', "a URL path starting with '/' (default '/socket.io')", path);
  }
  if (authenticate !== undefined && authenticate !== null && typeof authenticate !== 'function') {
    throw fail('authenticate', 'a function (token) => AuthContext | Promise<AuthContext>', authenticate);
  }
  const channels = collectChannels(opts);
  const maxHttpBufferSize = optionalInteger(opts, 'maxHttpBufferSize', 1, 2 ** 32 - 1);
  return {
    httpServer,
    port: port ?? 0,
    host: opts.host ?? '0.0.0.0',
    path: path.replace(/\/+$/, '') || '/',
    channels,
    authenticate: authenticate ?? null,
    adapter: adapterOptions(opts),
    maxHttpBufferSize: maxHttpBufferSize ?? 1e6,
    nativeOptions: {
      path: path.replace(/\/+$/, '') || '/',
      corsOrigins: corsOrigins(opts.cors),
      channels: channels.map((c) => ({
        category: c.category,
        hasAccessCheck: typeof c.canAccessChannel === 'function',
        hasPublish: typeof c.onPublish === 'function',
      })),
      transports: transports(opts.transports),
      authTimeoutMs: optionalInteger(opts, 'authTimeoutMs', 1, 2 ** 31 - 1),
      accessCheckTimeoutMs: optionalInteger(opts, 'accessCheckTimeoutMs', 1, 2 ** 31 - 1),
      pingIntervalMs: optionalInteger(opts, 'pingInterval', 1, 2 ** 31 - 1),
      pingTimeoutMs: optionalInteger(opts, 'pingTimeout', 1, 2 ** 31 - 1),
      connectTimeoutMs: optionalInteger(opts, 'connectTimeout', 1, 2 ** 31 - 1),
      maxHttpBufferSize,
      maxBufferedPackets: optionalInteger(opts, 'maxBufferedPackets', 1, 2 ** 31 - 1),
      wsReadBufferSize: optionalInteger(opts, 'wsReadBufferSize', 64, 2 ** 24),
      maxChannelsPerSocket: optionalInteger(opts, 'maxChannelsPerSocket', 1, 2 ** 31 - 1),
      maxPendingJoinsPerSocket: optionalInteger(opts, 'maxPendingJoinsPerSocket', 1, 2 ** 31 - 1),
      maxJoinsPerSecond: optionalInteger(opts, 'maxJoinsPerSecond', 1, 2 ** 31 - 1),
      presenceTimeoutMs: optionalInteger(opts, 'presenceTimeoutMs', 1, 2 ** 31 - 1),
      heartbeatIntervalMs: optionalInteger(opts, 'heartbeatIntervalMs', 1, 2 ** 31 - 1),
      heartbeatTimeoutMs: optionalInteger(opts, 'heartbeatTimeoutMs', 1, 2 ** 31 - 1),
      ...hardeningLimits(opts),
    },
  };
}

module.exports = { normalizeOptions, adapterOptions, ServerChannel };
