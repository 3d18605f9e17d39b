import { timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../config/index.ts';
import {
  CreateRoomBody,
  CreateRoomResponse,
  RestError,
  RoomInfoResponse,
  RoomListResponse,
  RoomParams,
} from '../protocol/index.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import { httpError, restError } from './httpErrors.ts';

export interface RoomsPluginOptions {
  config: Readonly<Config>;
  rooms: RoomService;
  media: RoomMediaController;
  /** Live connection counts from signaling, for serverStats. */
  signalingStats: () => { connections: number; peers: number };
}

/** Every route of the API can be rate-limited or fail. */
const common = { 429: RestError, 500: RestError };

/** The REST API under /api: rooms, with rate limiting and the admin token. */
export async function roomsPlugin(base: FastifyInstance, opts: RoomsPluginOptions): Promise<void> {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { config, rooms, media } = opts;

  await app.register(rateLimit, {
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    errorResponseBuilder: (_req, context) =>
      httpError(429, 'RATE_LIMITED', `Rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`),
  });

  const joinLink = (roomId: string) =>
    `${config.clientUrl.replace(/\/+$/, '')}/meeting/${encodeURIComponent(roomId)}`;
  const meetingInfo = (room: RoomRecord): CreateRoomResponse => ({
    roomId: room.roomId,
    joinLink: joinLink(room.roomId),
    hostPeerId: room.hostPeerId,
    maxParticipants: room.maxParticipants,
    encryption: room.encryption,
    mode: room.mode,
    createdAt: room.createdAt,
  });

  // A preValidation hook, so a caller without the token hears 401 before anything about its request.
  const expected = config.adminToken ? Buffer.from(`Bearer ${config.adminToken}`) : undefined;
  const requireAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    if (!expected) return;
    const given = Buffer.from(request.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return reply
        .code(401)
        .send(restError(401, 'UNAUTHORIZED', 'Missing or invalid Authorization: Bearer <ADMIN_TOKEN>'));
    }
  };

  app.post(
    '/api/rooms',
    {
      schema: {
        tags: ['rooms'],
        summary: 'Create a room',
        body: CreateRoomBody,
        response: { 201: CreateRoomResponse, 400: RestError, 409: RestError, ...common },
      },
      // No body at all (or JSON null) is an empty one: every field is optional.
      preValidation: async (request: FastifyRequest) => {
        request.body ??= {};
      },
    },
    async (request, reply) => {
      const room = await rooms.createRoom(request.body);
      if (!room) {
        return reply
          .code(409)
          .send(restError(409, 'ROOM_EXISTS', `Room ${request.body.roomId} already exists`));
      }
      return reply.code(201).send(meetingInfo(room));
    },
  );

  app.get(
    '/api/rooms/:roomId',
    {
      schema: {
        tags: ['rooms'],
        summary: 'A room: meeting info, current mode and peers',
        params: RoomParams,
        response: { 200: RoomInfoResponse, 400: RestError, 404: RestError, ...common },
      },
    },
    async (request, reply) => {
      const { roomId } = request.params;
      const room = await rooms.store.getRoom(roomId);
      if (!room) return reply.code(404).send(restError(404, 'ROOM_NOT_FOUND', `Room ${roomId} not found`));
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
    },
  );

  app.delete(
    '/api/rooms/:roomId',
    {
      schema: {
        tags: ['rooms'],
        summary: 'Close a room (admin)',
        params: RoomParams,
        response: {
          204: z.undefined().describe('The room is closed'),
          400: RestError,
          401: RestError,
          404: RestError,
          ...common,
        },
      },
      preValidation: requireAdmin,
    },
    async (request, reply) => {
      const { roomId } = request.params;
      const deleted = await rooms.deleteRoom(roomId);
      if (!deleted) return reply.code(404).send(restError(404, 'ROOM_NOT_FOUND', `Room ${roomId} not found`));
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/rooms',
    {
      schema: {
        tags: ['rooms'],
        summary: 'Every room, with totals and server stats (admin)',
        response: { 200: RoomListResponse, 401: RestError, ...common },
      },
      preValidation: requireAdmin,
    },
    async () => {
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
    },
  );
}
