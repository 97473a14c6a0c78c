'use strict';

const { debuglog } = require('node:util');

/** Debug log, printed only with `NODE_DEBUG=modelence-native-ws`. */
const debug = debuglog('modelence-native-ws');

/**
 * Returns a warn function that prints at most once per `intervalMs` and counts what it
 * swallowed, so a broken caller cannot flood the log.
 */
function rateLimitedWarn(intervalMs = 1000) {
  let last = 0;
  let suppressed = 0;
  return (message) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed += 1;
      return;
    }
    const extra = suppressed ? ` (${suppressed} similar warnings suppressed)` : '';
    last = now;
    suppressed = 0;
    console.warn(`[modelence-native-ws] ${message}${extra}`);
  };
}

module.exports = { debug, rateLimitedWarn };
