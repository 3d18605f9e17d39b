import { timingSafeEqual } from 'node:crypto';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { TokenVerifier } from '../auth/TokenVerifier.ts';
import type { Config } from '../config/index.ts';
import {
  CreateRoomBody,
  CreateRoomResponse,
  ProtocolError,
  RestError,
  RoomInfoResponse,
  RoomListQuery,
  RoomListResponse,
  RoomParams,
} from '../protocol/index.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import { apiRateLimit } from './apiRateLimit.ts';
import { restError } from './httpErrors.ts';
import { recordingRoutes } from './recordingRoutes.ts';

export interface RoomsPluginOptions {
  config: Readonly<Config>;
  /** Verifies join tokens; with auth on, a host token may create rooms. */
  auth: TokenVerifier | undefined;
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

  await app.register(rateLimit, apiRateLimit(config));

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
    ...(room.parentRoomId !== undefined ? { parentRoomId: room.parentRoomId } : {}),
    ...(room.breakouts?.length ? { breakouts: room.breakouts } : {}),
  });

  // Admin routes: with ADMIN_TOKEN, its bearer from anywhere; without, loopback callers only (the
  // operator on the machine), so a default deployment never hands the room list to the internet.
  // A preValidation hook, so a caller without the token hears 401/403 before anything else.
  const expected = config.adminToken ? Buffer.from(`Bearer ${config.adminToken}`) : undefined;
  if (!expected) {
    app.log.warn(
      'ADMIN_TOKEN is not set: the admin API (GET /api/rooms, DELETE /api/rooms/:id) answers loopback clients only',
    );
  }
  const hasAdminToken = (request: FastifyRequest): boolean => {
    if (!expected) return false;
    const given = Buffer.from(request.headers.authorization ?? '');
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  const requireAdmin = async (request: FastifyRequest, reply: FastifyReply) => {
    if (expected) {
      if (hasAdminToken(request)) return;
      return reply
        .code(401)
        .send(restError(401, 'UNAUTHORIZED', 'Missing or invalid Authorization: Bearer <ADMIN_TOKEN>'));
    }
    if (isLoopback(request.ip)) return;
    return reply
      .code(403)
      .send(
        restError(403, 'FORBIDDEN', 'Admin routes answer loopback clients only until ADMIN_TOKEN is set'),
      );
  };
  // With auth on, creating a room takes the admin token or a join token with role host (for the room
  // it names, or any room with `*`).
  const mayCreate = async (request: FastifyRequest, reply: FastifyReply, roomId: string | undefined) => {
    if (!opts.auth || hasAdminToken(request)) return;
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const refuse = (why: string) => reply.code(401).send(restError(401, 'UNAUTHORIZED', why));
    if (!bearer) return refuse('Creating rooms needs Authorization: Bearer <ADMIN_TOKEN or a host token>');
    try {
      const identity = await opts.auth.verify(bearer);
      if (identity.role !== 'host') return refuse('Only a token with role host may create rooms');
      if (identity.room !== '*' && identity.room !== roomId) {
        return refuse(`This token may create room ${identity.room} only (give it as roomId)`);
      }
    } catch (err) {
      return refuse(err instanceof Error ? err.message : 'Invalid token');
    }
  };

  // Recordings: the admin, or (auth on) a host token for the room.
  const mayRecord = async (request: FastifyRequest, reply: FastifyReply) => {
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (opts.auth && bearer && !hasAdminToken(request)) {
      const { roomId } = request.params as { roomId?: string };
      const identity = await opts.auth.verify(bearer).catch(() => undefined);
      if (identity?.role === 'host' && (identity.room === '*' || identity.room === roomId)) return;
      return reply
        .code(401)
        .send(
          restError(401, 'UNAUTHORIZED', 'Recording needs the admin token or a host token for this room'),
        );
    }
    return requireAdmin(request, reply);
  };
  recordingRoutes(base, { rooms, media, mayRecord });

  // Besides the API-wide limit: room creations per client address per minute.
  const creations = new PerMinuteCounter(config.roomCreatesPerIpPerMin);

  app.post(
    '/api/rooms',
    {
      schema: {
        tags: ['rooms'],
        summary: 'Create a room',
        body: CreateRoomBody,
        response: {
          201: CreateRoomResponse,
          400: RestError,
          401: RestError,
          409: RestError,
          503: RestError,
          ...common,
        },
      },
      // No body at all (or JSON null) is an empty one: every field is optional.
      preValidation: async (request: FastifyRequest) => {
        request.body ??= {};
      },
      preHandler: async (request, reply) => mayCreate(request, reply, request.body.roomId),
    },
    async (request, reply) => {
      if (!creations.take(request.ip)) {
        return reply
          .code(429)
          .send(
            restError(
              429,
              'RATE_LIMITED',
              `At most ${config.roomCreatesPerIpPerMin} room creations a minute per address`,
            ),
          );
      }
      let room: RoomRecord | null;
      try {
        room = await rooms.createRoom(request.body);
      } catch (err) {
        if (err instanceof ProtocolError && err.code === 'ROOM_LIMIT') {
          return reply.code(503).send(restError(503, 'ROOM_LIMIT', err.message));
        }
        throw err;
      }
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
          403: RestError,
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
        summary: 'The rooms, a page at a time, with totals and server stats (admin)',
        querystring: RoomListQuery,
        response: { 200: RoomListResponse, 400: RestError, 401: RestError, 403: RestError, ...common },
      },
      preValidation: requireAdmin,
    },
    async (request) => {
      const summaries = await rooms.store.listRooms();
      const { limit, cursor } = request.query;
      // The cursor is the last room id of the previous page; rooms come sorted by id.
      const after = cursor === undefined ? undefined : Buffer.from(cursor, 'base64url').toString();
      const from = after === undefined ? 0 : summaries.findIndex((s) => s.room.roomId > after);
      const page = from < 0 ? [] : summaries.slice(from, from + limit);
      const last = page.at(-1);
      const more = from >= 0 && from + limit < summaries.length;
      const signaling = opts.signalingStats();
      const memory = process.memoryUsage();
      return {
        totalRooms: summaries.length,
        totalPeers: summaries.reduce((n, s) => n + s.peerCount, 0),
        ...(more && last ? { nextCursor: Buffer.from(last.room.roomId).toString('base64url') } : {}),
        rooms: page.map(({ room, peerCount }) => ({
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

/** 127.0.0.0/8, ::1, and IPv4 loopback written as IPv6. */
export function isLoopback(ip: string): boolean {
  return /^127\./.test(ip) || ip === '::1' || /^::ffff:127\./.test(ip);
}

/** A fixed one-minute window per key; a limit of 0 never refuses. Old windows are dropped as it goes. */
class PerMinuteCounter {
  readonly #limit: number;
  #windowStart = 0;
  #counts = new Map<string, number>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  take(key: string): boolean {
    if (this.#limit === 0) return true;
    const now = Date.now();
    if (now - this.#windowStart >= 60_000) {
      this.#windowStart = now;
      this.#counts = new Map();
    }
    const used = this.#counts.get(key) ?? 0;
    if (used >= this.#limit) return false;
    this.#counts.set(key, used + 1);
    return true;
  }
}
