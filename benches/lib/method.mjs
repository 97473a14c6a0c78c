// The Method and Machine sections of BENCHMARKS.md: how the numbers were made, and where.
import { SERVERS } from './servers.mjs';

const BUN_NOTE =
  ' C and D run on Bun (npm package `bun`, installed with `@socket.io/bun-engine` and socket.io into `benches/peers/` on first use, never by `npm test`): ' +
  'the same `benches/servers/common.mjs` (authenticate, access check, payload, `/bench` routes served by Bun’s `node:http` on a second port, the load generator’s `--control-port`), ' +
  'with two adaptations: the send stamp reads CLOCK_MONOTONIC through libc’s `clock_gettime` (`bun:ffi`), since Bun’s `process.hrtime()` counts from the process start, and the full GC is `Bun.gc(true)`. ' +
  'D answers Engine.IO’s open, heartbeat (ping every 25 s, closed without a pong 20 s later), CONNECT with the token (`authenticate`), `joinChannel`/`leaveChannel` (`canAccessChannel`, then `ws.subscribe`) ' +
  'and publishes each broadcast once per channel (`server.publish`), uWebSockets copying it to every subscriber; websocket transport and the main namespace only, no acks, no long-polling, no recovery.';

/** The Method section for a run of `kinds` (the servers that ran, in their run order). */
export function methodLines(kinds) {
  const bun = kinds.some((k) => SERVERS[k].runtime === 'bun');
  const order = kinds.map((k) => SERVERS[k].short).join(', ');
  return [
    '## Method',
    '',
    `- **Servers**, each in its own child process (\`node --expose-gc\`${bun ? '; C and D: `bun`' : ''}), one at a time, never two at once; a fresh process per run. ` +
      'A: `benches/servers/product.mjs`, this package attached to a small `http.Server` app (`startWebsocketServer({ httpServer, modules, authenticate })`), ' +
      'channel `bench` with an async `canAccessChannel`. B: `benches/servers/socketio.mjs`, `new Server(httpServer, { cors: { origin: "*" }, transports: ["websocket"], perMessageDeflate: false })`, ' +
      'an `io.use` middleware awaiting the same `authenticate`, and `joinChannel`/`leaveChannel` handlers as in Modelence’s `server.ts` (`benches/servers/socketio-app.mjs`: find the channel by category, await its check, `socket.join`, `joinedChannel`, else `joinError`). ' +
      (kinds.includes('socketio-bun') ? 'C: `benches/peers/socketio-bun.mjs`, the same socket.io app bound to `@socket.io/bun-engine` (`io.bind(engine)`, `Bun.serve({ ...engine.handler() })`). ' : '') +
      (kinds.includes('uws-bun') ? 'D: `benches/peers/uws-bun.mjs`, `Bun.serve` with a websocket handler and pub/sub, no socket.io. ' : '') +
      'None is tuned beyond that (A runs with its defaults: `maxBufferedPackets` 4096, one tokio worker per core but one; B logs nothing and has no MongoDB adapter, like A here). ' +
      'All listen on 127.0.0.1 (Node’s with backlog 511).' +
      (bun ? BUN_NOTE : ''),
    '- **Load generator** `benches/loadgen` (Rust, one thread, tokio `current_thread`, hand-rolled websocket client): each client connects to `/socket.io/?EIO=4&transport=websocket`, ' +
      'answers Engine.IO pings, sends `40{"token":…}`, waits for `40{"sid":…}`, emits `joinChannel`, waits for `joinedChannel`, then counts `42["bench",{"t":…,"s":…,"p":…}]`. ' +
      'Handshakes are capped at 256 in flight (`--concurrency`). Losses are counted per client by sequence number, duplicates and reordering too. Its own CPU time is reported: ' +
      '“loadgen busy” is its CPU seconds / wall seconds while deliveries were measured (near 100 % would mean it, not the server, was the limit).',
    '- **Broadcasts** are made inside the server process by `POST /bench/burst` (back-to-back loop) or `POST /bench/paced` (one round every `intervalMs` on a fixed schedule; ' +
      'there `t` is the round’s *scheduled* time, so a server whose event loop falls behind is charged for it), ' +
      'each payload `{"t":<µs>,"s":<seq>,"p":"x…"}` of about 100 bytes. `t` is CLOCK_MONOTONIC in µs (`process.hrtime()`), the clock the load generator reads, ' +
      'so latency = receipt − send stamp needs no clock sync (the issue suggested epoch time; Node’s `Date.now()` only has ms resolution).',
    '- **deliveries/s** = messages received / (last receipt − first send stamp). **Latency** percentiles are exact (every sample sorted). ' +
      '**Server CPU** = `process.cpuUsage()` delta (getrusage RUSAGE_SELF: all threads, tokio’s included; `/proc/self/stat` agrees and is recorded too) from just before the trigger to the last delivery; ' +
      '**CPU µs/delivery** divides it by the deliveries. **RSS** from `/proc/self/status`.',
    '- **Connect rate** = joined clients / (last `joinedChannel` − start). **KiB per connection** = (RSS at the end of the hold − RSS baseline) / connections, both after a full GC.',
    `- Each scenario runs ${order} in turn, repeated; tables show medians. **A/B** is the product over stock socket.io (the issue’s targets)` +
      (kinds.filter((k) => SERVERS[k].peer).length > 1
        ? '; **A/best** is the product over the best peer in that column (the highest deliveries/s, joins/s and calls/s; the lowest latency, CPU and memory), that peer’s letter after the ratio; a peer that could not run a scenario shows “—” and the reason under the table.'
        : '.') +
      ' The machine’s other load during each run is estimated from `/proc/stat` minus the server and the load generator and reported below.',
    '',
  ];
}

/** The Machine section: hardware, versions, limits, and how quiet the machine was. */
export function machineLines(machine, meta, results) {
  const L = ['## Machine', ''];
  L.push(`- CPU: ${machine.cpu}, ${machine.cores} cores; RAM ${machine.memGiB} GiB; ${machine.kernel}`);
  L.push(`- Node ${machine.node}; ${machine.rustc}; socket.io ${machine.socketio} (engine.io ${machine.engineio}, ws ${machine.ws})`);
  if (machine.bun) L.push(`- Bun ${machine.bun}; socket.io ${machine.bunSocketio} with @socket.io/bun-engine ${machine.bunEngine} (benches/peers/)`);
  L.push(`- modelence-native-ws ${machine.product}; addon ${machine.addonBuilt}`);
  L.push(`- RLIMIT_NOFILE hard limit ${machine.nofileHard}; somaxconn ${machine.somaxconn}; ephemeral ports ${machine.portRange}`);
  L.push(`- Machine load before the run: ${meta.quietBefore.cores} cores busy, loadavg ${meta.quietBefore.loadavg.join(' ')}${meta.quietBefore.top.length ? ` (busiest: ${meta.quietBefore.top.map((p) => `${p.name} ${p.cores}`).join(', ')})` : ''}`);
  const builds = [...new Set(results.map((r) => r.addon).filter(Boolean))];
  if (builds.length > 1) {
    L.push(`- **The addon was rebuilt during the run** (builds of ${builds.join(', ')}): ${builds.map((b) => `${b}: ${results.filter((r) => r.addon === b).map((r) => r.scenario).filter((x, i, a) => a.indexOf(x) === i).join(', ')}`).join('; ')}.`);
  }
  const noisy = results.filter((r) => r.otherCores > 0.25);
  L.push(
    noisy.length
      ? `- **Noisy runs**: ${noisy.map((r) => `${r.scenario}/${r.server} (${r.otherCores.toFixed(2)} cores used by others)`).join(', ')}; treat those numbers with care.`
      : '- No run saw more than 0.25 cores of other load.',
  );
  L.push('');
  return L;
}
