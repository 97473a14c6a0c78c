// The figures `server.stats()` and `provider.stats()` return, and the bounded label values
// of the metrics they mirror (see the README's "Observability").

/** Outcomes of a `joinChannel`, the `result` label of `modelence_ws_joins_total`. */
export type JoinResult = 'ok' | 'denied' | 'invalid' | 'timeout' | 'rate_limited' | 'error';

/** App hooks measured by `modelence_ws_hook_duration_seconds`, the `hook` label. */
export type MeasuredHook = 'authenticate' | 'access_check' | 'on_event' | 'on_publish' | 'presence';

/** One channel category's figures in `WebsocketStats`. */
export type CategoryStats = {
  /** `joinChannel` requests by outcome. */
  joins: Record<JoinResult, number>;
  /** `leaveChannel` requests. */
  leaves: number;
  /** Broadcasts delivered on this instance. */
  broadcasts: number;
  /** Messages delivered to this instance's members (one per member per broadcast). */
  deliveries: number;
};

/** The main figures of one server since it started, from `server.stats()`. */
export type WebsocketStats = {
  /** Sockets connected now, by transport. */
  connections: { websocket: number; polling: number };
  /** Sockets connected since start. */
  connectionsTotal: number;
  /** Channels with at least one member on this instance. */
  channels: number;
  /**
   * By channel category: every registered one, and `unknown` for names whose category is not
   * registered (or not valid). Never keyed by channel id.
   */
  categories: Record<string, CategoryStats>;
  /** Bytes written to clients. */
  bytesSent: number;
  /** Bytes read from clients. */
  bytesReceived: number;
  /** Client events received (joins, leaves, publishes, app events). */
  messagesReceived: number;
  /** Clients cut off because their send queue was full. */
  slowConsumerDisconnects: number;
  /** Hook calls that did not settle in time, by hook. */
  hookTimeouts: Record<MeasuredHook, number>;
  /** Other instances heard from recently (through the adapter). */
  clusterPeers: number;
  /** CONNECTs that asked to recover a session, by result (connection state recovery). */
  recoveries: Record<'recovered' | 'expired' | 'gap', number>;
  /** Broadcasts replayed to recovered sessions. */
  replayed: number;
  /** Broadcasts kept for connection state recovery now, and their bytes (data plus ~96 each). */
  history: { messages: number; bytes: number };
  /** The adapter's health: its connections work; messages waiting to be published. */
  adapter: { up: boolean; queued: number };
};
