'use strict';

/**
 * Event names the JS layer must know, in one place. The channel protocol itself (parsing,
 * joins, replies) is handled natively; these sets only let JS refuse names up front.
 */

/** Client → server events of the channel protocol (README, "Protocol events"): `onEvent` cannot take them. */
const PROTOCOL_EVENTS = new Set(['joinChannel', 'leaveChannel', 'publish']);

/** socket.io's reserved event names: a server can neither emit nor handle them. */
const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

/** Modelence's live-query events (PROTOCOL.md, "Live queries"), served by `live-queries.js`. */
const SUBSCRIBE_LIVE_QUERY = 'subscribeLiveQuery';
const UNSUBSCRIBE_LIVE_QUERY = 'unsubscribeLiveQuery';
const LIVE_QUERY_DATA = 'liveQueryData';
const LIVE_QUERY_ERROR = 'liveQueryError';

module.exports = {
  PROTOCOL_EVENTS,
  RESERVED_EVENTS,
  SUBSCRIBE_LIVE_QUERY,
  UNSUBSCRIBE_LIVE_QUERY,
  LIVE_QUERY_DATA,
  LIVE_QUERY_ERROR,
};
