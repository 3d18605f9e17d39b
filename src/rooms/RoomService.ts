import { EventEmitter } from 'node:events';
import { customAlphabet, nanoid } from 'nanoid';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import { type CreateRoomBody, type MediaState, ProtocolError } from '../protocol/index.ts';
import type { RoomStore } from './RoomStore.ts';
import type { PeerRecord, RoomRecord } from './RoomTypes.ts';

/** Friendly room ids for join links: lowercase letters and digits only. */
/** How long a room count is trusted for MAX_ROOMS: a soft cap, one store count per second at most. */
const ROOM_COUNT_CACHE_MS = 1000;

const newRoomId = customAlphabet('abcdefghijkmnopqrstuvwxyz23456789', 10);

export interface RoomServiceEvents {
  /** A room was deleted through the API: its connected peers must be told and detached. */
  roomdeleted: [roomId: string];
}

export interface JoinRequest {
  roomId: string;
  peerId?: string;
  displayName: string;
  mediaState: MediaState;
  /** SHA-256 of the peer's resumeToken, stored so any node of a cluster can check a resume. */
  resumeHash?: string | undefined;
}

export interface Joined {
  room: RoomRecord;
  self: PeerRecord;
  /** The peers that were already in the room. */
  others: PeerRecord[];
  /** With Redis: the node that runs the room's media (claimed for this node if nobody had). */
  mediaNode?: string | undefined;
}

/**
 * The membership rules of rooms, over a RoomStore: auto-create, capacity, duplicates, peer TTLs.
 * Knows nothing about sockets; signaling and REST both call it.
 */
export class RoomService extends EventEmitter<RoomServiceEvents> {
  readonly store: RoomStore;
  readonly serverId: string;
  readonly #config: Readonly<Config>;
  readonly #logger: Logger;
  #roomCount = 0;
  /** The records of rooms this process has peers in, to re-create them when Redis comes back empty. */
  readonly #known = new Map<string, RoomRecord>();
  #roomCountAt = Number.NEGATIVE_INFINITY;

  constructor(store: RoomStore, config: Readonly<Config>, logger: Logger) {
    super();
    this.store = store;
    this.#config = config;
    this.#logger = logger.child({ component: 'RoomService' });
    this.serverId = config.nodeId;
  }

  /** Peers live three heartbeat intervals without a refresh: two missed pongs plus slack. */
  get peerTtlMs(): number {
    return this.#config.heartbeatIntervalMs * 3;
  }

  newRoomRecord(input: Partial<CreateRoomBody> & { roomId?: string }): RoomRecord {
    return {
      roomId: input.roomId ?? newRoomId(),
      hostPeerId: input.hostPeerId ?? null,
      maxParticipants: input.maxParticipants ?? this.#config.maxParticipants,
      encryption: input.encryption ?? 'none',
      mode: input.mode ?? 'auto',
      createdAt: new Date().toISOString(),
    };
  }

  /** Whether another room fits under MAX_ROOMS; the count is cached for a second (a soft cap). */
  async #roomFits(): Promise<boolean> {
    const now = performance.now();
    if (now - this.#roomCountAt > ROOM_COUNT_CACHE_MS) {
      this.#roomCount = await this.store.countRooms(this.#config.maxRooms);
      this.#roomCountAt = now;
    }
    return this.#roomCount < this.#config.maxRooms;
  }

  async createRoom(body: CreateRoomBody): Promise<RoomRecord | null> {
    if (!(await this.#roomFits())) throw new ProtocolError('ROOM_LIMIT');
    const room = this.newRoomRecord(body);
    const created = await this.store.createRoom(room);
    if (created) {
      this.#roomCount++;
      this.#logger.info({ roomId: room.roomId, mode: room.mode }, 'room created');
    }
    return created ? room : null;
  }

  async join(request: JoinRequest): Promise<Joined> {
    const self: PeerRecord = {
      peerId: request.peerId ?? nanoid(12),
      displayName: request.displayName,
      mediaState: request.mediaState,
      joinedAt: new Date().toISOString(),
      serverId: this.serverId,
      ...(request.resumeHash !== undefined ? { resumeHash: request.resumeHash } : {}),
    };
    const mayCreate = this.#config.autoCreateRooms && (await this.#roomFits());
    const result = await this.store.join(request.roomId, self, {
      peerTtlMs: this.peerTtlMs,
      ...(this.#config.redis ? { claimMediaNode: this.serverId } : {}),
      // A room created by joining it is hosted by its creator (host controls; see README).
      ...(mayCreate
        ? { createWith: this.newRoomRecord({ roomId: request.roomId, hostPeerId: self.peerId }) }
        : {}),
    });
    if (!result.ok && result.code === 'ROOM_NOT_FOUND' && this.#config.autoCreateRooms) {
      throw new ProtocolError('ROOM_LIMIT');
    }
    if (!result.ok) {
      const message =
        result.code === 'ROOM_NOT_FOUND'
          ? `Room ${request.roomId} does not exist`
          : result.code === 'ROOM_FULL'
            ? `Room ${request.roomId} is full`
            : `Peer ${self.peerId} is already connected to room ${request.roomId}`;
      throw new ProtocolError(result.code, message);
    }
    this.#known.set(request.roomId, result.room);
    if (result.created) {
      this.#roomCount++;
      this.#logger.info({ roomId: request.roomId }, 'room auto-created');
    }
    return { room: result.room, self, others: result.peers, mediaNode: result.mediaNode };
  }

  /**
   * Puts these peers (this process's live ones) back into the store, re-creating their rooms from
   * the records it knows: after Redis came back empty, counts, peer lists and REST are right again
   * without any client reconnecting. Peers and rooms still there are left as they are.
   */
  async reconcile(
    peers: ReadonlyArray<{ roomId: string; record: PeerRecord }>,
  ): Promise<{ rooms: number; peers: number }> {
    let rooms = 0;
    let restored = 0;
    for (const roomId of new Set(peers.map((p) => p.roomId))) {
      const record = this.#known.get(roomId);
      if (record && (await this.store.createRoom(record))) rooms++;
    }
    for (const { roomId, record } of peers) {
      const result = await this.store.join(roomId, record, { peerTtlMs: this.peerTtlMs });
      if (result.ok) restored++;
    }
    if (rooms > 0 || restored > 0)
      this.#logger.warn({ rooms, peers: restored }, 'store reconciled after it came back');
    return { rooms, peers: restored };
  }

  /** A room record changed (host settings): a reconcile re-creates it as it is now. */
  remember(record: RoomRecord): void {
    if (this.#known.has(record.roomId)) this.#known.set(record.roomId, record);
  }

  /**
   * At start-up: removes the peers a previous life of this node left in the store (a crash leaves
   * them until their TTL), so their clients can rejoin at once. Only peers stamped with this node's
   * id are touched: what other nodes hold is theirs.
   */
  async removeLeftovers(): Promise<number> {
    const removed = await this.removePeersOf(this.serverId);
    this.leftovers.push(...removed);
    if (removed.length > 0)
      this.#logger.warn(
        { removed: removed.length, nodeId: this.serverId },
        'removed peers left by a previous run',
      );
    return removed.length;
  }

  /** The peers removeLeftovers took out, for a cluster node to announce their peer-left once it can. */
  readonly leftovers: Array<{ roomId: string; peerId: string }> = [];

  /**
   * Removes the stored peers held by `nodeId` (this node at start-up, or a dead node). Each removal
   * is conditional on the peer still being held there, and rooms are never deleted: other nodes'
   * peers and rooms stay as they are (a room left empty expires by its own TTL).
   */
  async removePeersOf(nodeId: string): Promise<Array<{ roomId: string; peerId: string }>> {
    const removed: Array<{ roomId: string; peerId: string }> = [];
    for (const { room } of await this.store.listRooms()) {
      for (const peer of await this.store.getPeers(room.roomId)) {
        if (peer.serverId === nodeId && (await this.store.leave(room.roomId, peer.peerId, nodeId))) {
          removed.push({ roomId: room.roomId, peerId: peer.peerId });
        }
      }
    }
    if (removed.length > 0 && nodeId !== this.serverId)
      this.#logger.warn({ removed: removed.length, deadNode: nodeId }, 'removed the peers of a dead node');
    return removed;
  }

  /** This process has no peer left in the room: its record need not be kept for a reconcile. */
  forget(roomId: string): void {
    this.#known.delete(roomId);
  }

  leave(roomId: string, peerId: string): Promise<boolean> {
    return this.store.leave(roomId, peerId);
  }

  async deleteRoom(roomId: string): Promise<boolean> {
    const deleted = await this.store.deleteRoom(roomId);
    this.#known.delete(roomId);
    if (deleted) {
      this.#logger.info({ roomId }, 'room deleted');
      this.emit('roomdeleted', roomId);
    }
    return deleted;
  }
}
