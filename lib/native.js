'use strict';

const { codes, runtimeError } = require('./errors');

/** Loads the generated napi binding, with an error that says what to do when it is missing. */
function loadNative() {
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
