'use strict';

const { debug } = require('./log');
const native = require('./native');

const FIELDS = native.HOOK_CALL_FIELDS;

/**
 * The function the native side hands every hook call to, in batches, in the order it made
 * them: `HOOK_CALL_FIELDS` arguments per call (kind, call id, sid, then the call's
 * arguments; see the `HOOK_*` kinds in `index.d.ts`). Each call goes to the
 * dispatcher that owns its hook: `contexts` (authenticate, access checks, publishes) or
 * `events` (socket notices and client events). Dispatchers answer by call id themselves.
 */
function hookCallDispatcher(contexts, events) {
  const dispatch = (batch, at) => {
    const callId = batch[at + 1];
    const sid = batch[at + 2];
    switch (batch[at]) {
      case native.HOOK_AUTHENTICATE:
        return contexts.authenticateCall(callId, sid, batch[at + 3]);
      case native.HOOK_CHECK_ACCESS:
        return contexts.checkAccessCall(callId, sid, batch[at + 3], batch[at + 4]);
      case native.HOOK_SOCKET_NOTICE:
        return events.socketNotice(batch[at + 3], sid, batch[at + 4]);
      case native.HOOK_EVENT:
        return events.eventCall(callId, sid, batch[at + 3], batch[at + 4], batch[at + 5]);
      case native.HOOK_PUBLISH:
        return contexts.publishCall(callId, sid, batch[at + 3], batch[at + 4], batch[at + 5]);
      default:
        return debug('unknown hook call kind %s', batch[at]);
    }
  };
  return (...batch) => {
    for (let at = 0; at < batch.length; at += FIELDS) {
      // One call's failure must not cost the rest of the batch their answers.
      try {
        dispatch(batch, at);
      } catch (error) {
        debug('a hook call dispatcher threw: %s', error && error.stack);
      }
    }
  };
}

module.exports = { hookCallDispatcher };
