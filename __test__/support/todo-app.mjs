// A todo app for the live-query tests: a `todo` module built with the `modelence` test
// stand-in's Module and LiveData, served by createWebsocketProvider({ modules }), with a
// data source the tests drive and a connected client speaking Modelence's messages.
import { createWebsocketProvider } from '../../lib/index.js';
import { connect } from './helpers.mjs';
import { createApp, startApp, liveClient, captureConsole } from './modelence-app.mjs';

/**
 * A data source the tests drive: `set(value)` changes it and publishes to every watcher;
 * counts watch and cleanup calls per watcher, fetches, and the most fetches at once.
 */
export function createSource(initial) {
  const source = { value: initial, watches: 0, cleanups: [], fetches: 0, running: 0, maxRunning: 0, gate: null };
  const publishers = new Set();
  source.set = (value) => {
    source.value = value;
    for (const publish of publishers) publish();
  };
  source.liveData = (LiveDataClass, transform = (v) => v) =>
    new LiveDataClass({
      fetch: async () => {
        source.fetches += 1;
        source.running += 1;
        source.maxRunning = Math.max(source.maxRunning, source.running);
        const value = source.value;
        try {
          if (source.gate) await source.gate;
          return transform(value);
        } finally {
          source.running -= 1;
        }
      },
      watch: ({ publish }) => {
        const index = source.watches++;
        source.cleanups[index] = 0;
        publishers.add(publish);
        return () => {
          source.cleanups[index] += 1;
          publishers.delete(publish);
        };
      },
    });
  return source;
}

/** A gate: `hold()` makes fetches wait until `release()`. */
export function gate(source) {
  let release;
  source.gate = new Promise((r) => (release = r));
  return () => {
    source.gate = null;
    release();
  };
}

/** Starts a provider for an app with a `todo` module built from the stand-in; returns what tests use. */
export async function todoApp(t, { queries = {}, providerOptions = {} } = {}) {
  const { root, modelence } = await createApp(t);
  const source = createSource(['first']);
  const todo = new modelence.Module('todo', {
    queries: {
      getAll: (args) => source.liveData(modelence.LiveData, (items) => ({ items, args })),
      ...queries,
    },
    mutations: { add: () => {} },
  });
  const provider = createWebsocketProvider({ modules: [todo], appRoot: root, ...providerOptions });
  const logs = captureConsole(t, ['info', 'warn']);
  const url = await startApp(t, provider);
  const socket = await connect(t, url);
  return { source, modelence, socket, live: liveClient(socket), url, provider, logs };
}
