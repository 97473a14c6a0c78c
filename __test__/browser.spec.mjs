// The demo chat (examples/demo) end to end in headless Chromium: the client helper in a real
// browser, against the native server in attach mode. Skipped when Chromium is not installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import demo from '../examples/demo/server.js';
import { ServerChannel } from '../lib/index.js';

/** The browser binary; CHROMIUM_PATH overrides it (e.g. on macOS). */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
/** The README's screenshot is rewritten only on request (UPDATE_SCREENSHOT=1); a test run leaves the tree clean. */
const SCREENSHOT = process.env.UPDATE_SCREENSHOT === '1'
  ? fileURLToPath(new URL('../docs/demo.png', import.meta.url))
  : path.join(os.tmpdir(), `modelence-native-ws-demo-${process.pid}.png`);
const LAUNCH_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
/** Whether the server can count a room's members (`ServerChannel.count`, being added). */
const counting = typeof ServerChannel.prototype.count === 'function';
/** Longest wait for something a page should show, in ms. */
const SHOW_MS = 10_000;

const playwright = await import('playwright-core').catch(() => null);
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found: install Chromium (apt-get install chromium) to run the browser tests`
  : !playwright
    ? 'playwright-core is not installed: npm install to run the browser tests'
    : false;

/** Starts the demo on a free port and Chromium; both are closed after the test. */
async function setUp(t) {
  const app = await demo.startDemo({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, headless: true, args: LAUNCH_ARGS });
  t.after(() => browser.close());
  return { app, browser };
}

/**
 * Opens the demo as a separate visitor (own context, own storage) in `room` and waits until
 * the page has joined it (unless `expectJoin` is false).
 */
async function visit({ app, browser }, { room = 'general', name, category = 'chat', expectJoin = true } = {}) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  await page.goto(`${app.url}/#${room}`);
  if (name) await page.fill('#name', name);
  if (expectJoin) await joined(page, `${category}:${room}`);
  return page;
}

/** Waits until the page reports it has joined `channel`. */
function joined(page, channel) {
  return page.waitForSelector(`body[data-joined="${channel}"]`, { state: 'attached', timeout: SHOW_MS });
}

/** In the page: sets `window.dropped` once the connection status leaves 'online' (a reload would reset it). */
function watchForDrop() {
  const status = document.getElementById('status');
  new MutationObserver(() => {
    if (status.dataset.state !== 'online') window.dropped = true;
  }).observe(status, { attributes: true });
}

/** Waits until `page` shows `text` as the online count of `room`. */
function showsCount(page, room, text) {
  return page.waitForFunction(
    ([id, expected]) => document.querySelector(`[data-count="${id}"]`)?.textContent === expected,
    [room, text],
    { timeout: SHOW_MS },
  );
}

async function send(page, text) {
  await page.fill('#text', text);
  await page.click('#send');
}

/** Waits until a message with `text` is shown on `page`. */
function shows(page, text) {
  return page.locator('#messages .text', { hasText: text }).first().waitFor({ timeout: SHOW_MS });
}

test('two pages in one room see each other’s messages; a page in another room does not', { skip }, async (t) => {
  const env = await setUp(t);
  const alice = await visit(env, { name: 'Alice' });
  const bob = await visit(env, { name: 'Bob' });
  const carol = await visit(env, { room: 'random', name: 'Carol' });

  await send(alice, 'Hello from Alice');
  await shows(bob, 'Hello from Alice');
  await shows(alice, 'Hello from Alice');
  await send(bob, 'Hi Alice, Bob here');
  await shows(alice, 'Hi Alice, Bob here');

  assert.equal(await carol.locator('#messages .text').count(), 0, 'a page in #random received a #general message');
  assert.equal(await bob.locator('#messages .message.mine .text').textContent(), 'Hi Alice, Bob here');
  if (counting) await showsCount(bob, 'random', '1 online');
  await bob.screenshot({ path: SCREENSHOT });
  assert.ok(statSync(SCREENSHOT).size > 10_000, 'the screenshot shows the page');
});

test('the admins room refuses a visitor with a joinError and admits them once they are admin', { skip }, async (t) => {
  const env = await setUp(t);
  const page = await visit(env, { room: 'admins', name: 'Mallory', expectJoin: false });
  const error = page.locator('#room-error');
  await error.waitFor({ timeout: SHOW_MS });
  assert.match(await error.textContent(), /Could not join Admins: Access denied/);

  await page.check('#admin');
  await joined(page, 'adminChat:admins');
  assert.equal(await error.isHidden(), true, 'the joinError is still shown after joining');
  await send(page, 'admins only');
  await shows(page, 'admins only');
});

test('after the websocket server restarts, pages join again and receive without a reload', { skip }, async (t) => {
  const env = await setUp(t);
  const alice = await visit(env, { name: 'Alice' });
  const bob = await visit(env, { name: 'Bob' });
  for (const page of [alice, bob]) await page.evaluate(watchForDrop);

  await env.app.restartWebsockets();
  // socket.io-client's first reconnect attempt comes 0.5 to 1.5 s after the drop.
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => window.dropped === true, null, { timeout: SHOW_MS });
    await joined(page, 'chat:general');
  }
  await send(alice, 'still there?');
  await shows(bob, 'still there?');
  assert.equal(await bob.evaluate(() => window.dropped), true, 'the page was reloaded');
});

test(
  'the online count of each room follows who is in it',
  { skip: skip || (!counting && 'ServerChannel.count() is not available: the page shows –') },
  async (t) => {
    const env = await setUp(t);
    const alice = await visit(env, { name: 'Alice' });
    const bob = await visit(env, { name: 'Bob' });
    await showsCount(alice, 'general', '2 online');
    await bob.click('[data-room="random"]');
    await joined(bob, 'chat:random');
    await showsCount(alice, 'random', '1 online');
    assert.equal(await alice.locator('[data-count="general"]').textContent(), '1 online');
  },
);
