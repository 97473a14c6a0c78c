'use strict';

/**
 * Event names the JS layer must know, in one place. The channel protocol itself (parsing,
 * joins, replies) is handled natively; these sets only let JS refuse names up front.
 */

/** Client → server events of the channel protocol (README, "Protocol events"): `onEvent` cannot take them. */
const PROTOCOL_EVENTS = new Set(['joinChannel', 'leaveChannel', 'publish']);

/** socket.io's reserved event names: a server can neither emit nor handle them. */
const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

module.exports = { PROTOCOL_EVENTS, RESERVED_EVENTS };
