'use strict';

const { debug } = require('./log');
const { answerHookCall } = require('./native');

/**
 * The answer codes of the hook calls Rust makes by call id (`answerHookCall`), one set
 * per hook, as the native side reads them. A refusal or rejection carries its message; an
 * acknowledged event carries its ack's JSON and binary parts.
 */
const AUTH = Object.freeze({ STORED: 0, REFUSED: 1 });
const ACCESS = Object.freeze({ ALLOWED: 0, DENIED: 1, FAILED: 2 });
const EVENT = Object.freeze({ NO_ACK: 0, ACKED: 1 });
const PUBLISH = Object.freeze({ ACCEPTED: 0, REJECTED: 1 });

/**
 * Answers hook call `callId`; never throws (an answer nobody awaits any more, because the
 * call timed out, is dropped natively).
 */
function answerCall(callId, code, message, binary) {
  try {
    answerHookCall(callId, code, message, binary);
  } catch (error) {
    debug('answering hook call %d failed: %s', callId, error && error.message);
  }
}

module.exports = { AUTH, ACCESS, EVENT, PUBLISH, answerCall };
