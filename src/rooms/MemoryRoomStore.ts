import { isDeepStrictEqual } from 'node:util';
import type { BreakoutRoom, ChatMessage } from '../protocol/index.ts';
import { MediaState } from '../protocol/index.ts';
import type { RoomStore } from './RoomStore.ts';
import {
  type JoinOptions,
  type JoinResult,
  PeerRecord,
  type RoomAccess,
  RoomRecord,
  type RoomSummary,
} from './RoomTypes.ts';

export interface MemoryRoomStoreOptions {
  /** Seconds an empty room lives (ROOM_EMPTY_TTL_S). */
  emptyTtlS: number;
  /** How often the background sweep frees expired rooms and peers; expiry itself is checked lazily. */
  sweepIntervalMs?: number;
}

interface MemoryPeer {
  record: PeerRecord;
  expiresAt: number;
}

interface MemoryRoom {
  record: RoomRecord;
  /** Live (or not yet pruned) peers; a Map iterates in insertion order, i.e. join order. */
  peers: Map<string, MemoryPeer>;
  /** Epoch ms at which the room became empty; null while it has a live peer. */
  emptySince: number | null;
  /** The last room chat messages, oldest first. */
  chat: ChatMessage[];
}

const DEFAULT_SWEEP_INTERVAL_MS = 30_000;

/**
 * The default, single-process store. Expiry is computed from timestamps whenever a room is touched;
 * an unref()'d timer sweeps rooms nobody touches so memory does not grow, and close() stops it.
 */
export class MemoryRoomStore implements RoomStore {
  readonly kind = 'memory' as const;
  readonly #rooms = new Map<string, MemoryRoom>();
  readonly #emptyTtlMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryRoomStoreOptions) {
    if (!(options.emptyTtlS > 0)) throw new RangeError('emptyTtlS must be a positive number of seconds');
    this.#emptyTtlMs = options.emptyTtlS * 1000;
    const sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    if (!(sweepIntervalMs > 0)) throw new RangeError('sweepIntervalMs must be positive');
    this.#sweepTimer = setInterval(() => this.#sweep(), sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  async createRoom(room: RoomRecord): Promise<boolean> {
    const record = RoomRecord.parse(room);
    if (this.#live(record.roomId, Date.now())) return false;
    this.#rooms.set(record.roomId, { record, peers: new Map(), emptySince: Date.now(), chat: [] });
    return true;
  }

  onRestored(_listener: () => void): void {
    // Memory is never lost while the process lives.
  }

  async appendChat(roomId: string, message: ChatMessage, keep: number): Promise<void> {
    const room = this.#live(roomId, Date.now());
    if (!room || keep === 0) return;
    room.chat.push(structuredClone(message));
    if (room.chat.length > keep) room.chat.splice(0, room.chat.length - keep);
  }

  async chatHistory(roomId: string): Promise<ChatMessage[]> {
    return structuredClone(this.#live(roomId, Date.now())?.chat ?? []);
  }

  async setRoomAccess(roomId: string, access: RoomAccess): Promise<RoomRecord | null> {
    const room = this.#live(roomId, Date.now());
    if (!room) return null;
    room.record = { ...room.record, access: { ...access } };
    return structuredClone(room.record);
  }

  async setBreakouts(roomId: string, breakouts: BreakoutRoom[] | null): Promise<RoomRecord | null> {
    const room = this.#live(roomId, Date.now());
    if (!room) return null;
    const { breakouts: _old, ...rest } = room.record;
    room.record = RoomRecord.parse(breakouts ? { ...rest, breakouts } : rest);
    return structuredClone(room.record);
  }

  async getRoom(roomId: string): Promise<RoomRecord | null> {
    const room = this.#live(roomId, Date.now());
    return room ? structuredClone(room.record) : null;
  }

  async deleteRoom(roomId: string): Promise<boolean> {
    const existed = this.#live(roomId, Date.now()) !== null;
    this.#rooms.delete(roomId);
    return existed;
  }

  async countRooms(_limitOfInterest?: number): Promise<number> {
    const now = Date.now();
    let n = 0;
    for (const roomId of this.#rooms.keys()) if (this.#live(roomId, now)) n++;
    return n;
  }

  async listRooms(): Promise<RoomSummary[]> {
    const now = Date.now();
    const out: RoomSummary[] = [];
    for (const roomId of [...this.#rooms.keys()].sort()) {
      const room = this.#live(roomId, now);
      if (room) out.push({ room: structuredClone(room.record), peerCount: room.peers.size });
    }
    return out;
  }

  async join(roomId: string, peer: PeerRecord, options: JoinOptions): Promise<JoinResult> {
    const parsed = PeerRecord.parse(peer);
    // The caller's record when the schema had nothing to change: its session holds that same
    // object (records are replaced on update, never changed in place), so an idle peer's record
    // is kept once, not twice (issue 12).
    const record = isDeepStrictEqual(parsed, peer) ? peer : parsed;
    checkTtl(options.peerTtlMs);
    const now = Date.now();
    let room = this.#live(roomId, now);
    let created = false;
    if (!room) {
      if (!options.createWith) return { ok: false, code: 'ROOM_NOT_FOUND' };
      const roomRecord = RoomRecord.parse(options.createWith);
      if (roomRecord.roomId !== roomId) {
        throw new Error(`createWith.roomId "${roomRecord.roomId}" does not match roomId "${roomId}"`);
      }
      room = { record: roomRecord, peers: new Map(), emptySince: now, chat: [] };
      this.#rooms.set(roomId, room);
      created = true;
    }
    if (room.peers.has(record.peerId)) return { ok: false, code: 'DUPLICATE_PEER' };
    if (room.peers.size >= room.record.maxParticipants) return { ok: false, code: 'ROOM_FULL' };
    const peers = [...room.peers.values()].map((p) => structuredClone(p.record));
    room.peers.set(record.peerId, { record, expiresAt: now + options.peerTtlMs });
    room.emptySince = null;
    return { ok: true, room: structuredClone(room.record), created, peers };
  }

  async leave(roomId: string, peerId: string, onlyOnServer?: string): Promise<boolean> {
    const now = Date.now();
    const room = this.#live(roomId, now);
    const peer = room?.peers.get(peerId);
    if (!room || !peer) return false;
    if (onlyOnServer !== undefined && peer.record.serverId !== onlyOnServer) return false;
    room.peers.delete(peerId);
    if (room.peers.size === 0) room.emptySince = now;
    return true;
  }

  async movePeer(
    roomId: string,
    peerId: string,
    move: { fromServerId: string; toServerId: string; resumeHash: string | undefined; peerTtlMs: number },
  ): Promise<boolean> {
    const now = Date.now();
    const peer = this.#live(roomId, now)?.peers.get(peerId);
    if (!peer || peer.record.serverId !== move.fromServerId) return false;
    const { resumeHash: _old, ...rest } = peer.record;
    peer.record = {
      ...rest,
      serverId: move.toServerId,
      ...(move.resumeHash !== undefined ? { resumeHash: move.resumeHash } : {}),
    };
    peer.expiresAt = now + move.peerTtlMs;
    return true;
  }

  async getPeers(roomId: string): Promise<PeerRecord[]> {
    const room = this.#live(roomId, Date.now());
    return room ? [...room.peers.values()].map((p) => structuredClone(p.record)) : [];
  }

  async updateMediaState(
    roomId: string,
    peerId: string,
    mediaState: PeerRecord['mediaState'],
  ): Promise<boolean> {
    const state = MediaState.parse(mediaState);
    const peer = this.#live(roomId, Date.now())?.peers.get(peerId);
    if (!peer) return false;
    peer.record = { ...peer.record, mediaState: state };
    return true;
  }

  async refreshPeers(
    entries: ReadonlyArray<{ roomId: string; peerId: string }>,
    peerTtlMs: number,
  ): Promise<void> {
    checkTtl(peerTtlMs);
    const now = Date.now();
    for (const { roomId, peerId } of entries) {
      const peer = this.#live(roomId, now)?.peers.get(peerId);
      if (peer) peer.expiresAt = now + peerTtlMs;
    }
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#rooms.clear();
  }

  /** The room after dropping its expired peers, or null (and forgotten) when it has expired. */
  #live(roomId: string, now: number): MemoryRoom | null {
    const room = this.#rooms.get(roomId);
    if (!room) return null;
    let lastExpiry = Number.NEGATIVE_INFINITY;
    for (const [peerId, peer] of room.peers) {
      if (peer.expiresAt <= now) {
        room.peers.delete(peerId);
        lastExpiry = Math.max(lastExpiry, peer.expiresAt);
      }
    }
    // Peers that expired unnoticed made the room empty when the last of them expired, not now.
    if (room.peers.size === 0 && room.emptySince === null) room.emptySince = lastExpiry;
    if (room.emptySince !== null && room.emptySince + this.#emptyTtlMs <= now) {
      this.#rooms.delete(roomId);
      return null;
    }
    return room;
  }

  #sweep(): void {
    const now = Date.now();
    for (const roomId of this.#rooms.keys()) this.#live(roomId, now);
  }
}

function checkTtl(peerTtlMs: number): void {
  if (!Number.isInteger(peerTtlMs) || peerTtlMs <= 0) {
    throw new RangeError(`peerTtlMs must be a positive integer, got ${peerTtlMs}`);
  }
}
