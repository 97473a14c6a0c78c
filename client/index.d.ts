/**
 * `modelence-native-ws/client`: the browser side of Modelence channels, built on
 * `socket.io-client`. Joined channels are joined again after every reconnect, and a
 * refused join reaches the channel's `onError`.
 *
 * @example
 * import { ClientChannel, startWebsockets } from 'modelence-native-ws/client';
 *
 * const chat = new ClientChannel<{ name: string; text: string }>('chat', (m) => render(m.name, m.text));
 * startWebsockets({ token: () => localStorage.getItem('token'), channels: [chat] });
 * chat.joinChannel('general');
 */
import type { Socket } from 'socket.io-client';

/** The server's `joinError` payload: the channel name (`category:id`) and the reason. */
export interface ChannelError {
  /** The refused channel, e.g. `chat:admins`. */
  channel: string;
  /** The reason, e.g. `Access denied`. */
  error: string;
}

/** Options of a `ClientChannel`. */
export interface ClientChannelOptions {
  /**
   * Called when the server refuses a join of this channel. The refused id is forgotten
   * (it is not joined again after a reconnect).
   * @example
   * { onError: ({ channel, error }) => console.warn(channel, error) }
   */
  onError?: (err: ChannelError) => void;
}

/**
 * A channel category the browser listens to; `T` is the payload type the server broadcasts.
 *
 * The server sends only the category and the data, not the id: `onMessage` receives the
 * joined id when exactly one id of this category is joined, and `undefined` when several are
 * (put the id in the payload then).
 *
 * @example
 * const chat = new ClientChannel<{ text: string }>('chat', (m) => console.log(m.text), {
 *   onError: ({ error }) => alert(error),
 * });
 */
export declare class ClientChannel<T = unknown> {
  /**
   * @param category The category, as registered on the server (no `:`).
   * @param onMessage Called with every message broadcast to a joined `category:id`.
   * @example
   * new ClientChannel<{ title: string }>('notifications', (n) => toast(n.title));
   */
  constructor(category: string, onMessage: (data: T, id: string | undefined) => void, opts?: ClientChannelOptions);
  /**
   * The category, e.g. `chat`.
   * @example
   * chat.category; // 'chat'
   */
  readonly category: string;
  /**
   * Joins `category:id`; queued until connected, and joined again after every reconnect.
   * @example
   * chat.joinChannel('general');
   */
  joinChannel(id: string): void;
  /**
   * Leaves `category:id`: no more messages, no re-join after a reconnect.
   * @example
   * chat.leaveChannel('general');
   */
  leaveChannel(id: string): void;
}

/** Options of `startWebsockets`. */
export interface StartWebsocketsOptions {
  /** Server URL. Default: the page's own origin. */
  url?: string;
  /**
   * Session token, sent as the CONNECT auth `{ token }`. A function is called on every
   * (re)connect. Default `null` (anonymous).
   */
  token?: string | null | (() => string | null);
  /** Every channel the page will join. */
  channels: ClientChannel<any>[];
  /** Engine.IO path. Default `/socket.io`. */
  path?: string;
  /** Default `['websocket']`, as Modelence's client; `['polling', 'websocket']` for long-polling first. */
  transports?: string[];
}

/**
 * Connects and routes each channel's messages to it; calling it again stops the previous
 * connection first. Returns the socket.io-client socket.
 * @example
 * const socket = startWebsockets({ token: session.token, channels: [chat] });
 * socket.on('connect_error', (err) => console.warn(err.message));
 */
export declare function startWebsockets(opts: StartWebsocketsOptions): Socket;

/**
 * Disconnects and forgets every joined channel.
 * @example
 * stopWebsockets();
 */
export declare function stopWebsockets(): void;

/**
 * The running client's socket, or `null` before `startWebsockets`.
 * @example
 * getSocket()?.on('disconnect', (reason) => console.log(reason));
 */
export declare function getSocket(): Socket | null;
