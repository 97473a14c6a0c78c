// Raw Engine.IO/Socket.IO clients over a real WebSocket (the `ws` package), for sending
// what a well-behaved client never would.
import WebSocket from 'ws';
import { waitFor } from './helpers.mjs';

/**
 * Opens a websocket to `url`, completes the Engine.IO handshake and (unless `connect` is
 * false) the Socket.IO CONNECT with `auth`. Returns `{ ws, messages, closed }`, where
 * `messages` collects every text frame received and `closed` resolves with the close code.
 */
export async function rawSocket(t, url, { connect = true, auth = {} } = {}) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket`);
  t.after(() => ws.terminate());
  const messages = [];
  const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data, isBinary) => {
    const text = isBinary ? data : data.toString();
    if (text === '2') ws.send('3');
    else messages.push(text);
  });
  ws.on('error', () => {});
  await waitFor(ws, 'open');
  await until(() => messages.some((m) => m.startsWith('0{')));
  if (connect) {
    ws.send(`40${JSON.stringify(auth)}`);
    await until(() => messages.some((m) => m.startsWith('40{')));
  }
  return { ws, messages, closed };
}

async function until(predicate, ms = 3000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('raw socket: timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Resolves `true` if the socket closes within `ms`. */
export function closesWithin(raw, ms = 2000) {
  return Promise.race([raw.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
}
