import type { BreakoutRoom, ChatMessage } from '../protocol/index.ts';
import type {
  JoinOptions,
  JoinResult,
  PeerRecord,
  RoomAccess,
  RoomRecord,
  RoomSummary,
} from './RoomTypes.ts';

/**
 * Where room state lives. Two implementations (MemoryRoomStore, RedisRoomStore) pass one contract
 * suite (test/integration/roomStore.contract.ts). The store knows nothing of sockets.
 *
 * Lifetimes:
 * - a peer expires `peerTtlMs` after its last join/refresh (a crashed server's peers do not haunt rooms);
 * - a room with no live peer expires `emptyTtlS` seconds after it became empty (or was created empty).
 */
export interface RoomStore {
  readonly kind: 'memory' | 'redis';

  /** Creates a room; false when the id is taken. The new, empty room expires after emptyTtlS. */
  createRoom(room: RoomRecord): Promise<boolean>;
  getRoom(roomId: string): Promise<RoomRecord | null>;
  /** Removes the room and all its peers; false when it did not exist. */
  deleteRoom(roomId: string): Promise<boolean>;
  /** Every live room with its live peer count. */
  listRooms(): Promise<RoomSummary[]>;
  /** How many live rooms there are (for MAX_ROOMS). */
  countRooms(limitOfInterest?: number): Promise<number>;
  /**
   * Calls `listener` whenever the store is reachable again after it was lost (Redis back, maybe
   * empty): the server then re-registers what it holds (reconcile). The memory store never loses it.
   */
  onRestored(listener: () => void): void;
  /** Appends a room chat message, keeping the last `keep`. */
  appendChat(roomId: string, message: ChatMessage, keep: number): Promise<void>;
  /** The room's kept chat messages, oldest first. */
  chatHistory(roomId: string): Promise<ChatMessage[]>;
  /** Replaces a live room's access settings; the updated record, or null when there is no such room. */
  setRoomAccess(roomId: string, access: RoomAccess): Promise<RoomRecord | null>;
  /** Replaces a live room's list of open breakout rooms (null: none); like setRoomAccess. */
  setBreakouts(roomId: string, breakouts: BreakoutRoom[] | null): Promise<RoomRecord | null>;

  /**
   * Adds a peer, atomically with the existence, duplicate and capacity checks: concurrent joins can
   * never exceed maxParticipants. On success returns the peers that were already there.
   */
  join(roomId: string, peer: PeerRecord, options: JoinOptions): Promise<JoinResult>;
  /**
   * Removes a peer; false when it was not there. A room left empty starts its empty TTL. With
   * `onlyOnServer`, only when the peer is still held by that server (a dead node's sweep must not
   * remove a peer that has resumed on another node meanwhile).
   */
  leave(roomId: string, peerId: string, onlyOnServer?: string): Promise<boolean>;
  /**
   * Hands a live peer from one server to another (a resume on another node), refreshing its expiry
   * and resumeHash; false when it is gone or held by a server other than `fromServerId`.
   */
  movePeer(
    roomId: string,
    peerId: string,
    move: { fromServerId: string; toServerId: string; resumeHash: string | undefined; peerTtlMs: number },
  ): Promise<boolean>;
  /** Live peers, in join order. */
  getPeers(roomId: string): Promise<PeerRecord[]>;
  /** Replaces a live peer's mediaState; false when the peer is not there. */
  updateMediaState(roomId: string, peerId: string, mediaState: PeerRecord['mediaState']): Promise<boolean>;
  /** Heartbeat: pushes the peers' expiry to now + peerTtlMs, and keeps their rooms alive. */
  refreshPeers(entries: ReadonlyArray<{ roomId: string; peerId: string }>, peerTtlMs: number): Promise<void>;

  /** Throws when the backing store is unreachable (used by /ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
