// The demo chat page: one joined room at a time, messages sent by HTTP POST and received
// over the native websocket server through `modelence-native-ws/client`.
import { ClientChannel, startWebsockets } from 'modelence-native-ws/client';

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  name: $('name'),
  admin: $('admin'),
  rooms: $('rooms'),
  title: $('room-title'),
  roomError: $('room-error'),
  messages: $('messages'),
  composer: $('composer'),
  text: $('text'),
  send: $('send'),
  sendError: $('send-error'),
};

const state = {
  rooms: [],
  current: null,
  /** Messages seen per room id, kept while the page lives. */
  history: new Map(),
};

const chat = new ClientChannel('chat', onChatMessage, { onError: onJoinError });
const adminChat = new ClientChannel('adminChat', onChatMessage, { onError: onJoinError });
const presence = new ClientChannel('presence', renderCounts);

const token = () => (ui.admin.checked ? 'admin-token' : null);
const socket = startWebsockets({ token, channels: [chat, adminChat, presence] });
presence.joinChannel('rooms');

const channelOf = (room) => (room.category === 'adminChat' ? adminChat : chat);
const channelName = (room) => `${room.category}:${room.id}`;

socket.on('connect', () => setStatus('online', 'online'));
socket.on('disconnect', () => {
  document.body.dataset.joined = '';
  setStatus('offline', 'reconnecting…');
});
socket.on('connect_error', () => setStatus('offline', 'offline'));
socket.on('joinedChannel', (name) => {
  if (state.current && name === channelName(state.current)) {
    document.body.dataset.joined = name;
    ui.roomError.hidden = true;
  }
});

function setStatus(mode, text) {
  ui.status.dataset.state = mode;
  ui.status.textContent = text;
}

function onChatMessage(message) {
  if (!state.history.has(message.room)) state.history.set(message.room, []);
  state.history.get(message.room).push(message);
  if (state.current && message.room === state.current.id) renderMessages();
}

function onJoinError({ channel, error }) {
  if (!state.current || channel !== channelName(state.current)) return;
  document.body.dataset.joined = '';
  const hint = state.current.adminOnly && !ui.admin.checked ? ' Tick “I am an admin” to enter.' : '';
  ui.roomError.textContent = `Could not join ${state.current.title}: ${error}.${hint}`;
  ui.roomError.hidden = false;
}

/** Leaves the current room and joins `id`. */
function selectRoom(id) {
  const room = state.rooms.find((r) => r.id === id) ?? state.rooms[0];
  if (state.current === room) return;
  if (state.current) channelOf(state.current).leaveChannel(state.current.id);
  state.current = room;
  document.body.dataset.joined = '';
  history.replaceState(null, '', `#${room.id}`);
  ui.title.textContent = room.title;
  ui.roomError.hidden = true;
  ui.sendError.hidden = true;
  renderRooms();
  renderMessages();
  channelOf(room).joinChannel(room.id);
}

function renderRooms() {
  ui.rooms.replaceChildren(
    ...state.rooms.map((room) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.room = room.id;
      button.setAttribute('aria-current', String(room === state.current));
      const title = document.createElement('span');
      title.textContent = `# ${room.title}`;
      if (room.adminOnly) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = 'admin';
        title.append(badge);
      }
      const count = document.createElement('span');
      count.className = 'count';
      count.dataset.count = room.id;
      count.textContent = typeof room.online === 'number' ? `${room.online} online` : '–';
      button.append(title, count);
      button.addEventListener('click', () => selectRoom(room.id));
      const item = document.createElement('li');
      item.append(button);
      return item;
    }),
  );
}

function renderCounts(counts) {
  for (const room of state.rooms) room.online = counts[room.id] ?? null;
  renderRooms();
}

function renderMessages() {
  const messages = state.history.get(state.current.id) ?? [];
  if (messages.length === 0) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No messages yet. Say hi!';
    ui.messages.replaceChildren(empty);
    return;
  }
  ui.messages.replaceChildren(
    ...messages.map(({ name, text, at }) => {
      const item = document.createElement('li');
      item.className = name === ui.name.value.trim() ? 'message mine' : 'message';
      const meta = document.createElement('span');
      meta.className = 'meta';
      meta.textContent = `${name} · ${new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
      const body = document.createElement('span');
      body.className = 'text';
      body.textContent = text;
      item.append(meta, body);
      return item;
    }),
  );
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

async function sendMessage(event) {
  event.preventDefault();
  const text = ui.text.value.trim();
  const name = ui.name.value.trim();
  if (!text || !name) return;
  ui.send.disabled = true;
  ui.sendError.hidden = true;
  try {
    const headers = { 'content-type': 'application/json' };
    if (token()) headers.authorization = `Bearer ${token()}`;
    const response = await fetch('/api/messages', {
      method: 'POST',
      headers,
      body: JSON.stringify({ room: state.current.id, name, text }),
    });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || response.statusText);
    ui.text.value = '';
  } catch (error) {
    ui.sendError.textContent = `Not sent: ${error.message}`;
    ui.sendError.hidden = false;
  } finally {
    ui.send.disabled = false;
    ui.text.focus();
  }
}

/** A new token takes effect on the next connection: reconnect, then join the room again. */
function onAdminToggle() {
  socket.disconnect();
  socket.connect();
  // A refused join was forgotten by the client: ask again (a no-op if still joined).
  if (state.current) channelOf(state.current).joinChannel(state.current.id);
}

async function main() {
  ui.name.value = localStorage.getItem('demo-name') || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
  ui.name.addEventListener('change', () => localStorage.setItem('demo-name', ui.name.value.trim()));
  ui.admin.addEventListener('change', onAdminToggle);
  ui.composer.addEventListener('submit', sendMessage);
  const response = await fetch('/api/rooms');
  state.rooms = (await response.json()).rooms;
  selectRoom(location.hash.slice(1));
}

main().catch((error) => {
  ui.roomError.textContent = `The demo could not start: ${error.message}`;
  ui.roomError.hidden = false;
});
