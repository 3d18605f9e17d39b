import { z } from 'zod';
import { BreakoutRoom, Encryption, Id, MediaState, RoomModePolicy } from '../protocol/index.ts';

/** A room's stored metadata: what POST /api/rooms creates, or what auto-create makes on first join. */
/** Who may come in, set by the room's host. Absent: open. */
export const RoomAccess = z.object({
  locked: z.boolean(),
  /** scrypt, `scrypt:<salt b64>:<hash b64>`; never sent to anyone. */
  passwordHash: z.string().nullable(),
  waitingRoom: z.boolean(),
});
export type RoomAccess = z.infer<typeof RoomAccess>;

export const RoomRecord = z.object({
  roomId: Id,
  hostPeerId: z.string().nullable(),
  maxParticipants: z.number().int().positive(),
  encryption: Encryption,
  mode: RoomModePolicy,
  createdAt: z.string(),
  access: RoomAccess.optional(),
  /** A breakout room's meeting (main room). */
  parentRoomId: z.string().optional(),
  /** A meeting's open breakout rooms. */
  breakouts: z.array(BreakoutRoom).optional(),
});
export type RoomRecord = z.infer<typeof RoomRecord>;

/** A peer's stored membership. `expiresAt` (epoch ms) is pushed forward by the heartbeat. */
export const PeerRecord = z.object({
  peerId: Id,
  displayName: z.string(),
  mediaState: MediaState,
  joinedAt: z.string(),
  /** Which server process holds the peer's socket; lets several processes share one Redis. */
  serverId: z.string(),
  /** SHA-256 (base64url) of the peer's resumeToken: lets any node of a cluster check a resume. */
  resumeHash: z.string().optional(),
});
export type PeerRecord = z.infer<typeof PeerRecord>;

export type JoinResult =
  | {
      ok: true;
      room: RoomRecord;
      created: boolean;
      peers: PeerRecord[];
      /** The node that runs the room's media, when the join claimed or read it (Redis). */
      mediaNode?: string;
    }
  | { ok: false; code: 'ROOM_NOT_FOUND' | 'ROOM_FULL' | 'DUPLICATE_PEER' };

export interface JoinOptions {
  /** When the room does not exist: create it from this record, or fail with ROOM_NOT_FOUND when absent. */
  createWith?: RoomRecord;
  /** How long the membership lives without a heartbeat refresh. */
  peerTtlMs: number;
  /**
   * In a cluster: pin the room's media to this node unless it is pinned already, in the same round
   * trip as the join (the store answers the pinned node as `mediaNode`). Stores without nodes ignore it.
   */
  claimMediaNode?: string;
}

export interface RoomSummary {
  room: RoomRecord;
  peerCount: number;
}
