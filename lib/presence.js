'use strict';

const { rateLimitedWarn } = require('./log');

const warn = rateLimitedWarn();

/** This server's members of `channel` (`category:id`) as `{ socketId, user }`. */
function localMembers(native, contexts, channel) {
  return native.members(channel).map((socketId) => ({ socketId, user: contexts.get(socketId).user ?? null }));
}

/**
 * `(channel) => string`: the JSON answer to another instance's presence query. A `user` that
 * JSON cannot carry (a BigInt, a cycle) is sent as null, with a log line saying so.
 */
function presenceLookup(native, contexts) {
  return (channel) => {
    const members = localMembers(native, contexts, channel);
    try {
      return JSON.stringify(members);
    } catch (error) {
      warn(`presence: a user object in ${channel} is not JSON-serializable (${error.message}); other instances see user: null for it`);
      return JSON.stringify(members.map(({ socketId, user }) => ({ socketId, user: jsonOrNull(user) })));
    }
  };
}

function jsonOrNull(value) {
  try {
    return JSON.parse(JSON.stringify(value) ?? 'null');
  } catch {
    return null;
  }
}

/** Members from other instances' replies (JSON array texts); malformed entries are skipped. */
function parseReplies(replies) {
  const members = [];
  for (const text of replies) {
    let list;
    try {
      list = JSON.parse(text);
    } catch {
      continue;
    }
    if (!Array.isArray(list)) continue;
    for (const member of list) {
      if (member && typeof member.socketId === 'string') members.push({ socketId: member.socketId, user: member.user ?? null });
    }
  }
  return members;
}

module.exports = { localMembers, presenceLookup, parseReplies };
