// Presence against a hostile or busy adapter channel, with real server processes and a real
// redis-server: presence messages forged by a Redis client that is not an instance, and many
// concurrent members() calls. A raw subscriber on the adapter's channel sees what goes over it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, join, waitFor, sleep, eventually } from './support/helpers.mjs';
import { startRedis, hasRedis, startInstance } from './support/cluster.mjs';
import { rawRedis } from './support/raw-redis.mjs';

const skip = !hasRedis && 'redis-server is not installed';

const byName = (members) => [...members].sort((x, y) => x.user.name.localeCompare(y.user.name));
const member = (socket) => ({ socketId: socket.id, user: { name: socket.auth.token } });
/** A query id as the instances make them (a u64), as JSON text. */
const randomId = () => (BigInt(Date.now()) * 1000003n + BigInt(Math.floor(Math.random() * 1e9))).toString();

/**
 * Redis; a raw subscriber on the adapter channel (subscribed first, so it sees every message);
 * instances A and B started one after the other (so each `hello` names its origin); ann on A
 * and bob on B, both in chat:room, and A already seeing bob.
 */
async function watchedCluster(t, options) {
  const { url } = await startRedis(t);
  const channel = `presence-${randomUUID()}`;
  /** Every message on the channel: `{ text, message, at }` (`text` keeps u64 ids exact). */
  const wire = [];
  const listeners = new Set();
  const subscriber = await rawRedis(t, url);
  await subscriber.subscribe(channel, (text) => {
    const entry = { text, message: JSON.parse(text), at: performance.now() };
    wire.push(entry);
    for (const listener of listeners) listener(entry);
  });
  const publisher = await rawRedis(t, url);
  const presence = (type) => wire.filter((e) => e.message.k === 'presence' && e.message.d?.type === type);
  const backend = { redis: { url, channel } };
  const a = await startInstance(t, backend, options);
  await eventually(() => presence('hello').length === 1, 5000, "A's hello");
  const originA = presence('hello')[0].message.o;
  const b = await startInstance(t, backend, options);
  await eventually(() => presence('hello').length === 2, 5000, "B's hello");
  const ann = await connect(t, a.url, { auth: { token: 'ann' } });
  const bob = await connect(t, b.url, { auth: { token: 'bob' } });
  await join(ann, 'chat:room');
  await join(bob, 'chat:room');
  await eventually(async () => (await a.members('room')).members.length === 2, 5000, 'A to see bob through Redis');
  return {
    a,
    ann,
    bob,
    originA,
    wire,
    listeners,
    /** A's members queries seen on the wire so far. */
    queriesFromA: () => presence('query').filter((e) => e.message.o === originA),
    /** Publishes presence envelope `d` (JSON text) as instance `origin` would (the adapter's wire format). */
    forge: (origin, d) =>
      publisher.command('PUBLISH', channel, `{"o":${JSON.stringify(origin)},"k":"presence","c":"","d":${d}}`),
  };
}

/** A presence `reply` envelope (JSON text) to instance `to`'s query `id`, naming one member. */
const reply = (to, id, socketId, name = 'mallory') => {
  const members = JSON.stringify([{ socketId, user: { name } }]);
  return `{"type":"reply","id":${id},"to":${JSON.stringify(to)},"members":${members}}`;
};

test('forged replies never show in members(): not from a non-instance with the live query id, nor with a guessed id', { skip }, async (t) => {
  const options = { presenceTimeoutMs: 3000, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 10000 };
  const { a, ann, bob, originA, wire, listeners, queriesFromA, forge } = await watchedCluster(t, options);
  // A peer (it announced itself, as instances do) that answers 300 ms after each query: A is
  // still collecting replies when the forged ones below arrive, and the peer's own reply
  // shows that replies from peers do count.
  const peer = `slow-peer-${randomUUID()}`;
  await forge(peer, '{"type":"alive"}');
  await sleep(200); // A receives it as the raw subscriber did
  listeners.add(({ text, message }) => {
    if (message.o !== originA || message.k !== 'presence' || message.d.type !== 'query') return;
    const id = /"id":(\d+)/.exec(text)[1]; // as text: a u64 does not survive JSON.parse
    // Seen on the wire, the live id is no secret: only the origin check stops these two.
    void forge('mallory', reply(originA, id, 'forged-with-the-live-id'));
    void forge(`stranger-${randomUUID()}`, reply(originA, id, 'forged-by-a-stranger'));
    // Posing as the peer without seeing the query: only an unpredictable id stops these
    // (the small counters a sequential scheme would hand out).
    for (let guess = 0; guess < 64; guess++) void forge(peer, reply(originA, guess, `guessed-${guess}`));
    setTimeout(() => void forge(peer, reply(originA, id, 'peer-member', 'zed')), 300);
  });

  const result = await a.members('room');
  const fromPeer = { socketId: 'peer-member', user: { name: 'zed' } };
  assert.deepEqual(byName(result.members), [member(ann), member(bob), fromPeer]);
  const [query] = queriesFromA().slice(-1);
  const id = /"id":(\d+)/.exec(query.text)[1];
  const answers = (origin) =>
    wire.filter((e) => origin(e.message.o) && e.message.d?.type === 'reply' && e.text.includes(`"id":${id},`));
  const forged = answers((o) => o === 'mallory' || o.startsWith('stranger-'));
  const [peerReply] = answers((o) => o === peer);
  assert.equal(forged.length, 2, 'the forgers answered the live query id');
  const guessed = wire.filter((e) => e.message.o === peer && e.text.includes('"socketId":"guessed-'));
  assert.equal(guessed.length, 64);
  for (const e of [...forged, ...guessed]) {
    assert.ok(e.at < peerReply.at, 'a forged reply reached Redis while A was still waiting for the peer');
  }
  const ms = Math.round(result.ms);
  assert.ok(result.ms < options.presenceTimeoutMs - 500, `A stopped waiting when its last peer answered (${ms} ms)`);
});

test('queries and replies from non-instances do not make an instance wait for them', { skip }, async (t) => {
  const options = { presenceTimeoutMs: 2000, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 10000 };
  const { a, ann, bob, originA, wire, forge } = await watchedCluster(t, options);
  const strangers = Array.from({ length: 10 }, () => `stranger-${randomUUID()}`);
  for (const stranger of strangers) {
    await forge(stranger, `{"type":"query","id":${randomId()},"channel":"chat:room"}`);
    await forge(stranger, reply(originA, randomId(), stranger));
    await forge(stranger, `{"type":"reply","id":${randomId()},"members":[]}`); // addressed to nobody
  }
  const seen = () => wire.filter((e) => strangers.includes(e.message.o)).length;
  await eventually(() => seen() === strangers.length * 3, 3000, 'the forged messages on the channel');
  await sleep(200); // A receives them as the raw subscriber did

  const result = await a.members('room');
  assert.deepEqual(byName(result.members), [member(ann), member(bob)]);
  assert.ok(result.ms < options.presenceTimeoutMs / 3, `members() took ${Math.round(result.ms)} ms: it waited for a non-instance`);
  const again = await a.members('room');
  assert.ok(again.ms < options.presenceTimeoutMs / 3, `the next members() took ${Math.round(again.ms)} ms`);

  // Control: the same stranger announcing itself as instances do is waited for, so the
  // timing above would have caught a stranger counted as a peer.
  await forge(strangers[0], '{"type":"alive"}');
  await sleep(200);
  const waited = await a.members('room');
  assert.ok(waited.ms >= options.presenceTimeoutMs - 100, `members() took ${Math.round(waited.ms)} ms`);
  assert.deepEqual(byName(waited.members), [member(ann), member(bob)]);
});

test('concurrent members() calls for one channel share one query on the wire', { skip }, async (t) => {
  const options = { presenceTimeoutMs: 1000, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 10000 };
  const { a, ann, bob, queriesFromA, forge } = await watchedCluster(t, options);
  // A silent peer keeps the first query open for presenceTimeoutMs: every call below starts
  // while it is in flight, however the machine is loaded.
  await forge(`silent-${randomUUID()}`, '{"type":"alive"}');
  await sleep(200);
  const before = queriesFromA().length;
  const burst = await a.membersMany(Array(50).fill('room'));
  await sleep(200); // any further query would be on the wire by now
  assert.equal(queriesFromA().length - before, 1, '50 concurrent calls, one query');
  assert.equal(burst.lists.length, 50);
  for (const list of burst.lists) assert.deepEqual(byName(list), [member(ann), member(bob)]);
  assert.ok(burst.ms >= options.presenceTimeoutMs - 100, `the query was held open (${Math.round(burst.ms)} ms)`);

  // Once a query has ended, the next call asks again: no stale answer.
  const left = waitFor(bob, 'leftChannel');
  bob.emit('leaveChannel', 'chat:room');
  await left;
  assert.deepEqual((await a.members('room')).members, [member(ann)]);
  await sleep(200);
  assert.equal(queriesFromA().length - before, 2);

  // Calls for different channels are not merged with each other.
  await join(bob, 'chat:other');
  const mixed = await a.membersMany(['room', 'other', 'room', 'other']);
  assert.deepEqual(mixed.lists, [[member(ann)], [member(bob)], [member(ann)], [member(bob)]]);
  await sleep(200);
  const asked = queriesFromA().slice(-2).map((e) => e.message.d.channel).sort();
  assert.deepEqual(asked, ['chat:other', 'chat:room']);
  assert.equal(queriesFromA().length - before, 4);
});
