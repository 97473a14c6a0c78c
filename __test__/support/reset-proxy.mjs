// A local TCP proxy in front of a server, for tests that cut connections abruptly: `reset()`
// resets every connection it carries (RST, as a dead network would), `refuse(ms)` refuses
// new ones for a while (a client that stays away), `retarget(port)` sends new ones to
// another server (a load balancer picking another instance); `replayLatency` times a recovery.
import net from 'node:net';
import { once } from 'node:events';

/** Starts a proxy to `targetPort` on 127.0.0.1; closed when `t` ends. */
export async function resetProxy(t, targetPort) {
  const pairs = new Set();
  let refusingUntil = 0;
  let target = targetPort;
  const server = net.createServer((client) => {
    if (Date.now() < refusingUntil) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const { client, upstream } of pairs) {
      client.destroy();
      upstream.destroy();
    }
    server.close();
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Resets every connection (both sides see ECONNRESET). */
    reset() {
      for (const { client, upstream } of [...pairs]) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      pairs.clear();
    },
    /** Refuses (resets) new connections for `ms`. */
    refuse(ms) {
      refusingUntil = Date.now() + ms;
    },
    /** Sends new connections to `port` from now on. */
    retarget(port) {
      target = port;
    },
  };
}

/**
 * Starts timing a recovery of socket.io-client `socket` (call before cutting it): returns a
 * function giving the ms from the next transport's opening to the first `event` after it.
 */
export function replayLatency(socket, event) {
  let opened = 0;
  let firstReplayed = 0;
  socket.io.engine.once('close', () => socket.io.once('open', () => (opened = performance.now())));
  socket.on(event, () => (firstReplayed ||= opened && performance.now()));
  return () => firstReplayed - opened;
}
