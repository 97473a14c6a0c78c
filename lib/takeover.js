'use strict';

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const { debug } = require('./log');

/**
 * Attach mode's early takeover: each TCP connection the app's `http.Server` accepts is
 * offered to the native side before Node reads from it. A new websocket session is served
 * natively from its first byte, so Node's thread builds no socket, HTTP parser or `upgrade`
 * event for it; anything else comes back unread (`giveBack`) and reaches the app's server as
 * an ordinary `'connection'`. Not used on TLS servers, Unix-socket servers, Windows or a
 * cluster worker's shared handle: there every connection takes the `upgrade` path.
 * Returns the function that undoes it.
 */
function takeOverConnections(httpServer, native) {
  if (process.platform === 'win32' || httpServer instanceof tls.Server) return () => {};
  const takeOver = native.takeOverWith((fd) => giveBack(httpServer, fd));
  let hooked = null;
  let original = null;

  const unhook = () => {
    if (hooked && hooked.onconnection === onconnection) hooked.onconnection = original;
    hooked = null;
  };
  // Node calls the listening handle's `onconnection(err, clientHandle)` for each accepted
  // connection; it is the one place a connection passes before Node wraps it.
  function onconnection(err, clientHandle) {
    const fd = clientHandle && clientHandle.fd;
    if (err || typeof fd !== 'number' || fd < 0) return original.call(this, err, clientHandle);
    try {
      takeOver(fd);
    } catch (error) {
      debug('takeover refused, Node serves the connection: %s', error.message);
      return original.call(this, err, clientHandle);
    }
    // Closes Node's copy only: the native side holds its own descriptor.
    clientHandle.close();
    return undefined;
  }
  const hook = () => {
    const handle = httpServer._handle;
    if (!handle || handle === hooked || typeof handle.onconnection !== 'function') return;
    if (handle.constructor?.name !== 'TCP') return;
    unhook();
    original = handle.onconnection;
    hooked = handle;
    handle.onconnection = onconnection;
  };

  httpServer.on('listening', hook);
  hook();
  return () => {
    httpServer.removeListener('listening', hook);
    unhook();
  };
}

/** Hands a connection the native side did not keep to the app's server, as Node would have. */
function giveBack(httpServer, fd) {
  let socket;
  try {
    socket = new net.Socket({ fd, readable: true, writable: true });
  } catch (error) {
    debug('a handed-back connection could not be opened: %s', error.message);
    try {
      fs.closeSync(fd);
    } catch {
      // Already closed: nothing is left to free.
    }
    return;
  }
  httpServer.emit('connection', socket);
}

module.exports = { takeOverConnections };
