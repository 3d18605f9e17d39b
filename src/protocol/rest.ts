import { z } from 'zod';
import { ConnectionMode, Encryption, Id, MediaState, RoomModePolicy } from './common.ts';
import { MediaKind, MediaSource } from './mediasoup.ts';

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

export const CreateRoomResponse = z.object({
  roomId: z.string(),
  joinLink: z.string(),
  hostPeerId: z.string().nullable(),
  maxParticipants: z.number(),
  encryption: Encryption,
  mode: RoomModePolicy,
  createdAt: z.string(),
});
export type CreateRoomResponse = z.infer<typeof CreateRoomResponse>;

export const RestProducer = z.object({
  producerId: z.string(),
  kind: MediaKind,
  source: MediaSource,
  paused: z.boolean(),
});

export const RestPeer = z.object({
  peerId: z.string(),
  displayName: z.string(),
  mediaState: MediaState,
  joinedAt: z.string(),
  producers: z.array(RestProducer).optional(),
});

export const RoomInfoResponse = z.object({
  roomId: z.string(),
  meetingInfo: CreateRoomResponse,
  connectionMode: ConnectionMode,
  participantCount: z.number(),
  peers: z.array(RestPeer),
});
export type RoomInfoResponse = z.infer<typeof RoomInfoResponse>;

export const RestError = z.object({
  error: z.string(),
  code: z.string(),
  statusCode: z.number(),
  details: z.unknown().optional(),
});
