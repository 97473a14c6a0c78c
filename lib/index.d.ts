// Public types of modelence-native-ws. Hand-written: the generated `../index.d.ts` describes
// only the internal native binding.
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { QueryDefinition, ModuleLike, RoleDefinitions } from './live-query-types';
import type { WebsocketStats } from './stats-types';
export type { JoinResult, MeasuredHook, CategoryStats, WebsocketStats } from './stats-types';

export { LiveData } from './live-query-types';
export type {
  LiveQueryPublish,
  LiveQueryCleanup,
  LiveQueryWatch,
  LiveQueryContext,
  LiveQueryHandler,
  QueryDefinition,
  ModuleLike,
  RoleDefinitions,
} from './live-query-types';

/** What `authenticate` resolves to, kept for the life of the connection. */
export type AuthContext = {
  /** The signed-in user, or null for anonymous visitors. */
  user: unknown | null;
  /** The session, or null. */
  session: unknown | null;
  /** The user's roles, e.g. `['admin']`. */
  roles: string[];
};

/** What an access check receives: the auth context plus the channel being joined. */
export type AccessCheckContext = AuthContext & {
  /** The id part of the channel, e.g. `room123` for `chat:room123`. */
  channelId: string;
  /** The full channel name, e.g. `chat:room123`. */
  channel: string;
};

/** Decides whether a connection may join a channel. A throw, rejection or timeout denies. */
export type CanAccessChannel = (ctx: AccessCheckContext) => boolean | Promise<boolean>;

/** Turns a session token (null for anonymous visitors) into an auth context; throw to refuse. */
export type Authenticate = (token: string | null) => AuthContext | Promise<AuthContext>;

/**
 * A server-side channel category. Clients join `category:id`.
 * @example
 * const chat = new ServerChannel<{ text: string }>('chat', ({ user }) => user !== null);
 * chat.broadcast('room123', { text: 'hello' });
 */
export declare class ServerChannel<T = unknown> {
  constructor(category: string, canAccessChannel?: CanAccessChannel | null, options?: ServerChannelOptions<T>);
  /** The category, the part of a channel name before the first `:`. */
  readonly category: string;
  /** The access check, or null when anyone may join. */
  readonly canAccessChannel: CanAccessChannel | null;
  /** The publish hook, or null when clients may not publish. */
  readonly onPublish: OnPublish<T> | null;
  /**
   * Everyone in `<category>:<id>`, on every instance of the cluster (those that answer
   * within `presenceTimeoutMs`).
   * @example
   * const online = await chat.members('room123'); // [{ socketId, user }]
   */
  members(id: string): Promise<ChannelMember[]>;
  /**
   * How many sockets are in `<category>:<id>`.
   * @example
   * const n = await chat.count('room123');
   */
  count(id: string): Promise<number>;
  /**
   * Sends `data` (serialized once, as JSON) as event `<category>` to every member of
   * `<category>:<id>` on every running server that registered this channel.
   * @throws TypeError (`MNW_INVALID_ARGUMENT`, `MNW_UNSERIALIZABLE_DATA`) for bad arguments;
   *   Error (`MNW_CHANNEL_NOT_REGISTERED`) when no running server registered this channel.
   * @example
   * chat.broadcast('room123', { text: 'hello' });
   */
  broadcast(id: string, data: T): void;
}

/**
 * Decides what a client's `publish` to `<category>:<id>` broadcasts: return the (possibly
 * transformed) data, or throw to reject (the client gets `publishError` with the message).
 */
export type OnPublish<T> = (ctx: AccessCheckContext, id: string, data: unknown) => T | Promise<T>;

/** Options of a `ServerChannel`. */
export interface ServerChannelOptions<T> {
  /** Lets members publish to the channel (opt-in). */
  onPublish?: OnPublish<T> | null;
}

/** One socket in a channel. */
export type ChannelMember = { socketId: string; user: unknown | null };

/**
 * One client connection on the server. Once the client is gone, `emit`, `join`, `leave`
 * and `disconnect` return `false`, and `emitWithAck`/`emitWithAckArgs` reject with
 * `MNW_SOCKET_GONE`.
 */
export declare class SocketHandle {
  /** The socket id (the same as the client's `socket.id`). */
  readonly id: string;
  /** Where the connection comes from (the direct peer's IP; `null` when unknown). */
  readonly connectionInfo: { readonly ip: string | null; readonly userAgent: string | null };
  /** The connection's auth context. */
  readonly auth: AuthContext;
  /** Whether the connection is open. */
  readonly connected: boolean;
  /** The channels this socket is in. */
  readonly channels: string[];
  /**
   * Sends `event` to this client. Arguments are JSON values or Buffers.
   * @example
   * socket.emit('liveQueryData', { queryId, rows });
   */
  emit(event: string, ...args: unknown[]): boolean;
  /**
   * Sends `event` and resolves with the client's acknowledgement (its first argument). A last
   * argument of exactly `{ timeoutMs }` sets the wait (default 10000); rejects with
   * `MNW_ACK_TIMEOUT`.
   * @example
   * const ok = await socket.emitWithAck('confirm', order, { timeoutMs: 2000 });
   */
  emitWithAck<R = unknown>(event: string, ...args: unknown[]): Promise<R>;
  /**
   * Like `emitWithAck`, but resolves with every argument the client acknowledged with, as an
   * array (`[]` for `callback()`).
   * @example
   * // client: socket.on('confirm', (order, callback) => callback(null, { ok: true }));
   * const [error, result] = await socket.emitWithAckArgs<[string | null, { ok: boolean }]>('confirm', order);
   */
  emitWithAckArgs<R extends unknown[] = unknown[]>(event: string, ...args: unknown[]): Promise<R>;
  /**
   * Adds the socket to a channel. Server-side joins skip the channel's access check.
   * @example
   * socket.join(`notifications:${userId}`);
   */
  join(channel: string): boolean;
  /** Removes the socket from a channel. */
  leave(channel: string): boolean;
  /** Disconnects the client. */
  disconnect(): boolean;
}

/** Several acknowledgement arguments, made by `ackArgs(...)`. */
export interface AckArgs<A extends unknown[] = unknown[]> {
  /** The acknowledgement's arguments, in order. */
  readonly values: Readonly<A>;
}

/**
 * Marks `values` as the several arguments of an `onEvent` handler's acknowledgement: the
 * client's callback receives them as separate arguments, as with socket.io's
 * `callback(a, b)`. A plain return value stays one argument (an array included).
 * @example
 * server.onEvent('lookup', async (socket, id) => {
 *   const row = await db.find(id);
 *   return row ? ackArgs(null, row) : ackArgs('not found'); // client: (error, row) => …
 * });
 */
export declare function ackArgs<A extends unknown[]>(...values: A): AckArgs<A>;

/** Handlers for socket-level events, on a server or a provider. */
export interface SocketEventHandlers<Self> {
  /**
   * Calls `handler(socket)` for each new (authenticated) connection.
   * @example
   * server.onConnection((socket) => console.log(socket.id, socket.auth.user));
   */
  onConnection(handler: (socket: SocketHandle) => void | Promise<void>): Self;
  /** Calls `handler(socket, reason)` when a connection ends (socket.io's reason names). */
  onDisconnect(handler: (socket: SocketHandle, reason: string) => void | Promise<void>): Self;
  /**
   * Handles client event `event`; the return value (or resolved value) is the ack's one
   * argument, or its several arguments when it is `ackArgs(...)`.
   * @example
   * server.onEvent('subscribeLiveQuery', (socket, { queryId }) => ({ ok: true }));
   * server.onEvent('lookup', (socket, id) => ackArgs(null, rows.get(id))); // callback(null, row)
   */
  onEvent(event: string, handler: (socket: SocketHandle, ...args: any[]) => unknown): Self;
  /**
   * Receives errors thrown by handlers, and `MNW_EVENT_TIMEOUT` errors for `onEvent` handlers
   * that did not settle within `eventTimeoutMs` (default: a log line).
   */
  onError(handler: (error: unknown, context: { socket?: SocketHandle; event?: string }) => void): Self;
}

/**
 * A named group of channels and live queries, as in a Modelence module. Query `key` is served
 * as `<name>.<key>`.
 * @example
 * const chatModule = new Module('chat', { channels: [chat], queries: { recent: () => new LiveData({ fetch, watch }) } });
 */
export declare class Module {
  constructor(name: string, opts?: { channels?: ServerChannel<any>[]; queries?: Record<string, QueryDefinition> });
  readonly name: string;
  readonly channels: readonly ServerChannel<any>[];
  readonly queries: Readonly<Record<string, QueryDefinition>>;
}

/** A channel as Modelence passes it to a provider: a plain object. */
export type ChannelLike = {
  category: string;
  canAccessChannel?: CanAccessChannel | Function | null;
  onPublish?: OnPublish<unknown> | null;
};

/** Options shared by `startWebsocketServer` and `createWebsocketProvider`. */
export interface CommonOptions {
  /**
   * Share channels with other instances through MongoDB (a replica set): `uri`, then
   * `dbName` (the URI's, else 'modelence'), `collection` ('_modelenceSocketio'), `ttlSeconds`
   * (3600), `connectTimeoutMs` (10000).
   */
  mongodb?: { uri: string; dbName?: string; collection?: string; ttlSeconds?: number; connectTimeoutMs?: number };
  /** Share channels through Redis pub/sub instead. */
  redis?: { url: string; channel?: string; connectTimeoutMs?: number };
  /** Role definitions (Modelence's `startApp({ roles })`) that a query's `permissions` are checked against. */
  roles?: RoleDefinitions;
  /** Live-query subscriptions one connection may hold; beyond it, `liveQueryError`. Default 1000. */
  maxLiveQueriesPerSocket?: number;
  /** Turns the handshake's `auth.token` into an auth context. Default: everyone anonymous. */
  authenticate?: Authenticate | null;
  /** Allowed origins. Default `{ origin: '*' }`. */
  cors?: { origin: string | string[] };
  /** Engine.IO path. Default `'/socket.io'`. */
  path?: string;
  /** Milliseconds `authenticate` may take before the connection is refused. Default 10000. */
  authTimeoutMs?: number;
  /** Milliseconds an access check may take before the join is denied. Default 5000. */
  accessCheckTimeoutMs?: number;
  /** Engine.IO ping interval in ms. Default 25000. */
  pingInterval?: number;
  /** Engine.IO ping timeout in ms. Default 20000. */
  pingTimeout?: number;
  /** Milliseconds a client may take to connect after the handshake. Default 45000. */
  connectTimeout?: number;
  /** Largest packet or polling body in bytes; larger ones close that connection. Default 1e6. */
  maxHttpBufferSize?: number;
  /** Packets one socket's send queue holds; a client that lets it fill is disconnected. Default 4096. */
  maxBufferedPackets?: number;
  /**
   * Bytes one socket's send queue holds (1024 to 2^31-1); a client whose queue would pass it is
   * disconnected. Default 4194304 (4 MiB).
   */
  maxBufferedBytes?: number;
  /**
   * Milliseconds an `onEvent` handler may run; then no ack is sent and `onError` gets an error
   * with code `MNW_EVENT_TIMEOUT`. Default 10000.
   */
  eventTimeoutMs?: number;
  /**
   * App events and publishes of one socket waiting for JS at once (1 to 65535); at the cap the
   * server stops reading that socket. Default 16.
   */
  maxInflightEventsPerSocket?: number;
  /** JS hook calls in flight across the server (1 to 1e6); beyond it, callers wait. Default 1024. */
  maxPendingHookCalls?: number;
  /**
   * Connection state recovery of native websocket sessions (README "Connection state recovery"):
   * `false` turns it off; an object sets its window (ms, default 120000) and the history's bounds
   * (per channel, default 1000; bytes in all, default 16 MiB). Default on.
   */
  connectionStateRecovery?:
    | boolean
    | { maxDisconnectionDuration?: number; maxMessagesPerChannel?: number; maxHistoryBytes?: number };
  /**
   * Initial websocket read buffer per connection, in bytes (64 to 16 MiB); it grows for larger
   * messages. Smaller saves memory per idle socket, larger reads big uploads in fewer calls. Default 1024.
   */
  wsReadBufferSize?: number;
  /** Channels one socket may be in. Default 1000. */
  maxChannelsPerSocket?: number;
  /** Joins one socket may have waiting on access checks. Default 32. */
  maxPendingJoinsPerSocket?: number;
  /** Joins per second one socket may make (bursts of twice that); excess gets `joinError`. Default 100. */
  maxJoinsPerSecond?: number;
  /** Allowed transports. Default `['polling', 'websocket']`. */
  transports?: ('polling' | 'websocket')[];
  /** Milliseconds `members`/`count` wait for the other instances. Default 5000. */
  presenceTimeoutMs?: number;
  /** Milliseconds between this instance's liveness signals to the others. Default 5000. */
  heartbeatIntervalMs?: number;
  /** Milliseconds of silence after which another instance counts as gone. Default 10000. */
  heartbeatTimeoutMs?: number;
  /**
   * Serves the Prometheus metrics on the server's own port: `true` at `GET /metrics`,
   * `{ path }` elsewhere (outside `path`). They reveal traffic: see the README's
   * "Observability" on keeping them private. Default `false` (no route; `server.metrics()`
   * still works).
   * @example
   * await startWebsocketServer({ httpServer, modules, metrics: { path: '/internal/metrics' } });
   */
  metrics?: boolean | MetricsOptions;
}

/** Where the metrics route is served. */
export interface MetricsOptions {
  /** The route's path, starting with '/'. Default `'/metrics'`. */
  path?: string;
}

/** Options of `startWebsocketServer`. Pass `httpServer` (attach mode) or `port` (standalone). */
export interface WebsocketServerOptions extends CommonOptions {
  /** Share the app's HTTP server and port (attach mode). */
  httpServer?: HttpServer | HttpsServer;
  /** Listen on this port instead (standalone mode); 0 picks a free port. Default 0. */
  port?: number;
  /** Host to listen on in standalone mode. Default `'0.0.0.0'`. */
  host?: string;
  /** Modules whose channels are registered and whose `queries` are served as live queries. */
  modules?: (Module | ModuleLike)[];
  /** Channels registered directly. */
  channels?: (ServerChannel<any> | ChannelLike)[];
}

/** A running server. */
export declare class WebsocketServer implements SocketEventHandlers<WebsocketServer> {
  onConnection(handler: (socket: SocketHandle) => void | Promise<void>): this;
  onDisconnect(handler: (socket: SocketHandle, reason: string) => void | Promise<void>): this;
  onEvent(event: string, handler: (socket: SocketHandle, ...args: any[]) => unknown): this;
  onError(handler: (error: unknown, context: { socket?: SocketHandle; event?: string }) => void): this;
  /** The port clients connect to (attach mode: the app server's, 0 until it listens). */
  readonly port: number;
  /** Whether `close()` was called. */
  readonly closed: boolean;
  /**
   * Sends `data` as event `category` to every member of `category:id` on this server.
   * @example
   * server.broadcast('chat', 'room123', { text: 'hello' });
   */
  broadcast(category: string, id: string, data: unknown): void;
  /**
   * The metrics in the Prometheus text format (version 0.0.4), whether or not `metrics` is on:
   * serve them yourself on an internal port or behind auth. Rejects with `MNW_SERVER_CLOSED`
   * after `close()`.
   * @example
   * http.createServer(async (req, res) => {
   *   res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
   *   res.end(await server.metrics());
   * }).listen(9464, '127.0.0.1');
   */
  metrics(): Promise<string>;
  /**
   * The main figures as a plain object. Rejects with `MNW_SERVER_CLOSED` after `close()`.
   * @example
   * const { connections, categories } = await server.stats();
   * console.log(connections.websocket, categories.chat?.deliveries);
   */
  stats(): Promise<WebsocketStats>;
  /**
   * Stops accepting, disconnects every client, releases the port; the process can then exit.
   * Idempotent.
   * @example
   * await server.close();
   */
  close(): Promise<void>;
}

/**
 * Starts the native Socket.IO server.
 * @example
 * const server = await startWebsocketServer({ httpServer, modules: [chatModule], authenticate });
 */
export declare function startWebsocketServer(opts?: WebsocketServerOptions): Promise<WebsocketServer>;

/** Modelence's `WebsocketServerProvider`, plus `close()` and the socket event handlers. */
export interface WebsocketProvider extends SocketEventHandlers<void> {
  init(props: { httpServer: HttpServer | HttpsServer; channels: ChannelLike[] }): Promise<void>;
  broadcast<T>(props: { category: string; id: string; data: T }): void;
  /** The running server's Prometheus metrics text (rejects before `init` finished). */
  metrics(): Promise<string>;
  /** The running server's main figures (rejects before `init` finished). */
  stats(): Promise<WebsocketStats>;
  close(): Promise<void>;
}

/** Options of `createWebsocketProvider`: the server's (Modelence's `init` supplies the rest) and these. */
export interface WebsocketProviderOptions extends CommonOptions {
  /** The app's modules, the same array as `startApp({ modules })`: their `queries` are served as live queries. */
  modules?: (Module | ModuleLike)[];
  /** Where the app's `modelence/server` is resolved from. Default `process.cwd()`. */
  appRoot?: string;
  /** `false`: do not look up the app's Modelence (no zero-config `authenticate` or multi-instance). */
  modelence?: false;
  /** `false`: do not serve `subscribeLiveQuery`/`unsubscribeLiveQuery` (handle them with `onEvent`). Default true. */
  liveQueries?: boolean;
}

/**
 * A drop-in provider for Modelence's `startApp({ websocket: { provider } })`. Without
 * `authenticate`, `mongodb` or `redis`, it takes them from the app's Modelence at `init`.
 * @example
 * startApp({ modules, websocket: { provider: createWebsocketProvider({ modules }) } });
 */
export declare function createWebsocketProvider(opts?: WebsocketProviderOptions): WebsocketProvider;

/** The `code` of every error this package throws. */
export declare const errorCodes: Readonly<{
  INVALID_ARGUMENT: 'MNW_INVALID_ARGUMENT';
  INVALID_OPTION: 'MNW_INVALID_OPTION';
  UNSERIALIZABLE_DATA: 'MNW_UNSERIALIZABLE_DATA';
  CHANNEL_NOT_REGISTERED: 'MNW_CHANNEL_NOT_REGISTERED';
  SERVER_CLOSED: 'MNW_SERVER_CLOSED';
  START_FAILED: 'MNW_START_FAILED';
  NATIVE_BINDING_MISSING: 'MNW_NATIVE_BINDING_MISSING';
  SOCKET_GONE: 'MNW_SOCKET_GONE';
  ACK_TIMEOUT: 'MNW_ACK_TIMEOUT';
  EVENT_TIMEOUT: 'MNW_EVENT_TIMEOUT';
}>;
