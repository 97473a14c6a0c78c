'use strict';

const { encodeResult } = require('./live-query-result');
const { LIVE_QUERY_DATA, LIVE_QUERY_ERROR } = require('./protocol');

/** The message a client gets for `error` (Modelence sends the error's message). */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

/**
 * One client's subscription to one live query. Its `LiveData`'s `watch({ publish })` runs
 * once; every `publish()` asks for a fetch. Fetches run one at a time, and publishes made
 * during a fetch collapse into one more fetch after it, so the client never gets an older
 * result after a newer one. Once closed, the watch's cleanup has run (exactly once) and
 * nothing more is sent.
 */
class LiveSubscription {
  #socket;
  #id;
  #method;
  #log;
  #liveData = null;
  #cleanup = null;
  #closed = false;
  #started = false;
  #pending = true;
  #fetching = false;

  /** `log(message, error)` reports what cannot reach the client (a throwing cleanup). */
  constructor(socket, subscriptionId, method, log) {
    this.#socket = socket;
    this.#id = subscriptionId;
    this.#method = method;
    this.#log = log;
  }

  /** Whether the subscription has ended (unsubscribed, replaced, disconnected or failed). */
  get closed() {
    return this.#closed;
  }

  /**
   * Starts watching `liveData`, then runs the first fetch. A subscription closed before this
   * never calls `watch`. A throwing `watch` throws here (the caller reports it).
   */
  start(liveData) {
    if (this.#closed) return;
    this.#liveData = liveData;
    const cleanup = liveData.watch({ publish: () => this.#publish() });
    if (typeof cleanup === 'function') this.#cleanup = cleanup;
    // Closed while `watch` ran (it may call back into the app): undo it now.
    if (this.#closed) this.#runCleanup();
    this.#started = true;
    this.#pump();
  }

  /** Ends the subscription: runs the watch's cleanup once; errors are logged, never thrown. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#runCleanup();
  }

  #runCleanup() {
    const cleanup = this.#cleanup;
    this.#cleanup = null;
    if (!cleanup) return;
    try {
      cleanup();
    } catch (error) {
      this.#log(`live query ${this.#method}: its watch cleanup threw (ignored)`, error);
    }
  }

  #publish() {
    if (this.#closed) return;
    this.#pending = true;
    if (this.#started) this.#pump();
  }

  #pump() {
    if (this.#closed || this.#fetching || !this.#pending) return;
    this.#pending = false;
    this.#fetching = true;
    void this.#fetchAndSend().then(() => {
      this.#fetching = false;
      this.#pump();
    });
  }

  /** Fetches and sends one result (or the error); never rejects. */
  async #fetchAndSend() {
    try {
      const result = await this.#liveData.fetch();
      if (this.#closed) return;
      const { data, typeMap } = encodeResult(result);
      this.#socket.emit(LIVE_QUERY_DATA, { subscriptionId: this.#id, data, typeMap });
    } catch (error) {
      if (this.#closed) return;
      this.#log(`live query ${this.#method}: fetch failed`, error);
      this.#socket.emit(LIVE_QUERY_ERROR, { subscriptionId: this.#id, error: messageOf(error) });
    }
  }
}

module.exports = { LiveSubscription, messageOf };
