// The load generators' control traffic, relayed through the bench: each loadgen's
// --control-port is its own relay here. Its stats requests go to its home instance (the one
// its clients connect to); its broadcast trigger goes to another instance, so every delivery
// crosses Redis. Two barriers make the loadgens act as one: no trigger is forwarded until every
// loadgen has joined all its clients and asked (start), and each loadgen's first stats request
// after its deliveries is held until every loadgen is done (end), so the bench can snapshot
// the instances and Redis at both moments with nothing else going on.
import http from 'node:http';
import { request } from './http.mjs';
import { monoUs } from './proc.mjs';

/**
 * Starts `homePorts.length` relays on loopback. Loadgen `i` uses relay `i`: stats go to
 * `homePorts[i]`, its trigger to `publishPorts[i]`. `onStart()` and `onEnd({ timedOut })` run
 * (awaited) at the barriers. The end barrier waits at most `endHoldMs` (loadgens give up on a
 * stats request after 60 s). Returns `{ ports, gone(i), state(), close() }`; call `gone(i)`
 * when loadgen `i` exits so the barriers stop waiting for it.
 */
export async function startRelays({ homePorts, publishPorts, onStart, onEnd, endHoldMs = 45000 }) {
  const n = homePorts.length;
  const alive = new Set(Array.from({ length: n }, (_, i) => i));
  const waiting = new Map(); // i -> { route, body, res }
  const held = new Map(); // i -> res
  const triggered = new Set();
  // firstAskedAt: when the first loadgen asked for its broadcasts (its idle timer runs from then).
  const st = { firstAskedAt: null, startedAt: null, endedAt: null, endTimedOut: false, triggers: Array(n).fill(null), errors: [] };
  let releasing = false;
  let endTimer = null;

  const forward = async (port, method, path, body, res) => {
    try {
      const out = await request(port, method, path, body, 120000);
      res.writeHead(out.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out.text) });
      res.end(out.text);
      return out;
    } catch (error) {
      st.errors.push(`${method} ${path} → ${port}: ${error.message}`);
      const text = JSON.stringify({ error: error.message });
      res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return null;
    }
  };

  const maybeStart = async () => {
    if (releasing || st.startedAt !== null || !waiting.size || [...alive].some((i) => !waiting.has(i))) return;
    releasing = true;
    try {
      await onStart();
    } catch (error) {
      st.errors.push(`start snapshot: ${error.message}`);
    }
    st.startedAt = monoUs();
    for (const [i, { route, body, res }] of waiting) {
      triggered.add(i);
      forward(publishPorts[i], 'POST', route, body, res).then((out) => {
        st.triggers[i] = out ? { status: out.status, ...safeJson(out.text) } : { error: 'trigger failed' };
      });
    }
    waiting.clear();
  };

  const maybeEnd = async (force = false) => {
    if (st.endedAt !== null || !held.size) return;
    if (!force && [...triggered].some((i) => alive.has(i) && !held.has(i))) return;
    st.endedAt = monoUs();
    st.endTimedOut = force;
    clearTimeout(endTimer);
    try {
      await onEnd({ timedOut: force });
    } catch (error) {
      st.errors.push(`end snapshot: ${error.message}`);
    }
    for (const [i, res] of held) forward(homePorts[i], 'GET', '/bench/stats', '', res);
    held.clear();
  };

  const servers = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      listen((req, res, body) => {
        const url = new URL(req.url, 'http://x');
        if (req.method === 'POST' && (url.pathname === '/bench/burst' || url.pathname === '/bench/paced')) {
          st.firstAskedAt ??= monoUs();
          waiting.set(i, { route: url.pathname, body, res });
          maybeStart();
        } else if (req.method === 'GET' && url.pathname === '/bench/stats' && triggered.has(i) && st.endedAt === null) {
          held.set(i, res);
          if (!endTimer) endTimer = setTimeout(() => maybeEnd(true), endHoldMs);
          maybeEnd();
        } else {
          forward(homePorts[i], req.method, req.url, body, res);
        }
      }),
    ),
  );

  return {
    ports: servers.map((s) => s.address().port),
    gone(i) {
      alive.delete(i);
      maybeStart();
      maybeEnd();
    },
    state: () => st,
    async close() {
      clearTimeout(endTimer);
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function listen(handle) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString()));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return { text: text.slice(0, 200) };
  }
}
