// The app on socket.io, as Modelence's server.ts sets it up: an auth middleware calling the
// app's authenticate, joinChannel/leaveChannel with the channel's access check. Shared by
// stock socket.io on Node (socketio.mjs) and on Bun (benches/peers/socketio-bun.mjs).
import { CATEGORY, authenticate, canAccessChannel } from './common.mjs';

const channels = [{ category: CATEGORY, canAccessChannel }];

/** Installs the middleware and the connection handlers on `io`. */
export function serveChannels(io) {
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
}
