// One plain HTTP/1.1 request to a loopback server (no keep-alive), as the bench's control
// traffic needs: the servers' /bench routes.
import http from 'node:http';

/**
 * Sends `method path` with `body` (a string) to 127.0.0.1:`port`; resolves to
 * `{ status, text }`, or rejects on a network error or after `timeoutMs`.
 */
export function request(port, method, path, body = '', timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} on port ${port}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** `request` that expects a 2xx JSON answer and resolves to the parsed JSON. */
export async function requestJson(port, method, path, body = '', timeoutMs = 60000) {
  const { status, text } = await request(port, method, path, body, timeoutMs);
  if (status < 200 || status > 299) throw new Error(`${method} ${path} on port ${port}: HTTP ${status}: ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : null;
}
