// Public types of live queries (Modelence's LiveData, method context, query definitions),
// re-exported by `index.d.ts`. Hand-written, like it.
import type { ServerChannel, ChannelLike } from './index';

/** Asks for a fetch of a live query (calls made during a fetch collapse into one more fetch). */
export type LiveQueryPublish = () => void;
/** Ends what `watch` set up; called exactly once, on unsubscribe, replacement or disconnect. */
export type LiveQueryCleanup = () => void;
/** Sets up watching: calls `publish()` whenever the data may have changed; returns the cleanup. */
export type LiveQueryWatch = (context: { publish: LiveQueryPublish }) => LiveQueryCleanup | void;

/**
 * What a live query returns: the shape of Modelence's `LiveData` (from `modelence/server`),
 * which Modelence apps keep using; any object with `fetch` and `watch` is served.
 * @example
 * new LiveData({ fetch: () => todos.find().toArray(), watch: ({ publish }) => subscribeToChanges(publish) });
 */
export declare class LiveData<T = unknown> {
  constructor(config: { fetch: () => T | Promise<T>; watch: LiveQueryWatch });
  readonly fetch: () => T | Promise<T>;
  readonly watch: LiveQueryWatch;
}

/** Modelence's method context, as a live query handler receives it. */
export type LiveQueryContext = {
  /** From `authenticate(authToken)` of this subscription. */
  session: unknown | null;
  user: unknown | null;
  roles: string[];
  /** The client's screen, as Modelence's client sends it (zeros and `pixelRatio: 1` when absent). */
  clientInfo: {
    screenWidth: number;
    screenHeight: number;
    windowWidth: number;
    windowHeight: number;
    pixelRatio: number;
    orientation: string | null;
  };
  /** Not exposed by the native server yet: both `null`. */
  connectionInfo: { ip: string | null; userAgent: string | null };
  req: null;
  res: null;
};

/** A live query handler: `(args, context)` → a `LiveData` (or a Promise of one). */
export type LiveQueryHandler = (
  args: Record<string, unknown>,
  context: LiveQueryContext,
) => { fetch: () => unknown; watch: LiveQueryWatch } | Promise<{ fetch: () => unknown; watch: LiveQueryWatch }>;

/** A `queries` entry: a handler, or `{ handler, permissions }` (checked against `roles`). */
export type QueryDefinition = LiveQueryHandler | { handler: LiveQueryHandler; permissions?: string[] };

/**
 * A Modelence `Module` (from `modelence/server`) as this package reads it: its `name`,
 * `channels` and `queries` (`mutations` only to tell a client it subscribed to one).
 */
export type ModuleLike = {
  name: string;
  channels?: (ServerChannel<any> | ChannelLike)[];
  queries?: Record<string, any>;
  mutations?: Record<string, any>;
};

/** Role definitions, as given to Modelence's `startApp({ roles })`. */
export type RoleDefinitions = Record<string, { description?: string; permissions?: string[] }>;
