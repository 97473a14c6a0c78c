// Client publish: opt-in per channel through onPublish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerChannel } from '../lib/index.js';
import { startServer, connect, join, waitFor, fires } from './support/helpers.mjs';

async function setup(t) {
  const seen = [];
  const cursors = new ServerChannel('cursors', null, {
    onPublish: (ctx, id, data) => {
      seen.push({ user: ctx.user, channel: ctx.channel, id, data });
      if (data.x < 0) throw new Error('x must be positive');
      return { ...data, by: ctx.user?.name ?? 'anon' };
    },
  });
  const readOnly = new ServerChannel('news');
  const { url } = await startServer(t, {
    channels: [cursors, readOnly],
    authenticate: (token) => ({ user: token ? { name: token } : null, session: null, roles: [] }),
  });
  const alice = await connect(t, url, { auth: { token: 'alice' } });
  const bob = await connect(t, url, { auth: { token: 'bob' } });
  await join(alice, 'cursors:doc1');
  await join(bob, 'cursors:doc1');
  return { alice, bob, seen, url };
}

test('a published message is transformed by onPublish and broadcast to the channel', async (t) => {
  const { alice, bob, seen } = await setup(t);
  const toBob = waitFor(bob, 'cursors');
  const toAlice = waitFor(alice, 'cursors');
  assert.equal(await alice.emitWithAck('publish', 'cursors:doc1', { x: 3, y: 4 }), true);
  assert.deepEqual(await toBob, { x: 3, y: 4, by: 'alice' });
  assert.deepEqual(await toAlice, { x: 3, y: 4, by: 'alice' });
  assert.deepEqual(seen, [{ user: { name: 'alice' }, channel: 'cursors:doc1', id: 'doc1', data: { x: 3, y: 4 } }]);
});

test('onPublish throwing rejects with publishError carrying its message', async (t) => {
  const { alice, bob } = await setup(t);
  const error = waitFor(alice, 'publishError');
  alice.emit('publish', 'cursors:doc1', { x: -1 });
  assert.deepEqual(await error, { channel: 'cursors:doc1', error: 'x must be positive' });
  assert.equal(await fires(bob, 'cursors', 200), false);
});

test('publishing is refused without onPublish, outside a joined channel, or with bad arguments', async (t) => {
  const { alice, url } = await setup(t);
  await join(alice, 'news:today');
  const cases = [
    [['news:today', { headline: 'x' }], { channel: 'news:today', error: 'Publishing is not allowed on this channel' }],
    [['cursors:other', { x: 1 }], { channel: 'cursors:other', error: 'Not a member of this channel' }],
    [['nocolon', { x: 1 }], { channel: 'nocolon', error: 'Not a member of this channel' }],
    [[42, { x: 1 }], { channel: null, error: 'publish expects (channel, data)' }],
    [['cursors:doc1'], { channel: null, error: 'publish expects (channel, data)' }],
  ];
  for (const [args, expected] of cases) {
    const reply = waitFor(alice, 'publishError');
    alice.emit('publish', ...args);
    assert.deepEqual(await reply, expected);
  }
  const stranger = await connect(t, url);
  const reply = waitFor(stranger, 'publishError');
  stranger.emit('publish', 'cursors:doc1', { x: 1 });
  assert.deepEqual(await reply, { channel: 'cursors:doc1', error: 'Not a member of this channel' });
});
