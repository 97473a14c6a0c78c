'use strict';

const { codes, runtimeError } = require('./errors');

/**
 * The native side allocates with mimalloc. Return freed memory soon and commit arenas
 * lazily: measured when it was introduced (socketioxide sessions), this cut idle memory per
 * connection by about a fifth with the same throughput. Read by mimalloc when the addon first
 * needs them, so set them before loading it; values the user set win.
 */
function tuneAllocator() {
  process.env.MIMALLOC_PURGE_DELAY ??= '100';
  process.env.MIMALLOC_ARENA_EAGER_COMMIT ??= '0';
}

/** Loads the generated napi binding, with an error that says what to do when it is missing. */
function loadNative() {
  tuneAllocator();
  try {
    return require('../index.js');
  } catch (cause) {
    const platform = `${process.platform}-${process.arch}`;
    throw runtimeError(
      codes.NATIVE_BINDING_MISSING,
      `modelence-native-ws has no prebuilt binary for ${platform} (or it failed to load). ` +
        'Build it from source: install Rust (https://rustup.rs), then run `npm run build` in the ' +
        'package directory. Original error: ' + (cause && cause.message),
      cause,
    );
  }
}

module.exports = loadNative();
