// The hardening suite's server under test, in a child process (hardening-server.mjs), and what
// the kernel says about it: resident memory and open descriptors from /proc/<pid>.
import { fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { waitFor } from './helpers.mjs';

const script = fileURLToPath(new URL('./hardening-server.mjs', import.meta.url));

export const MiB = 1024 * 1024;

/** Resident set size of process `pid`, in bytes (VmRSS). */
export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

/** Number of open file descriptors of process `pid`. */
export function openFds(pid) {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Formats bytes as MiB with one decimal. */
export const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * Samples the RSS of `pid` every `everyMs` until `stop()`, which returns
 * `{ peak, last, samples }` (bytes). A process that has exited ends the sampling.
 */
export function sampleRss(pid, everyMs = 20) {
  let peak = rssBytes(pid);
  let last = peak;
  let samples = 1;
  const take = () => {
    try {
      last = rssBytes(pid);
      peak = Math.max(peak, last);
      samples += 1;
    } catch {
      clearInterval(timer);
    }
  };
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peak, last, samples };
    },
  };
}

/**
 * Starts hardening-server.mjs with `config` (see that file) and waits until it listens.
 * Returns `{ pid, port, url, rss, fds, messages, send, next, stderr, exited }`; the process is
 * killed after the test.
 */
export async function startHardeningServer(t, config = {}) {
  const child = fork(script, {
    env: { ...process.env, HARDENING_SERVER: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-64 * 1024);
  });
  let exitCode = null;
  const exited = once(child, 'exit').then(([code, signal]) => (exitCode = code ?? signal));
  t.after(async () => {
    if (exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const messages = [];
  child.on('message', (message) => messages.push(message));
  const first = await waitFor(child, 'message', 20000);
  if (first.type !== 'ready') throw new Error(`hardening server failed to start: ${first.message}`);
  const pid = child.pid;
  return {
    pid,
    port: first.port,
    url: `http://127.0.0.1:${first.port}`,
    rss: () => rssBytes(pid),
    fds: () => openFds(pid),
    /** Every IPC message the server sent (the first is 'ready'). */
    messages,
    send: (message) => child.send(message),
    /** The next IPC message of `type`, failing after `ms`. */
    next: (type, ms = 20000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error(`timed out after ${ms} ms waiting for '${type}' from the server process`));
        }, ms);
        const onMessage = (message) => {
          if (message.type !== type) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(message);
        };
        child.on('message', onMessage);
      }),
    /** What the server printed on stderr (native logs), last 64 KiB. */
    stderr: () => stderr,
    /** null while running, else the exit code or signal. */
    exitCode: () => exitCode,
  };
}
