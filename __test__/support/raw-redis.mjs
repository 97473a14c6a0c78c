// A raw Redis client over `net` (RESP2 by hand, no dependency), for tests that read or forge
// what the instances say to each other on the adapter's pub/sub channel.
import net from 'node:net';
import { once } from 'node:events';

/** One RESP command: an array of bulk strings. */
function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`);
  return parts.join('');
}

/** Parses one RESP value at `offset`: `[value, next offset]`, or `null` if incomplete. */
function parse(buffer, offset) {
  const end = buffer.indexOf('\r\n', offset);
  if (end < 0) return null;
  const type = String.fromCharCode(buffer[offset]);
  const line = buffer.toString('utf8', offset + 1, end);
  const next = end + 2;
  if (type === '+') return [line, next];
  if (type === '-') return [new Error(line), next];
  if (type === ':') return [Number(line), next];
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return [null, next];
    if (buffer.length < next + length + 2) return null;
    return [buffer.toString('utf8', next, next + length), next + length + 2];
  }
  if (type === '*') {
    const items = [];
    let at = next;
    for (let i = 0; i < Number(line); i++) {
      const parsed = parse(buffer, at);
      if (!parsed) return null;
      items.push(parsed[0]);
      at = parsed[1];
    }
    return [items, at];
  }
  throw new Error(`raw redis: unexpected reply type ${JSON.stringify(type)}`);
}

/**
 * Opens a connection to `url` (`redis://host:port`). Returns `{ command(...args), subscribe(channel,
 * onMessage), close() }`; `command` resolves with the reply, `onMessage(text)` gets each message
 * published on `channel` after the subscription is confirmed. Closed when `t` ends.
 */
export async function rawRedis(t, url) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  t.after(() => socket.destroy());
  await once(socket, 'connect');
  let buffer = Buffer.alloc(0);
  const waiting = [];
  let onPush = null;
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    let parsed;
    while ((parsed = parse(buffer, 0))) {
      const [value] = parsed;
      buffer = buffer.subarray(parsed[1]);
      if (Array.isArray(value) && value[0] === 'message' && onPush) onPush(value[2]);
      else waiting.shift()?.(value);
    }
  });
  const command = (...args) =>
    new Promise((resolve, reject) => {
      waiting.push((value) => (value instanceof Error ? reject(value) : resolve(value)));
      socket.write(encode(args));
    });
  return {
    command,
    /** Subscribes this connection (it can then only receive messages). */
    async subscribe(channel, onMessage) {
      onPush = onMessage;
      const reply = await command('SUBSCRIBE', channel);
      if (reply[0] !== 'subscribe') throw new Error(`raw redis: SUBSCRIBE answered ${JSON.stringify(reply)}`);
    },
    close: () => socket.destroy(),
  };
}
