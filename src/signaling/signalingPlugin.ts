import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { nanoid } from 'nanoid';
import type { RawData, WebSocket } from 'ws';
import {
  type ClientMessage,
  type ClientMessageOf,
  isSignalingMessage,
  ProtocolError,
  type RequestId,
  type SignalingMessageType,
} from '../protocol/index.ts';
import type { MediaMessage } from '../sfu/ConnectionManagerTypes.ts';
import { detachSession, type Handler, handlers, type ReplyFn } from './handlers.ts';
import { decodeClientMessage } from './MessageDecoder.ts';
import { CloseCode, Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/**
 * The WebSocket endpoint /ws: one Session per connection, the heartbeat, and the orderly goodbye
 * on shutdown. Frames are decoded and validated here; handlers see only valid messages.
 */
export async function signalingPlugin(app: FastifyInstance, ctx: SignalingContext): Promise<void> {
  const { config, logger } = ctx;
  const log = logger.child({ component: 'signaling' });
  const sessions = new Set<Session>();
  let shuttingDown = false;

  const goodbye = async (): Promise<void> => {
    shuttingDown = true;
    // From here a worker that exits is part of the shutdown, not a crash to tell clients about.
    ctx.media.beginShutdown();
    clearInterval(heartbeat);
    const closing = [...sessions].map(async (session) => {
      session.send({ type: 'server-shutdown', reason: 'The server is shutting down' });
      const { roomId, peerId } = session;
      session.roomId = undefined;
      session.peerId = undefined;
      if (roomId !== undefined && peerId !== undefined) {
        ctx.registry.remove(roomId, peerId, session);
        await ctx.rooms
          .leave(roomId, peerId)
          .catch((err) => log.error({ err, roomId }, 'leave on shutdown failed'));
      }
      session.close(CloseCode.GOING_AWAY, 'Server shutting down');
    });
    await Promise.all(closing);
  };

  await app.register(websocket, {
    options: {
      // ws rejects frames above this by itself (closing with 1009); frames between MAX_MESSAGE_BYTES
      // and this bound get a MESSAGE_TOO_LARGE error first, so a client learns why.
      maxPayload: Math.max(config.maxMessageBytes * 4, 1024 * 1024),
      perMessageDeflate: false,
    },
    preClose: async function preClose(this: FastifyInstance) {
      await goodbye();
      await new Promise<void>((resolve) => this.websocketServer.close(() => resolve()));
    },
  });

  const onMessage = (session: Session, data: RawData, isBinary: boolean): void => {
    const size = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : data instanceof ArrayBuffer
        ? data.byteLength
        : data.length;
    if (size > config.maxMessageBytes) {
      session.sendError(
        'MESSAGE_TOO_LARGE',
        `Message of ${size} bytes exceeds the limit of ${config.maxMessageBytes}`,
      );
      session.close(CloseCode.MESSAGE_TOO_BIG, 'Message too large');
      return;
    }
    if (!session.takeToken()) {
      session.sendError('RATE_LIMITED', 'Too many messages; slow down');
      return;
    }
    if (isBinary) {
      session.sendError('INVALID_MESSAGE', 'Binary frames are not supported; send JSON text');
      return;
    }
    const decoded = decodeClientMessage(data.toString());
    if (!decoded.ok) {
      session.sendError(decoded.code, decoded.error, decoded);
      return;
    }
    const message = decoded.message;
    session.enqueue(() => {
      try {
        const result = dispatch(session, message);
        if (result instanceof Promise) return result.catch((err) => fail(session, message, err));
      } catch (err) {
        fail(session, message, err);
      }
    });
  };

  /** Routes a valid message as the protocol table says: to its signaling handler, or to the SFU. */
  const dispatch = (session: Session, message: ClientMessage): unknown => {
    if (isSignalingMessage(message)) {
      return runHandler(message.type, session, message, replyTo(session, message.requestId));
    }
    return media(session, message);
  };

  const runHandler = <T extends SignalingMessageType>(
    type: T,
    session: Session,
    message: ClientMessageOf<T>,
    reply: ReplyFn<T>,
  ) => {
    const handler: Handler<T> = handlers[type];
    return handler(ctx, session, message, reply);
  };

  const replyTo =
    <T extends SignalingMessageType>(session: Session, requestId: RequestId | undefined): ReplyFn<T> =>
    (body) => {
      session.send(requestId !== undefined ? { ...body, requestId } : body);
      return { replied: true };
    };

  /** SFU operations and switch reports go to the room's ConnectionManager. */
  const media = async (session: Session, message: MediaMessage): Promise<void> => {
    if (session.roomId === undefined || session.peerId === undefined) {
      throw new ProtocolError('NOT_IN_ROOM', 'Join a room first');
    }
    const reply = await ctx.media.handle(session.roomId, session.peerId, message);
    if (reply)
      session.send(message.requestId !== undefined ? { ...reply, requestId: message.requestId } : reply);
  };

  const fail = (
    session: Session,
    message: { type: string; requestId?: string | number | undefined },
    err: unknown,
  ) => {
    const extra = { requestId: message.requestId, relatedType: message.type };
    if (err instanceof ProtocolError) {
      session.sendError(err.code, err.message, { ...extra, details: err.details });
      return;
    }
    log.error({ err, type: message.type, sessionId: session.id }, 'handler failed');
    session.sendError('INTERNAL', undefined, extra);
  };

  app.get('/ws', { websocket: true }, (socket: WebSocket) => {
    if (shuttingDown) {
      socket.close(CloseCode.GOING_AWAY, 'Server shutting down');
      return;
    }
    const session = new Session(nanoid(10), socket, config.wsRateLimit);
    sessions.add(session);
    log.debug({ sessionId: session.id }, 'connected');
    socket.on('message', (data, isBinary) => onMessage(session, data, isBinary));
    socket.on('pong', () => {
      session.missedPongs = 0;
    });
    socket.on('error', (err) => log.debug({ err, sessionId: session.id }, 'socket error'));
    socket.on('close', (code) => {
      sessions.delete(session);
      log.debug({ sessionId: session.id, code }, 'disconnected');
      session.enqueue(() => detachSession(ctx, session, 'socket closed'));
    });
  });

  // The heartbeat: a ping per interval; two unanswered pings and the peer is removed. Live peers get
  // their store TTL refreshed, so the peers of a crashed process expire instead of haunting rooms.
  const heartbeat = setInterval(() => {
    const alive: Array<{ roomId: string; peerId: string }> = [];
    for (const session of sessions) {
      if (session.missedPongs >= 2) {
        log.info({ sessionId: session.id, peerId: session.peerId }, 'heartbeat timeout');
        sessions.delete(session);
        session.socket.terminate();
        session.enqueue(() => detachSession(ctx, session, 'heartbeat timeout'));
        continue;
      }
      session.missedPongs += 1;
      session.socket.ping();
      if (session.roomId !== undefined && session.peerId !== undefined) {
        alive.push({ roomId: session.roomId, peerId: session.peerId });
      }
    }
    if (alive.length > 0) {
      ctx.rooms.store
        .refreshPeers(alive, ctx.rooms.peerTtlMs)
        .catch((err) => log.error({ err }, 'heartbeat refresh failed'));
    }
  }, config.heartbeatIntervalMs);
  heartbeat.unref();

  // A room deleted through REST: tell its peers and detach them; their sockets stay open.
  const onRoomDeleted = (roomId: string) => {
    for (const [peerId, handle] of [...ctx.registry.peersOf(roomId)]) {
      const session = handle as Session;
      ctx.registry.remove(roomId, peerId, session);
      session.roomId = undefined;
      session.peerId = undefined;
      session.send({ type: 'room-closed', roomId, reason: 'The room was closed' });
    }
    ctx.media.roomClosed(roomId);
  };
  ctx.rooms.on('roomdeleted', onRoomDeleted);
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    ctx.rooms.off('roomdeleted', onRoomDeleted);
  });

  app.decorate('signalingStats', () => ({ connections: sessions.size, peers: ctx.registry.size }));
}

declare module 'fastify' {
  interface FastifyInstance {
    signalingStats: () => { connections: number; peers: number };
  }
}
