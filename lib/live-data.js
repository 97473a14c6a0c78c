'use strict';

const { codes, typeError, describe } = require('./errors');

/**
 * What a live query returns: `fetch()` gives the current data, `watch({ publish })` calls
 * `publish()` whenever it may have changed and returns a cleanup. The same shape as
 * Modelence's `LiveData` (from `modelence/server`), which a Modelence app keeps using; this
 * one is for apps without Modelence. Any object with these two functions is served.
 * @example
 * const liveTodos = new LiveData({
 *   fetch: () => todos.find({ done: false }).toArray(),
 *   watch: ({ publish }) => { const stream = todos.watch().on('change', publish); return () => stream.close(); },
 * });
 */
class LiveData {
  constructor({ fetch, watch } = {}) {
    for (const [field, value] of [
      ['fetch', fetch],
      ['watch', watch],
    ]) {
      if (typeof value !== 'function') {
        throw typeError(codes.INVALID_ARGUMENT, `new LiveData(): ${field} must be a function, got ${describe(value)}`);
      }
    }
    this.fetch = fetch;
    this.watch = watch;
  }
}

module.exports = { LiveData };
