// Benchmark server B: stock socket.io 4.8 set up as Modelence sets it up (websocket-protocol
// options, an auth middleware calling the same authenticate, joinChannel/leaveChannel as in
// Modelence's server.ts), without extra tuning. Two deliberate differences from Modelence:
// no console.log per connection/join (it would only slow socket.io down) and no MongoDB
// adapter (the product runs its local adapter here too).
import { Server } from 'socket.io';
import { CATEGORY, authenticate, canAccessChannel, benchRoutes, createApp, listen } from './common.mjs';

const channels = [{ category: CATEGORY, canAccessChannel }];

let io;
const httpServer = createApp(
  benchRoutes(
    (category, id, data) => io.to(`${category}:${id}`).emit(category, data),
    () => ({ clients: io.engine.clientsCount }),
  ),
);

io = new Server(httpServer, {
  cors: { origin: '*', methods: ['GET', 'POST'] },
  transports: ['websocket'],
  perMessageDeflate: false,
});

io.use(async (socket, next) => {
  const token = socket.handshake.auth.token;
  try {
    socket.data = await authenticate(token);
    next();
  } catch (error) {
    next(error);
  }
});

io.on('connection', (socket) => {
  socket.on('joinChannel', async (channelName) => {
    const [category] = String(channelName).split(':');
    const channel = channels.find((c) => c.category === category);
    if (channel && (!channel.canAccessChannel || (await channel.canAccessChannel(socket.data)))) {
      socket.join(channelName);
      socket.emit('joinedChannel', channelName);
    } else {
      socket.emit('joinError', { channel: channelName, error: 'Access denied' });
    }
  });

  socket.on('leaveChannel', (channelName) => {
    socket.leave(channelName);
    socket.emit('leftChannel', channelName);
  });
});

listen(httpServer, 'socketio');
