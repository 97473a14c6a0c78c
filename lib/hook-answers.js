'use strict';

const { debug } = require('./log');
const native = require('./native');

/**
 * The answer codes of the hook calls Rust makes by call id, one set per hook, as the native
 * side defines them (`ANSWER_*`). A refusal or rejection carries its message; an
 * acknowledged event carries its ack's JSON and binary parts.
 */
const AUTH = Object.freeze({ STORED: native.ANSWER_AUTH_STORED, REFUSED: native.ANSWER_AUTH_REFUSED });
const ACCESS = Object.freeze({
  ALLOWED: native.ANSWER_ACCESS_ALLOWED,
  DENIED: native.ANSWER_ACCESS_DENIED,
  FAILED: native.ANSWER_ACCESS_FAILED,
});
const EVENT = Object.freeze({ NO_ACK: native.ANSWER_EVENT_NO_ACK, ACKED: native.ANSWER_EVENT_ACKED });
const PUBLISH = Object.freeze({
  ACCEPTED: native.ANSWER_PUBLISH_ACCEPTED,
  REJECTED: native.ANSWER_PUBLISH_REJECTED,
});

/** Code-only answers of this tick, `[callId, code, …]`, sent together at its end. */
let codeAnswers = [];

function sendCodeAnswers() {
  const pairs = Uint32Array.from(codeAnswers);
  codeAnswers = [];
  try {
    native.answerHookCalls(pairs);
  } catch (error) {
    debug('answering %d hook calls failed: %s', pairs.length / 2, error && error.message);
  }
}

/**
 * Answers hook call `callId`; never throws (an answer nobody awaits any more, because the
 * call timed out, is dropped natively). Answers with a code only (most of them: an access
 * verdict, a stored auth context) leave together at the end of the tick, in one native call.
 */
function answerCall(callId, code, message, binary) {
  if (message === undefined && binary === undefined) {
    if (codeAnswers.length === 0) process.nextTick(sendCodeAnswers);
    codeAnswers.push(callId, code);
    return;
  }
  try {
    native.answerHookCall(callId, code, message, binary);
  } catch (error) {
    debug('answering hook call %d failed: %s', callId, error && error.message);
  }
}

module.exports = { AUTH, ACCESS, EVENT, PUBLISH, answerCall };
