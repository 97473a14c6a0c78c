// Type tests: compiled with `tsc --noEmit` by `npm test`. A `@ts-expect-error` whose line
// compiles fails the build, so each one proves the types reject that misuse.
import http from 'node:http';
import {
  ServerChannel,
  Module,
  startWebsocketServer,
  createWebsocketProvider,
  ackArgs,
  LiveData,
  type AuthContext,
  type LiveQueryContext,
  type WebsocketProviderOptions,
  type WebsocketServer,
  type WebsocketStats,
} from 'modelence-native-ws';

type ChatMessage = { text: string; author: string };

const chat = new ServerChannel<ChatMessage>('chat');
chat.broadcast('room1', { text: 'hi', author: 'ann' });
// @ts-expect-error: payload fields are checked against the channel's type
chat.broadcast('r', { notAField: 1 });
// @ts-expect-error: ids are strings
chat.broadcast(1, { text: 'hi', author: 'ann' });

const admin = new ServerChannel<{ level: number }>('admin', ({ roles, user, channelId, channel }) => {
  const r: string[] = roles;
  const id: string = channelId;
  const c: string = channel;
  void user;
  return r.includes('admin') && id.length > 0 && c.length > 0;
});
const asyncCheck = new ServerChannel('notes', async (ctx: AuthContext) => ctx.user !== null);
// @ts-expect-error: an access check returns a boolean (or a Promise of one)
new ServerChannel('bad', () => 'yes');

const mod = new Module('chat', { channels: [chat, admin, asyncCheck] });
const name: string = mod.name;
void name;

async function main(): Promise<void> {
  const server: WebsocketServer = await startWebsocketServer({
    httpServer: http.createServer(),
    modules: [mod],
    authenticate: async (token) => ({ user: token ? { id: token } : null, session: null, roles: [] }),
    cors: { origin: ['https://app.example'] },
  });
  const port: number = server.port;
  void port;
  server
    .onConnection((socket) => {
      const id: string = socket.id;
      const sent: boolean = socket.emit('hello', { id });
      void sent;
    })
    .onEvent('sum', (socket, a: number, b: number) => a + b)
    .onEvent('lookup', async (socket, id: string) => (id ? ackArgs(null, { id }) : ackArgs('not found')));
  const pair = ackArgs(1, '2');
  const second: string = pair.values[1];
  void second;
  // @ts-expect-error: an ackArgs marker is read-only
  pair.values[0] = 2;
  server.onConnection(async (socket) => {
    const first: { ok: boolean } = await socket.emitWithAck<{ ok: boolean }>('confirm', 1, { timeoutMs: 500 });
    const [error, row]: [string | null, { id: string }] = await socket.emitWithAckArgs<[string | null, { id: string }]>('confirm', 1);
    const all: unknown[] = await socket.emitWithAckArgs('confirm');
    void [first, error, row, all];
    // @ts-expect-error: emitWithAckArgs resolves with the argument list, an array
    await socket.emitWithAckArgs<string>('confirm');
  });
  const members = await chat.members('room1');
  const firstId: string | undefined = members[0]?.socketId;
  void firstId;
  const n: number = await chat.count('room1');
  void n;
  new ServerChannel<{ x: number }>('cursors', null, { onPublish: (_ctx, _id, data) => ({ x: Number(data) }) });
  // @ts-expect-error: onPublish must return the channel's payload type
  new ServerChannel<{ x: number }>('cursors2', null, { onPublish: () => ({ y: 1 }) });
  const text: string = await server.metrics();
  const stats: WebsocketStats = await server.stats();
  const live: number = stats.connections.websocket + stats.connections.polling;
  const denied: number | undefined = stats.categories.chat?.joins.denied;
  const eventTimeouts: number = stats.hookTimeouts.on_event;
  void [text, live, denied, eventTimeouts];
  // @ts-expect-error: joins are counted by a fixed set of results
  void stats.categories.chat?.joins.refused;
  // @ts-expect-error: only the measured hooks have timeouts
  void stats.hookTimeouts.live_query;
  await startWebsocketServer({ port: 0, metrics: true });
  await startWebsocketServer({ port: 0, metrics: { path: '/internal/metrics' } });
  // @ts-expect-error: metrics is a boolean or { path }
  await startWebsocketServer({ port: 0, metrics: '/metrics' });
  await server.close();
  // @ts-expect-error: authenticate must return an AuthContext
  await startWebsocketServer({ port: 0, authenticate: () => 42 });

  const provider = createWebsocketProvider({ authenticate: () => ({ user: null, session: null, roles: [] }), metrics: true });
  await provider.init({ httpServer: http.createServer(), channels: [{ category: 'chat', canAccessChannel: null }] });
  provider.broadcast({ category: 'chat', id: 'r', data: { any: 'thing' } });
  await provider.close();

  // Live queries: this package's Module with its LiveData, and a Modelence module (plain shape).
  const todos = new Module('todo', {
    queries: {
      getAll: (args, context: LiveQueryContext) =>
        new LiveData({
          fetch: async () => [{ args, user: context.user, width: context.clientInfo.screenWidth }],
          watch: ({ publish }) => {
            const timer = setInterval(publish, 1000);
            return () => clearInterval(timer);
          },
        }),
      admins: { permissions: ['todo.admin'], handler: () => new LiveData({ fetch: () => 1, watch: () => {} }) },
    },
  });
  const modelenceModule = { name: 'chat', channels: [], queries: { recent: () => null }, mutations: { send() {} }, stores: [] };
  const providerOptions: WebsocketProviderOptions = {
    modules: [todos, modelenceModule],
    roles: { admin: { description: 'Admins', permissions: ['todo.admin'] } },
    appRoot: process.cwd(),
    liveQueries: true,
    maxLiveQueriesPerSocket: 100,
    mongodb: { uri: 'mongodb://localhost:27017/app?replicaSet=rs0' },
  };
  createWebsocketProvider(providerOptions);
  createWebsocketProvider({ modules: [todos], modelence: false, authenticate: null });
  await startWebsocketServer({ port: 0, modules: [todos, modelenceModule] });
  // @ts-expect-error: modelence is false (skip the lookup) or left out
  createWebsocketProvider({ modelence: true });
  // @ts-expect-error: the provider's HTTP server comes from Modelence's init
  createWebsocketProvider({ modules: [todos], port: 3000 });
  // @ts-expect-error: a live query handler returns a LiveData
  new Module('bad', { queries: { q: () => 42 } });
  // @ts-expect-error: LiveData needs fetch and watch
  new LiveData({ fetch: () => 1 });
}
void main;
