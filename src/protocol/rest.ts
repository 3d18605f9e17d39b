import { z } from 'zod';
import { BreakoutRoom, ConnectionMode, Encryption, Id, MediaState, RoomModePolicy } from './common.ts';
import { RouterRtpCapabilities } from './mediasoup.ts';
import { ProducerInfo } from './server.ts';

/*
 * The REST API's bodies, one schema each. The routes (src/http) declare them: requests are
 * validated with them, responses are typed from them (a handler that answers another shape does
 * not compile) and serialized through them (an answer that does not match is a 500, never sent).
 * Response objects strip unknown keys, so nothing leaks that is not written here.
 */

/** Counts, indexes, ports, sizes, seconds. */
const Count = z.number().int().min(0);

// ------------------------------------------------------------------------------- requests

/** POST /api/rooms body. Every field is optional; roomId lets a caller choose a memorable id. */
export const CreateRoomBody = z
  .object({
    roomId: Id.optional(),
    hostPeerId: Id.optional(),
    maxParticipants: z.number().int().min(1).max(1000).optional(),
    encryption: Encryption.default('none'),
    mode: RoomModePolicy.default('auto'),
  })
  .strict();
export type CreateRoomBody = z.infer<typeof CreateRoomBody>;

/** The path of /api/rooms/:roomId. */
export const RoomParams = z.object({ roomId: Id });
export type RoomParams = z.infer<typeof RoomParams>;

// ------------------------------------------------------------------------------- rooms

/** A room's meeting info: the 201 of POST /api/rooms, and `meetingInfo` of GET /api/rooms/:roomId. */
export const CreateRoomResponse = z.object({
  roomId: z.string(),
  joinLink: z.string(),
  hostPeerId: z.string().nullable(),
  maxParticipants: Count,
  encryption: Encryption,
  mode: RoomModePolicy,
  createdAt: z.string(),
  /** A breakout room: the meeting (main room) it belongs to. */
  parentRoomId: z.string().optional(),
  /** A meeting with open breakout rooms: them. */
  breakouts: z.array(BreakoutRoom).optional(),
});
export type CreateRoomResponse = z.infer<typeof CreateRoomResponse>;

/** A producer as REST lists it: the same as sfu-joined's ProducerInfo. */
export const RestProducer = ProducerInfo;

export const RestPeer = z.object({
  peerId: z.string(),
  displayName: z.string(),
  mediaState: MediaState,
  joinedAt: z.string(),
  /** In SFU modes only: the peer's producers, as sfu-joined lists them. */
  producers: z.array(RestProducer).optional(),
});
export type RestPeer = z.infer<typeof RestPeer>;

/** GET /api/rooms/:roomId. */
export const RoomInfoResponse = z.object({
  roomId: z.string(),
  meetingInfo: CreateRoomResponse,
  connectionMode: ConnectionMode,
  participantCount: Count,
  peers: z.array(RestPeer),
});
export type RoomInfoResponse = z.infer<typeof RoomInfoResponse>;

// ------------------------------------------------------------------------------- SFU status

/** available: every worker runs; degraded: some do; unavailable: none (or the SFU is off). */
export const SfuHealth = z.enum(['available', 'degraded', 'unavailable']);
export type SfuHealth = z.infer<typeof SfuHealth>;

export const SfuWorkerSlotState = z.enum(['starting', 'running', 'restarting', 'failed', 'closed']);

/** A worker slot that is not running, with why. */
export const SfuDownWorker = z.object({
  index: Count,
  state: SfuWorkerSlotState,
  port: Count.optional(),
  reason: z.string().optional(),
  /** Tries to start the slot so far. */
  attempts: Count,
});

/** An address and port clients are given for ICE: a WebRtcServer port, or a port range. */
export const SfuAnnouncedAddress = z.object({
  address: z.string(),
  protocol: z.enum(['udp', 'tcp']),
  port: z.union([Count, z.object({ min: Count, max: Count })]),
});

/** How the announced addresses were chosen. */
export const SfuAddressSource = z.enum([
  'listen-ip',
  'local-addresses',
  'announced',
  'stun',
  'stun-fallback',
  'none',
]);

/** Client transports that connected and failed over the last `windowS` seconds. */
export const SfuClientReachability = z.object({
  windowS: Count,
  connected: Count,
  failed: Count,
  lastFailure: z.object({ at: z.string(), reason: z.string() }).optional(),
});

/**
 * What the media controller reports (its status()): GET /api/rooms serverStats.sfu.
 * test/unit/restSchemas.test.ts checks at compile time that it is the SfuStatus of src/sfu.
 */
export const RestSfuStatus = z.object({
  enabled: z.boolean(),
  health: SfuHealth,
  available: z.boolean(),
  reason: z.string().optional(),
  workers: z.object({ up: Count, total: Count }),
  down: z.array(SfuDownWorker),
  candidates: z.array(SfuAnnouncedAddress),
  addressSource: SfuAddressSource,
  routers: Count,
  clientReachability: SfuClientReachability,
});
export type RestSfuStatus = z.infer<typeof RestSfuStatus>;

// ------------------------------------------------------------------------------- admin list

export const StoreKind = z.enum(['memory', 'redis']);
export type StoreKind = z.infer<typeof StoreKind>;

/** One room of GET /api/rooms: its meeting info, mode and participant count. */
export const RoomListEntry = CreateRoomResponse.extend({
  connectionMode: ConnectionMode,
  participantCount: Count,
});
export type RoomListEntry = z.infer<typeof RoomListEntry>;

/** GET /api/rooms (admin). */
/** GET /api/rooms?limit=&cursor=: pages in room id order. */
export const RoomListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  /** `nextCursor` of the page before; absent for the first page. */
  cursor: z.string().max(200).optional(),
});
export type RoomListQuery = z.infer<typeof RoomListQuery>;

export const RoomListResponse = z.object({
  totalRooms: Count,
  totalPeers: Count,
  /** One page of rooms (see `limit`), in room id order. */
  rooms: z.array(RoomListEntry),
  /** Present when more rooms follow: pass it as `cursor` for the next page. */
  nextCursor: z.string().optional(),
  serverStats: z.object({
    uptimeS: Count,
    store: StoreKind,
    /** Open WebSocket connections of this process. */
    connections: Count,
    /** Peers joined through this process. */
    localPeers: Count,
    memory: z.object({ rssBytes: Count, heapUsedBytes: Count }),
    sfu: RestSfuStatus,
  }),
});
export type RoomListResponse = z.infer<typeof RoomListResponse>;

// ------------------------------------------------------------------------------- probes

/** GET /health. */
export const HealthResponse = z.object({ status: z.literal('ok'), uptimeS: Count });
export type HealthResponse = z.infer<typeof HealthResponse>;

/** The `sfu` component of /ready: the media controller's status, named for operators. */
export const ReadySfu = z.object({
  status: SfuHealth,
  enabled: z.boolean(),
  reason: z.string().optional(),
  workers: RestSfuStatus.shape.workers,
  down: z.array(SfuDownWorker),
  announcedAddresses: z.array(SfuAnnouncedAddress),
  addressSource: SfuAddressSource,
  routers: Count,
  clientReachability: SfuClientReachability,
});
export type ReadySfu = z.infer<typeof ReadySfu>;

/** GET /ready, 200: the store answers (the SFU may still be degraded or off: `sfu` says). */
export const ReadyResponse = z.object({
  status: z.literal('ready'),
  store: z.object({ status: z.literal('ok'), kind: StoreKind }),
  sfu: ReadySfu,
});
export type ReadyResponse = z.infer<typeof ReadyResponse>;

/** GET /ready, 503: the store does not answer. */
export const NotReadyResponse = z.object({
  status: z.literal('not-ready'),
  store: z.object({ status: z.literal('unreachable'), kind: StoreKind, reason: z.string() }),
  sfu: ReadySfu,
});
export type NotReadyResponse = z.infer<typeof NotReadyResponse>;

// ------------------------------------------------------------------------------- errors

/** Every REST error: `details` carries the zod issues of an invalid request. */
export const RestError = z.object({
  error: z.string(),
  code: z.string(),
  statusCode: z.number().int(),
  details: z.unknown().optional(),
});
export type RestError = z.infer<typeof RestError>;

// ------------------------------------------------------------------------------- recordings

export const RecordingParams = z.object({
  roomId: Id,
  recordingId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
});

/** 201 of POST /api/rooms/:roomId/recordings. */
export const RecordingStartedResponse = z.object({
  recordingId: z.string(),
  roomId: z.string(),
  /** The file on the server (Matroska, one track per producer). */
  path: z.string(),
  startedAt: z.string(),
  tracks: z.array(z.object({ peerId: z.string(), kind: z.enum(['audio', 'video']) })),
});

/** 200 of DELETE /api/rooms/:roomId/recordings/:recordingId. */
export const RecordingStoppedResponse = RecordingStartedResponse.extend({
  stoppedAt: z.string(),
  sizeBytes: z.number(),
  durationS: z.number(),
});

// ------------------------------------------------------------------------------- SFU

/**
 * GET /api/sfu/capabilities: the RTP capabilities every router of this server gets (room-joined
 * carries the same). A client loads its mediasoup Device with them before it joins a room, so a
 * switch to the SFU never waits for that (the SDK's prepareConnection).
 */
export const SfuCapabilitiesResponse = z.object({ routerRtpCapabilities: RouterRtpCapabilities });
export type SfuCapabilitiesResponse = z.infer<typeof SfuCapabilitiesResponse>;
