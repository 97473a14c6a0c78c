// Attach mode on an https.Server: no plain descriptor to hand over, so bytes are bridged
// through JS. Slower, but every transport must still work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { once } from 'node:events';
import { ServerChannel, startWebsocketServer } from '../lib/index.js';
import { connect, join, waitFor, collect, eventually } from './support/helpers.mjs';

function selfSignedCertificate() {
  const dir = mkdtempSync(joinPath(tmpdir(), 'mnw-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', joinPath(dir, 'key.pem'), '-out', joinPath(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(joinPath(dir, 'key.pem')), cert: readFileSync(joinPath(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startTlsServer(t, channels) {
  const httpsServer = https.createServer(selfSignedCertificate(), (req, res) => res.end('secure app'));
  const server = await startWebsocketServer({ httpServer: httpsServer, channels });
  httpsServer.listen(0, '127.0.0.1');
  await once(httpsServer, 'listening');
  t.after(async () => {
    await server.close();
    httpsServer.closeAllConnections();
    httpsServer.close();
  });
  return `https://127.0.0.1:${httpsServer.address().port}`;
}

for (const transports of [['websocket'], ['polling'], ['polling', 'websocket']]) {
  test(`TLS attach mode: ${transports.join(' then ')} joins and receives`, async (t) => {
    const chat = new ServerChannel('chat');
    const url = await startTlsServer(t, [chat]);
    const socket = await connect(t, url, { transports, rejectUnauthorized: false });
    assert.deepEqual(await join(socket, 'chat:secure'), { joined: 'chat:secure' });
    const got = waitFor(socket, 'chat');
    chat.broadcast('secure', { big: 'x'.repeat(90_000), emoji: '🔒' });
    const message = await got;
    assert.equal(message.big.length, 90_000);
    assert.equal(message.emoji, '🔒');
  });
}

test('TLS attach mode: many large messages arrive intact and in order (backpressure)', async (t) => {
  const chat = new ServerChannel('chat');
  const url = await startTlsServer(t, [chat]);
  const socket = await connect(t, url, { rejectUnauthorized: false });
  await join(socket, 'chat:bulk');
  const inbox = collect(socket, 'chat');
  for (let i = 0; i < 50; i++) chat.broadcast('bulk', { i, pad: 'y'.repeat(50_000) });
  await eventually(() => inbox.length === 50, 10000, '50 large messages');
  assert.deepEqual(inbox.map((m) => m.i), Array.from({ length: 50 }, (_, i) => i));
  const res = await fetch(url.replace('https', 'http'), { method: 'GET' }).catch(() => null);
  assert.equal(res, null); // plain HTTP to a TLS port fails: the app server is untouched
});
