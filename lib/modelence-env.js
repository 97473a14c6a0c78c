'use strict';

const { createRequire } = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

/**
 * Zero-config parity with Modelence's own provider: what the app's Modelence says about
 * authentication and multi-instance, used when the provider's options do not say otherwise.
 */

/** Modelence's config keys (its system module's `multiInstance` and `mongodbUri`). */
const MULTI_INSTANCE_KEY = '_system.multiInstance';
const MONGODB_URI_KEY = '_system.mongodbUri';

/**
 * Imports the app's `modelence/server`, resolved from `appRoot` (default: `process.cwd()`,
 * where `modelence dev` and `modelence start` run the app) and not from this package, so the
 * provider shares the app's module instance: its loaded config, database and sessions.
 * Resolves to `{ module, file }`, or `{ module: null, reason }` when the app has no Modelence.
 */
async function loadModelence(appRoot = process.cwd()) {
  const root = path.resolve(appRoot);
  let file;
  try {
    file = createRequire(path.join(root, 'package.json')).resolve('modelence/server');
  } catch (error) {
    if (error.code !== 'MODULE_NOT_FOUND' && error.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error;
    return { module: null, reason: `modelence/server not found from ${root}` };
  }
  return { module: await import(pathToFileURL(file).href), file };
}

/** Where the connections' `authenticate` comes from: `{ authenticate, source }`. */
function chooseAuthenticate(opts, modelence) {
  if (opts.authenticate !== undefined) {
    return opts.authenticate === null
      ? { authenticate: null, source: 'none (options.authenticate is null): every connection is anonymous' }
      : { authenticate: opts.authenticate, source: 'options.authenticate' };
  }
  if (typeof modelence.module?.authenticate === 'function') {
    return {
      authenticate: modelence.module.authenticate,
      source: `authenticate from modelence/server (${modelence.file})`,
    };
  }
  const why = modelence.module ? 'modelence/server exports no authenticate' : modelence.reason;
  return { authenticate: null, source: `none (${why}): every connection is anonymous` };
}

/**
 * The adapter options: `{ mongodb, redis, source }`. Explicit `mongodb`/`redis` win; else
 * MongoDB at Modelence's `_system.mongodbUri` when its `_system.multiInstance` (env
 * `MODELENCE_MULTI_INSTANCE`) is on, as Modelence's own provider does.
 */
function chooseAdapter(opts, modelence) {
  if (opts.mongodb !== undefined) return { mongodb: opts.mongodb, source: 'MongoDB (options.mongodb)' };
  if (opts.redis !== undefined) return { redis: opts.redis, source: 'Redis (options.redis)' };
  const getConfig = modelence.module?.getConfig;
  if (typeof getConfig !== 'function') return { source: 'off (single instance)' };
  if (!getConfig(MULTI_INSTANCE_KEY))
    return { source: `off (single instance: Modelence's ${MULTI_INSTANCE_KEY} is off)` };
  const uri = getConfig(MONGODB_URI_KEY);
  if (typeof uri !== 'string' || uri === '') {
    return { source: `off (Modelence's ${MULTI_INSTANCE_KEY} is on, but ${MONGODB_URI_KEY} (MONGODB_URI) is empty)` };
  }
  return { mongodb: { uri }, source: `MongoDB from Modelence's config (${MULTI_INSTANCE_KEY}, ${MONGODB_URI_KEY})` };
}

/**
 * Resolves what the provider's options leave to Modelence: `{ authenticate, mongodb, redis,
 * summary }`, `summary` being the start-up log line's sources. `opts.modelence === false`
 * skips the lookup; `opts.appRoot` says where the app is.
 * @example
 * const env = await modelenceEnvironment({ appRoot: '/srv/app' });
 */
async function modelenceEnvironment(opts) {
  const modelence =
    opts.modelence === false
      ? { module: null, reason: 'options.modelence is false' }
      : await loadModelence(opts.appRoot);
  const auth = chooseAuthenticate(opts, modelence);
  const adapter = chooseAdapter(opts, modelence);
  return {
    authenticate: auth.authenticate,
    mongodb: adapter.mongodb,
    redis: adapter.redis,
    summary: `auth: ${auth.source}; multi-instance: ${adapter.source}`,
  };
}

module.exports = { modelenceEnvironment, loadModelence };
