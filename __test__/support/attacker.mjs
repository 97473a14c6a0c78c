// A hostile websocket client on a raw TCP socket: it does the upgrade by hand, builds its own
// masked frames, can stop reading (socket.pause()) while it keeps sending, and tells whether
// the server closed the connection. While it reads, it decodes the server's frames into
// `messages` (text) and answers Engine.IO pings, like a client would.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A masked client frame (RFC 6455 §5.2) carrying `payload` (a string is sent as UTF-8). */
export function clientFrame(payload, opcode = 0x1) {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const length = data.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(length), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, header);
  const start = header + 4;
  for (let i = 0; i < length; i++) frame[start + i] = data[i] ^ mask[i & 3];
  return frame;
}

/** A close frame with `code`. */
export function closeFrame(code = 1000) {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code);
  return clientFrame(body, 0x8);
}

/** `buffer`, `count` times (the same bytes: a frame may be sent any number of times). */
export function* repeat(buffer, count) {
  for (let n = 0; n < count; n++) yield buffer;
}

// /proc/net/tcp states (include/net/tcp_states.h).
const TCP_STATES = {
  '01': 'ESTABLISHED',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0B': 'CLOSING',
};

/**
 * The kernel's view of the loopback TCP connection between our `localPort` and the server's
 * `serverPort`, both ends (server and client share this network namespace):
 * `{ client, server }`, each a state name or null when that socket is gone.
 */
function tcpStates(localPort, serverPort) {
  const states = { client: null, server: null };
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1);
  for (const line of lines) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const local = parseInt(fields[1].split(':')[1], 16);
    const remote = parseInt(fields[2].split(':')[1], 16);
    const state = TCP_STATES[fields[3].toUpperCase()] ?? fields[3];
    if (local === localPort && remote === serverPort) states.client = state;
    else if (local === serverPort && remote === localPort) states.server = state;
  }
  return states;
}

/** Decodes the server's (unmasked) frames. */
class FrameReader {
  #chunks = [];
  #length = 0;
  #fragments = null;

  constructor(onFrame) {
    this.onFrame = onFrame;
  }

  push(chunk) {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
    while (this.#length >= 2) {
      const head = this.#peek(Math.min(this.#length, 10));
      let length = head[1] & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (head.length < 4) return;
        length = head.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (head.length < 10) return;
        length = Number(head.readBigUInt64BE(2));
        offset = 10;
      }
      if (head[1] & 0x80) offset += 4; // a server never masks, but be lenient
      if (this.#length < offset + length) return;
      const frame = this.#take(offset + length);
      this.#frame(head[0] & 0x80, head[0] & 0x0f, frame.subarray(offset));
    }
  }

  #frame(fin, opcode, payload) {
    if (opcode === 0x0) {
      if (!this.#fragments) return;
      this.#fragments.parts.push(payload);
      if (!fin) return;
      const { opcode: first, parts } = this.#fragments;
      this.#fragments = null;
      this.onFrame(first, Buffer.concat(parts));
    } else if (!fin && opcode < 0x8) {
      this.#fragments = { opcode, parts: [payload] };
    } else {
      this.onFrame(opcode, payload);
    }
  }

  #peek(n) {
    if (this.#chunks[0].length >= n) return this.#chunks[0].subarray(0, n);
    return Buffer.concat(this.#chunks).subarray(0, n);
  }

  #take(n) {
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const rest = all.subarray(n);
    this.#chunks = rest.length ? [rest] : [];
    this.#length = rest.length;
    return all.subarray(0, n);
  }
}

const PONG = clientFrame('3');

/** One raw websocket connection to the server. Open it with `Attacker.open(port)`. */
export class Attacker {
  /** Text messages received (while reading). */
  messages = [];
  /** The server's close frame code, if one was read. */
  closeCode = null;
  /** Set when the socket ended, closed or failed (only observable while reading, or by writing). */
  ended = false;
  closed = false;
  error = null;
  #destroyedByUs = false;
  #waiters = new Set();

  constructor(socket, port) {
    this.socket = socket;
    this.port = port;
    this.localPort = socket.localPort;
    this.reader = new FrameReader((opcode, payload) => this.#onFrame(opcode, payload));
    socket.on('end', () => {
      this.ended = true;
      this.#notify();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
    socket.on('error', (error) => {
      this.error ??= error;
      this.#notify();
    });
    socket.on('drain', () => this.#notify());
  }

  /**
   * Connects to 127.0.0.1:`port`, sends the websocket upgrade for a websocket-only Engine.IO v4
   * session and waits for `101` and the Engine.IO open packet.
   */
  static open(port, { path = '/socket.io/', timeoutMs = 5000 } = {}) {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setNoDelay(true);
      let head = Buffer.alloc(0);
      let attacker = null;
      const timer = setTimeout(() => fail(new Error('raw upgrade: timed out')), timeoutMs);
      const fail = (error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      const onData = (chunk) => {
        if (attacker) return attacker.#onData(chunk);
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
        if (!/^HTTP\/1\.1 101 /.test(status)) return fail(new Error(`raw upgrade refused: ${status}`));
        attacker = new Attacker(socket, port);
        attacker.#onData(head.subarray(end + 4));
        attacker.waitMessage((m) => m.startsWith('0{'), timeoutMs).then((open) => {
          clearTimeout(timer);
          if (open === null) fail(new Error('raw upgrade: no Engine.IO open packet'));
          else resolve(attacker);
        });
      };
      socket.on('data', onData);
      socket.on('error', (error) => attacker === null && fail(error));
      socket.on('connect', () => {
        socket.write(
          `GET ${path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
            'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`,
        );
      });
    });
  }

  #onData(chunk) {
    if (chunk.length) this.reader.push(chunk);
  }

  #onFrame(opcode, payload) {
    if (opcode === 0x1) {
      const text = payload.toString();
      if (text === '2') this.socket.write(PONG);
      else this.messages.push(text);
    } else if (opcode === 0x8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    } else if (opcode === 0x9) {
      this.socket.write(clientFrame(payload, 0xa));
    }
    this.#notify();
  }

  #notify() {
    for (const waiter of this.#waiters) waiter();
  }

  /** Resolves when `predicate()` holds (checked on every frame and socket event), or `false` after `ms`. */
  #until(predicate, ms) {
    return new Promise((resolve) => {
      const check = () => {
        const value = predicate();
        if (!value) return;
        done(value);
      };
      const done = (value) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(value);
      };
      const timer = setTimeout(() => done(false), ms);
      this.#waiters.add(check);
      check();
    });
  }

  /** The first message (from index `from`) matching `predicate`, or null after `ms` or on close. */
  async waitMessage(predicate, ms = 3000, from = 0) {
    const found = () => this.messages.slice(from).find(predicate);
    await this.#until(() => found() !== undefined || this.ended || this.closed || this.error, ms);
    return found() ?? null;
  }

  /** Sends one text message (a masked frame). */
  send(text) {
    return this.socket.write(clientFrame(text));
  }

  /** Sends the Socket.IO CONNECT with `auth` and resolves with the reply (`40{…}`, `44{…}`) or null. */
  async connect(auth = {}, ms = 3000) {
    const from = this.messages.length;
    this.send(`40${JSON.stringify(auth)}`);
    return this.waitMessage((m) => m.startsWith('40') || m.startsWith('44'), ms, from);
  }

  /** Stops reading: the kernel buffers fill, then the server's send queue does. */
  pause() {
    this.socket.pause();
  }

  /**
   * Writes every buffer of `buffers` as fast as the kernel takes them (waiting for 'drain'),
   * sending a blind pong every `blindPongMs` (as an attacker that never reads the pings would).
   * Stops early when the connection fails or after `deadlineMs`.
   * Returns `{ buffers, bytes, ms, stoppedBy }`, `stoppedBy` one of 'done', 'closed', 'deadline'.
   */
  async flood(buffers, { deadlineMs = 10000, blindPongMs = 5000 } = {}) {
    const started = Date.now();
    const deadline = started + deadlineMs;
    let lastPong = started;
    let count = 0;
    let bytes = 0;
    const result = (stoppedBy) => ({ buffers: count, bytes, ms: Date.now() - started, stoppedBy });
    for (const buffer of buffers) {
      if (this.#failed()) return result('closed');
      if (Date.now() > deadline) return result('deadline');
      if (blindPongMs && Date.now() - lastPong >= blindPongMs) {
        this.socket.write(PONG);
        lastPong = Date.now();
      }
      const flushed = this.socket.write(buffer);
      count += 1;
      bytes += buffer.length;
      if (!flushed) {
        const drained = await this.#until(
          () => this.socket.writableLength === 0 || this.#failed(),
          Math.max(0, deadline - Date.now()),
        );
        if (!drained) return result('deadline');
      }
    }
    await this.#until(() => this.socket.writableLength === 0 || this.#failed(), Math.max(0, deadline - Date.now()));
    return result(this.#failed() ? 'closed' : 'done');
  }

  #failed() {
    return this.error !== null || this.socket.destroyed;
  }

  /**
   * How the server closed the connection, or null while it keeps it open. Seen from events
   * (while reading), from a failed write (EPIPE/ECONNRESET once the server's descriptor is
   * closed), or from the kernel, which needs no reading: the server's end of the connection
   * leaves ESTABLISHED as soon as the server shuts it down or closes it (FIN_WAIT1 even while
   * its FIN waits behind data we have not read), and ours is in CLOSE_WAIT once its FIN
   * arrived or gone once it reset.
   */
  serverClosed() {
    if (this.#destroyedByUs) throw new Error('serverClosed() after destroy()');
    if (this.error) return `error ${this.error.code ?? this.error.message}`;
    if (this.ended) return 'end';
    if (this.closed) return 'close';
    const { client, server } = tcpStates(this.localPort, this.port);
    if (client === null) return 'reset (our socket is gone)';
    if (client !== 'ESTABLISHED') return `client socket ${client}`;
    if (server !== 'ESTABLISHED') return `server socket ${server ?? 'gone'}`;
    return null;
  }

  /** Polls `serverClosed()` for up to `ms`; resolves with its last answer. */
  async waitServerClosed(ms = 3000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const closed = this.serverClosed();
      if (closed || Date.now() >= deadline) return closed;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Sends a close frame and ends the TCP stream (a client that leaves). */
  leave() {
    this.socket.write(closeFrame(1000));
    this.socket.end();
  }

  destroy() {
    this.#destroyedByUs = true;
    this.socket.destroy();
  }
}

/** Opens an Attacker on `port` and destroys it after the test. */
export async function attacker(t, port, options) {
  const a = await Attacker.open(port, options);
  t.after(() => a.destroy());
  return a;
}
