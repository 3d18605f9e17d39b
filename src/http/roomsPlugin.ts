import { timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import { CreateRoomBody, Id } from '../protocol/index.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import { sendHttpError } from './httpErrors.ts';

export interface RoomsPluginOptions {
  config: Readonly<Config>;
  rooms: RoomService;
  media: RoomMediaController;
  /** Live connection counts from signaling, for serverStats. */
  signalingStats: () => { connections: number; peers: number };
}

const RoomParams = z.object({ roomId: Id });

/** The REST API under /api: rooms, with rate limiting and the admin token. */
export async function roomsPlugin(app: FastifyInstance, opts: RoomsPluginOptions): Promise<void> {
  const { config, rooms, media } = opts;

  await app.register(rateLimit, {
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    errorResponseBuilder: (_req, context) => ({
      statusCode: 429,
      code: 'RATE_LIMITED',
      error: `Rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`,
    }),
  });

  const joinLink = (roomId: string) =>
    `${config.clientUrl.replace(/\/+$/, '')}/meeting/${encodeURIComponent(roomId)}`;
  const meetingInfo = (room: RoomRecord) => ({
    roomId: room.roomId,
    joinLink: joinLink(room.roomId),
    hostPeerId: room.hostPeerId,
    maxParticipants: room.maxParticipants,
    encryption: room.encryption,
    mode: room.mode,
    createdAt: room.createdAt,
  });

  const expected = config.adminToken ? Buffer.from(`Bearer ${config.adminToken}`) : undefined;
  const requireAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return sendHttpError(
        reply,
        401,
        'UNAUTHORIZED',
        'Missing or invalid Authorization: Bearer <ADMIN_TOKEN>',
      );
    }
  };

  const parseRoomId = (request: FastifyRequest, reply: FastifyReply): string | undefined => {
    const parsed = RoomParams.safeParse(request.params);
    if (!parsed.success) {
      sendHttpError(reply, 400, 'INVALID_REQUEST', 'Invalid room id', z.treeifyError(parsed.error));
      return undefined;
    }
    return parsed.data.roomId;
  };

  app.post('/api/rooms', async (request, reply) => {
    const parsed = CreateRoomBody.safeParse(request.body ?? {});
    if (!parsed.success) {
      return sendHttpError(reply, 400, 'INVALID_REQUEST', 'Invalid request body', parsed.error.issues);
    }
    const room = await rooms.createRoom(parsed.data);
    if (!room) return sendHttpError(reply, 409, 'ROOM_EXISTS', `Room ${parsed.data.roomId} already exists`);
    return reply.code(201).send(meetingInfo(room));
  });

  app.get('/api/rooms/:roomId', async (request, reply) => {
    const roomId = parseRoomId(request, reply);
    if (roomId === undefined) return reply;
    const room = await rooms.store.getRoom(roomId);
    if (!room) return sendHttpError(reply, 404, 'ROOM_NOT_FOUND', `Room ${roomId} not found`);
    const peers = await rooms.store.getPeers(roomId);
    const mode = media.modeOf(roomId);
    return {
      roomId,
      meetingInfo: meetingInfo(room),
      connectionMode: mode,
      participantCount: peers.length,
      peers: peers.map((p) => ({
        peerId: p.peerId,
        displayName: p.displayName,
        mediaState: p.mediaState,
        joinedAt: p.joinedAt,
        ...(mode !== 'p2p' ? { producers: media.producersOf(roomId, p.peerId) } : {}),
      })),
    };
  });

  app.delete('/api/rooms/:roomId', { preHandler: requireAdmin }, async (request, reply) => {
    const roomId = parseRoomId(request, reply);
    if (roomId === undefined) return reply;
    const deleted = await rooms.deleteRoom(roomId);
    if (!deleted) return sendHttpError(reply, 404, 'ROOM_NOT_FOUND', `Room ${roomId} not found`);
    return reply.code(204).send();
  });

  app.get('/api/rooms', { preHandler: requireAdmin }, async () => {
    const summaries = await rooms.store.listRooms();
    const signaling = opts.signalingStats();
    const memory = process.memoryUsage();
    return {
      totalRooms: summaries.length,
      totalPeers: summaries.reduce((n, s) => n + s.peerCount, 0),
      rooms: summaries.map(({ room, peerCount }) => ({
        ...meetingInfo(room),
        connectionMode: media.modeOf(room.roomId),
        participantCount: peerCount,
      })),
      serverStats: {
        uptimeS: Math.round(process.uptime()),
        store: rooms.store.kind,
        connections: signaling.connections,
        localPeers: signaling.peers,
        memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
        sfu: media.status(),
      },
    };
  });
}
