'use strict';

/**
 * Several acknowledgement arguments from one `onEvent` handler. A handler's return value is
 * one ack argument (`callback(value)` on the client); a handler that returns (or resolves
 * with) `ackArgs(a, b)` answers like socket.io's `callback(a, b)`: `43<id>[a,b]` on the wire.
 */
class AckArgs {
  /** @internal Use `ackArgs(...values)`. */
  constructor(values) {
    /** The acknowledgement's arguments, in order. */
    this.values = Object.freeze(values);
    Object.freeze(this);
  }
}

/**
 * Marks `values` as the several arguments of an acknowledgement.
 * @example
 * server.onEvent('lookup', async (socket, id) => {
 *   const row = await db.find(id);
 *   return row ? ackArgs(null, row) : ackArgs('not found'); // client: (error, row) => …
 * });
 */
function ackArgs(...values) {
  return new AckArgs(values);
}

/** The argument list an `onEvent` handler's `result` acknowledges with. */
function ackArgumentsOf(result) {
  if (result instanceof AckArgs) return [...result.values];
  // Like socket.io's `callback()` without arguments: an empty acknowledgement.
  return result === undefined ? [] : [result];
}

module.exports = { AckArgs, ackArgs, ackArgumentsOf };
