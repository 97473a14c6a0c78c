'use strict';

const { codes, typeError, describe } = require('./errors');
const { ServerChannel, validateCategory, validateAccessCheck } = require('./server-channel');
const { Module } = require('./module');
const { LiveQueryRegistry } = require('./live-query-registry');

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

function isRecord(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Whether `value` is a module: this package's `Module`, or a Modelence `Module` (a named
 * object with optional `channels` (array) and `queries`/`mutations` (objects)).
 */
function isModuleLike(value) {
  if (value instanceof Module) return true;
  return (
    isRecord(value) &&
    typeof value.name === 'string' &&
    value.name.length > 0 &&
    (value.channels === undefined || Array.isArray(value.channels)) &&
    (value.queries === undefined || isRecord(value.queries)) &&
    (value.mutations === undefined || isRecord(value.mutations))
  );
}

/** `opts.modules`, validated: an array of modules (this package's or Modelence's). */
function modulesOf(opts, where = 'startWebsocketServer()') {
  const modules = opts.modules ?? [];
  if (!Array.isArray(modules) || !modules.every(isModuleLike)) {
    throw typeError(codes.INVALID_OPTION, `${where}: options.modules must be an array of Module, got ${describe(modules)}`);
  }
  return modules;
}

/**
 * The live-query options: `{ registry, maxPerSocket }`. `roles` are the role definitions of
 * Modelence's `startApp({ roles })` (`{ [role]: { permissions?: string[] } }`), against which a
 * query's `permissions` are checked; `maxLiveQueriesPerSocket` bounds one connection's
 * subscriptions (default 1000).
 */
function liveQueryOptions(opts, where = 'startWebsocketServer()') {
  const { roles = {} } = opts;
  const bad = (field, expected, value) =>
    typeError(codes.INVALID_OPTION, `${where}: options.${field} must be ${expected}, got ${describe(value)}`);
  if (!isRecord(roles) || !Object.values(roles).every((r) => isRecord(r) && (r.permissions === undefined || Array.isArray(r.permissions)))) {
    throw bad('roles', 'an object like { admin: { permissions: [...] } } (the roles given to startApp)', roles);
  }
  const maxPerSocket = opts.maxLiveQueriesPerSocket;
  if (maxPerSocket !== undefined && (!Number.isInteger(maxPerSocket) || maxPerSocket < 1 || maxPerSocket > 2 ** 31 - 1)) {
    throw bad('maxLiveQueriesPerSocket', 'an integer from 1 to 2147483647', maxPerSocket);
  }
  return { registry: new LiveQueryRegistry(modulesOf(opts, where), roles, where), maxPerSocket };
}

/** Collects the channels of `modules` and `channels`, rejecting duplicate categories. */
function collectChannels(opts) {
  const modules = modulesOf(opts);
  const direct = opts.channels ?? [];
  if (!Array.isArray(direct)) throw fail('channels', 'an array of ServerChannel', direct);
  const all = [...modules.flatMap((m) => m.channels ?? []), ...direct];
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

/** Where the metrics are served when `metrics: true` (or `{}`). */
const DEFAULT_METRICS_PATH = '/metrics';
/**
 * Connection state recovery when the app does not say: on. Measured side by side (npm run
 * bench, Aʳ): within noise on burst and paced CPU per delivery and on memory per idle
 * connection, and unchanged clients ignore the offset argument.
 */
const RECOVERY_DEFAULT = true;

/**
 * `metrics`: `true` serves the Prometheus metrics at `/metrics`, `{ path }` elsewhere;
 * `false` or absent serves no route (`server.metrics()` still works). Returns the path or null.
 * The path must lie outside the Engine.IO `path` (whose requests belong to the socket server;
 * with `path: '/'`, only `/` itself is refused).
 */
function metricsPathOf(opts, enginePath) {
  const { metrics } = opts;
  if (metrics === undefined || metrics === false) return null;
  if (metrics !== true && !isRecord(metrics)) {
    throw fail('metrics', "true, false or an object like { path: '/metrics' }", metrics);
  }
  const unknown = metrics === true ? undefined : Object.keys(metrics).find((key) => key !== 'path');
  if (unknown !== undefined) {
    throw typeError(codes.INVALID_OPTION, `${where}: options.metrics.${unknown} is not an option; metrics takes { path }`);
  }
  const path = metrics === true || metrics.path === undefined ? DEFAULT_METRICS_PATH : metrics.path;
  if (typeof path !== 'string' || !path.startsWith('/') || /[?#\s]/.test(path)) {
    throw fail('metrics.path', "a URL path starting with '/' (default '/metrics')", path);
  }
  const engineRequest = enginePath === '/' ? path === '/' : path === enginePath || path.startsWith(`${enginePath}/`);
  if (engineRequest) {
    throw fail('metrics.path', `a path outside options.path (${JSON.stringify(enginePath)})`, path);
  }
  return path;
}

/**
 * The limits that bound what one client (or a slow app) can make the server hold, in the
 * native options' camelCase names; `undefined` leaves the native default:
 * - `maxBufferedBytes` (default 4 MiB): a socket's send queue in bytes; a client whose queue
 *   would pass it is disconnected.
 * - `eventTimeoutMs` (default 10000): how long an `onEvent` handler may run; then no ack is
 *   sent and `onError` gets `MNW_EVENT_TIMEOUT`.
 * - `maxInflightEventsPerSocket` (default 16): app events and publishes of one socket waiting
 *   for JS; at the cap the server stops reading that socket (long-polling sessions, which
 *   cannot be paused, have up to `maxHttpBufferSize` bytes of events wait in line).
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
 * `connectionStateRecovery`: `false` (off), `true`/absent (on, defaults), or an object of
 * `maxDisconnectionDuration` (ms), `maxMessagesPerChannel`, `maxHistoryBytes`. Returns the
 * native options (`recoveryWindowMs` absent: off).
 */
function recoveryOf(opts) {
  const value = opts.connectionStateRecovery ?? RECOVERY_DEFAULT;
  if (value === false) return {};
  if (value === true) return { recoveryWindowMs: 120_000 };
  if (value === null || typeof value !== 'object') {
    throw fail('connectionStateRecovery', 'a boolean or an object like { maxDisconnectionDuration: 120000 }', value);
  }
  const known = ['maxDisconnectionDuration', 'maxMessagesPerChannel', 'maxHistoryBytes'];
  const unknown = Object.keys(value).find((key) => !known.includes(key));
  if (unknown !== undefined) {
    throw typeError(
      codes.INVALID_OPTION,
      `${where}: options.connectionStateRecovery.${unknown} is not an option; use ${known.join(', ')}`,
    );
  }
  const field = (name, min, max, unit) => {
    const n = value[name];
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw fail(`connectionStateRecovery.${name}`, `an integer from ${min} to ${max}${unit}`, n);
    }
    return n;
  };
  return {
    recoveryWindowMs: field('maxDisconnectionDuration', 1, 2 ** 31 - 1, ' (ms)') ?? 120_000,
    recoveryMessagesPerChannel: field('maxMessagesPerChannel', 1, 1_000_000, ''),
    recoveryHistoryBytes: field('maxHistoryBytes', 1024, 2 ** 31 - 1, ' (bytes)'),
  };
}

/**
 * Validates the options of `startWebsocketServer` up front and returns the normalized form:
 * `{ httpServer, port, host, channels, authenticate, adapter, liveQueries, metricsPath, nativeOptions }`.
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
  // The one place the path is normalized: no trailing '/' (the native side matches `path` and `path/`).
  const enginePath = path.replace(/\/+$/, '') || '/';
  const metricsPath = metricsPathOf(opts, enginePath);
  return {
    httpServer,
    port: port ?? 0,
    host: opts.host ?? '0.0.0.0',
    path: enginePath,
    channels,
    authenticate: authenticate ?? null,
    adapter: adapterOptions(opts),
    liveQueries: liveQueryOptions(opts),
    maxHttpBufferSize: maxHttpBufferSize ?? 1e6,
    metricsPath,
    nativeOptions: {
      // Attach mode: the app's server takes the metrics route (lib/attach.js); the native side never sees it.
      metricsPath: httpServer === undefined ? metricsPath ?? undefined : undefined,
      path: enginePath,
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
      ...recoveryOf(opts),
      ...hardeningLimits(opts),
    },
  };
}

module.exports = { normalizeOptions, adapterOptions, liveQueryOptions, ServerChannel };
