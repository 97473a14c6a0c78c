'use strict';

const { debug } = require('./log');
const { takeOverConnections } = require('./takeover');

/**
 * Attach mode: the app's `http.Server` keeps its port and its own routes; requests and
 * upgrades under `path` go to the native server.
 *
 * - New websocket sessions on a plain TCP server: taken over as Node accepts them, before
 *   Node reads a byte (`takeover.js`); everything else arrives as below.
 * - Other WebSocket upgrades (Unix, plain TCP): the socket's file descriptor is handed to Rust with
 *   the request head replayed, so frames never pass through JS.
 * - Long-polling requests: forwarded as one async call per request.
 * - Upgrades on a TLS server, on a server listening on a Unix socket path (the native side
 *   adopts TCP descriptors only) or on Windows, where no plain TCP descriptor exists: the
 *   bytes are bridged through JS (correct, slower).
 * - `GET <metricsPath>` (when `metrics` is on): answered here with the Prometheus text.
 */
function attach(httpServer, native, { path, maxHttpBufferSize, metricsPath = null }) {
  const matches = (url) => {
    const pathname = (url || '').split('?', 1)[0];
    return pathname === path || pathname.startsWith(path === '/' ? '/' : `${path}/`);
  };
  const isMetrics = (url) => metricsPath !== null && (url || '').split('?', 1)[0] === metricsPath;

  // Like engine.io's attach: the app's existing 'request' listeners only see other paths.
  const appListeners = httpServer.listeners('request').slice();
  httpServer.removeAllListeners('request');
  const onRequest = (req, res) => {
    if (isMetrics(req.url)) {
      serveMetrics(native, req, res);
      return;
    }
    if (matches(req.url)) {
      forwardRequest(native, req, res, maxHttpBufferSize);
      return;
    }
    for (const listener of appListeners) listener.call(httpServer, req, res);
  };
  const onUpgrade = (req, socket, head) => {
    if (matches(req.url)) {
      handOver(native, req, socket, head);
    } else if (httpServer.listeners('upgrade').length === 1) {
      // Nobody else handles upgrades: do what Node does without listeners.
      socket.destroy();
    }
  };
  httpServer.on('request', onRequest);
  httpServer.on('upgrade', onUpgrade);
  const undoTakeover = takeOverConnections(httpServer, native);

  return function detach() {
    undoTakeover();
    httpServer.removeListener('request', onRequest);
    httpServer.removeListener('upgrade', onUpgrade);
    for (const listener of appListeners) httpServer.on('request', listener);
  };
}

/** The request head as the client sent it, rebuilt from Node's parsed request. */
function requestHead(req) {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Whether `socket` is a plain TCP connection whose descriptor the native side can adopt: its
 * libuv handle is a TCP one (a Unix-socket connection's is a `Pipe`). Read from the handle's
 * class rather than `socket.remoteFamily`, which costs a getpeername(2) on Node's thread per
 * upgrade; an unexpected class only means the connection is bridged (correct, slower).
 */
function isPlainTcp(socket) {
  return !socket.encrypted && process.platform !== 'win32' && socket._handle?.constructor?.name === 'TCP';
}

function handOver(native, req, socket, head) {
  const handle = socket._handle;
  const fd = handle && typeof handle.fd === 'number' ? handle.fd : -1;
  if (fd < 0 || !isPlainTcp(socket)) {
    bridge(native, req, socket, head);
    return;
  }
  // Everything below runs in one tick: libuv reads nothing more once reading is stopped.
  socket.pause();
  const buffered = [];
  for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) buffered.push(chunk);
  if (typeof handle.readStop === 'function') handle.readStop();
  try {
    native.adopt(fd, Buffer.concat([requestHead(req), head, ...buffered]));
  } catch (error) {
    debug('handover failed: %s', error.message);
  }
  // Closes only Node's copy of the descriptor: no FIN is sent (never socket.end()).
  socket.destroy();
}

/** Relays a connection's bytes between its (TLS) socket and the native server. */
function bridge(native, req, socket, head) {
  const drained = () =>
    new Promise((resolve) => {
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  const sink = async (chunk) => {
    if (chunk === null) socket.end();
    else if (!socket.destroyed && !socket.write(chunk)) await drained();
  };
  let relay;
  try {
    relay = native.openBridge(Buffer.concat([requestHead(req), head]), sink);
  } catch (error) {
    debug('bridge failed: %s', error.message);
    socket.destroy();
    return;
  }
  const end = () => relay.end().catch(() => {});
  socket.on('data', (chunk) => {
    socket.pause();
    relay.write(chunk).then(
      () => socket.resume(),
      () => socket.destroy(),
    );
  });
  socket.on('end', end);
  socket.on('close', end);
  socket.on('error', (error) => debug('bridged socket error: %s', error.message));
  socket.resume();
}

/** The Content-Type of the Prometheus text format, as the native standalone route sends it. */
const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Answers `GET`/`HEAD <metricsPath>` with the metrics; other methods get 405. */
function serveMetrics(native, req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
    res.end('method not allowed');
    return;
  }
  native.metrics().then(
    (text) => {
      if (res.destroyed) return;
      const body = Buffer.from(text);
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': body.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    (error) => {
      debug('metrics failed: %s', error.message);
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('metrics unavailable');
      }
    },
  );
}

function forwardRequest(native, req, res, maxHttpBufferSize) {
  const chunks = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size > maxHttpBufferSize) {
      if (!tooLarge) {
        tooLarge = true;
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
        res.end('payload too large');
      }
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (tooLarge) return;
    native
      .forward({
        method: req.method,
        url: req.url,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        remoteAddress: req.socket.remoteAddress,
      })
      .then(
        (response) => {
          if (res.destroyed) return;
          res.writeHead(response.status, response.headers);
          res.end(response.body);
        },
        (error) => {
          debug('forwarded request failed: %s', error.message);
          if (!res.headersSent && !res.destroyed) {
            res.writeHead(503, { 'content-type': 'text/plain', connection: 'close' });
            res.end('websocket server unavailable');
          }
        },
      );
  });
}

module.exports = { attach };
