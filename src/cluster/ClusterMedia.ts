import type { WorkerResourceUsageEntry } from '../../workers/MediaWorkerPoolTypes.ts';
import type { Logger } from '../logger.ts';
import {
  type ConnectionMode,
  type ErrorCode,
  type ProducerInfo,
  ProtocolError,
  type ReplyBody,
  type RouterRtpCapabilities,
} from '../protocol/index.ts';
import type { RoomStore } from '../rooms/RoomStore.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type { ConnectionManager } from '../sfu/ConnectionManager.ts';
import type {
  JoinEffects,
  MediaMessage,
  MediaMessageType,
  RoomMediaController,
  SfuStatus,
} from '../sfu/ConnectionManagerTypes.ts';
import type { RecordingStarted, RecordingStopped } from '../sfu/recording/RoomRecorder.ts';
import type { SfuObjectCounts } from '../sfu/SfuRoomTypes.ts';
import type { ClusterBus } from './ClusterBus.ts';
import type { Envelope } from './ClusterBusTypes.ts';

/** How long a request to the room's media node may take before the caller gives up. */
const CALL_TIMEOUT_MS = 5_000;
/** Starting a recording may wait for a whole P2P → SFU switch. */
const RECORD_CALL_TIMEOUT_MS = 40_000;
/** A pin outlives its room by at most this much (a crashed owner's pins do not pile up). */
const PIN_TTL_MS = 24 * 3600_000;

/** Claims the pin when it is free or still names the node that went away; returns the owner. */
const REPIN = `
local current = redis.call('GET', KEYS[1])
if not current or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return ARGV[2]
end
return current`;

/** Deletes the pin only when it still names this node. */
const UNPIN = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

type Request =
  | { op: 'join'; room: RoomRecord; peerId: string; count: number }
  | { op: 'record-start'; room: RoomRecord; peerId: string }
  | { op: 'record-stop'; roomId: string; peerId: string; recordingId: string }
  | { op: 'left'; roomId: string; peerId: string; count: number }
  | { op: 'handle'; roomId: string; peerId: string; message: MediaMessage };

type Answer =
  | { ok: true; result: unknown }
  | { ok: false; code: ErrorCode; message: string; details?: unknown };

export interface ClusterMediaOptions {
  local: ConnectionManager;
  bus: ClusterBus;
  store: RoomStore;
  /** Every peer of a room known here (local and remote), for a room adopted from a dead node. */
  peersOf: (roomId: string) => Iterable<string>;
  /** The other nodes with peers in the room. */
  nodesOf: (roomId: string) => Iterable<string>;
  logger: Logger;
}

/**
 * One SFU per room, pinned to a node. The first node that sees a peer of a room join claims the
 * room's media (a Redis key, as LiveKit pins rooms); every other node forwards that room's joins,
 * leaves and SFU/switch messages to it over the cluster bus, and the owner's ConnectionManager
 * decides with the room's global participant count. Media of peers on other nodes goes to the
 * owner's announced addresses. When the owner dies (or drains), the room is pinned again by a
 * node that has peers in it, which adopts it: its peers get sfu-restart and rebuild transports.
 */
export class ClusterMedia implements RoomMediaController {
  readonly #local: ConnectionManager;
  readonly #bus: ClusterBus;
  readonly #store: RoomStore;
  readonly #peersOf: (roomId: string) => Iterable<string>;
  readonly #nodesOf: (roomId: string) => Iterable<string>;
  readonly #logger: Logger;
  readonly #owners = new Map<string, string>();
  /** Modes of rooms run elsewhere, as their mode-changed broadcasts and join answers say. */
  readonly #modes = new Map<string, ConnectionMode>();
  readonly #calls = new Map<
    number,
    { nodeId: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  #nextCall = 1;

  constructor(options: ClusterMediaOptions) {
    this.#local = options.local;
    this.#bus = options.bus;
    this.#store = options.store;
    this.#peersOf = options.peersOf;
    this.#nodesOf = options.nodesOf;
    this.#logger = options.logger.child({ component: 'ClusterMedia' });
    this.#bus.on('envelope', (e) => this.#onEnvelope(e));
    this.#bus.on('nodedead', (nodeId) => this.#ownerGone(nodeId));
    // Redis came back (maybe empty): the pins of the rooms this node runs are written again, so no
    // other node claims them meanwhile.
    this.#store.onRestored(() => {
      for (const [roomId, owner] of this.#owners) {
        if (owner !== this.#self) continue;
        this.#bus.redis
          .set(this.#pinKey(roomId), this.#self, 'PX', PIN_TTL_MS, 'NX')
          .catch((err: unknown) => this.#logger.warn({ err, roomId }, 'could not pin a room again'));
      }
    });
  }

  #pinKey(roomId: string): string {
    return `${this.#bus.keyPrefix}room:{${roomId}}:sfu-node`;
  }

  get #self(): string {
    return this.#bus.nodeId;
  }

  /** The room's media node: cached, else claimed (SET NX) or read, re-pinned if it is dead. */
  async #ownerOf(roomId: string): Promise<string> {
    const cached = this.#owners.get(roomId);
    if (cached !== undefined && this.#bus.isAlive(cached)) return cached;
    const redis = this.#bus.redis;
    let owner =
      (await redis.set(this.#pinKey(roomId), this.#self, 'PX', PIN_TTL_MS, 'NX', 'GET')) ?? this.#self;
    if (!(await this.#bus.checkAlive(owner))) owner = await this.#repin(roomId, owner);
    this.#owners.set(roomId, owner);
    return owner;
  }

  async #repin(roomId: string, gone: string): Promise<string> {
    const owner = String(
      await this.#bus.redis.eval(REPIN, 1, this.#pinKey(roomId), gone, this.#self, String(PIN_TTL_MS)),
    );
    this.#owners.set(roomId, owner);
    return owner;
  }

  modeOf(roomId: string): ConnectionMode {
    const owner = this.#owners.get(roomId);
    if (owner === undefined || owner === this.#self) return this.#local.modeOf(roomId);
    return this.#modes.get(roomId) ?? 'p2p';
  }

  /** The same on every node (same codecs, same mediasoup): a room's own router or the defaults. */
  routerRtpCapabilities(roomId?: string): RouterRtpCapabilities | undefined {
    return this.#local.routerRtpCapabilities(roomId);
  }

  async peerJoining(
    room: RoomRecord,
    peerId: string,
    participantCount: number,
    mediaNode?: string,
  ): Promise<JoinEffects> {
    // The join read (or claimed) the pin already: no second round trip unless that node is gone.
    if (mediaNode !== undefined && !this.#owners.has(room.roomId) && this.#bus.isAlive(mediaNode)) {
      this.#owners.set(room.roomId, mediaNode);
    }
    const owner = await this.#ownerOf(room.roomId);
    if (owner === this.#self) return this.#local.peerJoining(room, peerId, participantCount);
    const effects = (await this.#call(owner, {
      op: 'join',
      room,
      peerId,
      count: participantCount,
    })) as JoinEffects;
    this.#modes.set(room.roomId, effects.mode);
    return effects;
  }

  peerLeft(roomId: string, peerId: string, participantCount: number): void {
    const owner = this.#owners.get(roomId);
    if (participantCount === 0) this.#forget(roomId);
    if (owner === undefined || owner === this.#self) {
      this.#local.peerLeft(roomId, peerId, participantCount);
      if (participantCount === 0) void this.#unpin(roomId);
      return;
    }
    // A dead owner's rooms are re-pinned with the peers that are left; nothing to tell it.
    if (!this.#bus.isAlive(owner)) return;
    this.#send(owner, { op: 'left', roomId, peerId, count: participantCount }, 0);
  }

  roomClosed(roomId: string): void {
    const owner = this.#owners.get(roomId);
    this.#forget(roomId);
    this.#local.roomClosed(roomId);
    if (owner === this.#self) void this.#unpin(roomId);
  }

  async handle(
    roomId: string,
    peerId: string,
    message: MediaMessage,
  ): Promise<ReplyBody<MediaMessageType> | undefined> {
    const owner = await this.#ownerOf(roomId);
    if (owner === this.#self) return this.#local.handle(roomId, peerId, message);
    return (await this.#call(owner, { op: 'handle', roomId, peerId, message })) as
      | ReplyBody<MediaMessageType>
      | undefined;
  }

  /** Recording runs where the room's SFU runs. */
  async startRecording(room: RoomRecord): Promise<RecordingStarted> {
    const owner = await this.#ownerOf(room.roomId);
    if (owner === this.#self) return this.#local.startRecording(room);
    return (await this.#call(
      owner,
      { op: 'record-start', room, peerId: '' },
      RECORD_CALL_TIMEOUT_MS,
    )) as RecordingStarted;
  }

  async stopRecording(roomId: string, recordingId: string): Promise<RecordingStopped | undefined> {
    const owner = await this.#ownerOf(roomId);
    if (owner === this.#self) return this.#local.stopRecording(roomId, recordingId);
    const stopped = await this.#call(
      owner,
      { op: 'record-stop', roomId, peerId: '', recordingId },
      RECORD_CALL_TIMEOUT_MS,
    );
    return (stopped ?? undefined) as RecordingStopped | undefined;
  }

  /** Producers are known on the room's media node only; elsewhere REST lists none. */
  producersOf(roomId: string, peerId: string): ProducerInfo[] {
    return this.#local.producersOf(roomId, peerId);
  }

  status(): SfuStatus {
    return this.#local.status();
  }

  sfuObjectCounts(): SfuObjectCounts {
    return this.#local.sfuObjectCounts();
  }

  workerUsage(): Promise<WorkerResourceUsageEntry[]> {
    return this.#local.workerUsage();
  }

  beginShutdown(): void {
    this.#local.beginShutdown();
  }

  /**
   * Leaving on purpose: the rooms this node runs are handed over now (pins released, the other
   * nodes of each room told), instead of after the node is declared dead.
   */
  async handOver(): Promise<void> {
    for (const [roomId, owner] of [...this.#owners]) {
      if (owner !== this.#self) continue;
      await this.#unpin(roomId);
      for (const nodeId of this.#nodesOf(roomId)) this.#bus.send(nodeId, 'O', roomId, '', '');
    }
  }

  /**
   * At start-up: rooms whose media a previous life of this node ran (a crash and a restart under
   * the same NODE_ID, quicker than the others notice) have no media state here any more. Their
   * pins are released and every node told (`O`), so a node with peers there adopts them.
   */
  async releaseLeftoverPins(): Promise<number> {
    let released = 0;
    for (const { room } of await this.#store.listRooms()) {
      const owner = await this.#bus.redis.get(this.#pinKey(room.roomId));
      if (owner !== this.#self) continue;
      await this.#unpin(room.roomId);
      this.#bus.sendToAll('O', room.roomId, '', '');
      released++;
    }
    if (released > 0)
      this.#logger.warn({ rooms: released }, 'released rooms a previous run of this node pinned');
    return released;
  }

  async close(): Promise<void> {
    for (const { reject, timer } of this.#calls.values()) {
      clearTimeout(timer);
      reject(new ProtocolError('SFU_UNAVAILABLE', 'The server is shutting down'));
    }
    this.#calls.clear();
    await this.#local.close();
  }

  #forget(roomId: string): void {
    this.#owners.delete(roomId);
    this.#modes.delete(roomId);
  }

  async #unpin(roomId: string): Promise<void> {
    await this.#bus.redis.eval(UNPIN, 1, this.#pinKey(roomId), this.#self).catch(() => undefined);
  }

  /** The owner went away: every node that knows the room races to pin it; the winner adopts it. */
  #ownerGone(nodeId: string, only?: string): void {
    if (only === undefined) {
      for (const [id, call] of this.#calls) {
        if (call.nodeId !== nodeId) continue;
        this.#calls.delete(id);
        clearTimeout(call.timer);
        call.reject(new ProtocolError('SFU_UNAVAILABLE', 'The node that ran this room’s media went away'));
      }
    }
    for (const [roomId, owner] of [...this.#owners]) {
      if (owner !== nodeId || (only !== undefined && roomId !== only)) continue;
      this.#owners.delete(roomId);
      void this.#adopt(roomId, nodeId).catch((err: unknown) =>
        this.#logger.error({ err, roomId }, 'could not re-pin a room'),
      );
    }
  }

  async #adopt(roomId: string, gone: string): Promise<void> {
    const owner = await this.#repin(roomId, gone);
    if (owner !== this.#self) return;
    const room = await this.#store.getRoom(roomId);
    if (!room) return;
    const mode = this.#modes.get(roomId) ?? 'p2p';
    this.#modes.delete(roomId);
    this.#logger.warn({ roomId, from: gone, mode }, 'room media re-pinned to this node');
    // Before the sfu-restart goes out: the other nodes forward this room's requests here.
    for (const nodeId of this.#nodesOf(roomId)) this.#bus.send(nodeId, 'N', roomId, '', '');
    this.#local.adoptRoom(room, this.#peersOf(roomId), mode);
  }

  async #call(nodeId: string, request: Request, timeoutMs = CALL_TIMEOUT_MS): Promise<unknown> {
    const id = this.#nextCall++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#calls.delete(id);
        reject(new ProtocolError('SFU_UNAVAILABLE', 'The node that runs this room’s media did not answer'));
      }, timeoutMs);
      this.#calls.set(id, { nodeId, resolve, reject, timer });
      this.#send(nodeId, request, id);
    });
  }

  #send(nodeId: string, request: Request, id: number): void {
    const roomId =
      request.op === 'join' || request.op === 'record-start' ? request.room.roomId : request.roomId;
    this.#bus.send(nodeId, 'Q', roomId, request.peerId, JSON.stringify({ id, ...request }));
  }

  #onEnvelope(e: Envelope): void {
    switch (e.kind) {
      case 'Q':
        void this.#serve(e);
        return;
      case 'A': {
        const { id, ...answer } = JSON.parse(e.payload) as { id: number } & Answer;
        const call = this.#calls.get(id);
        if (!call) return;
        this.#calls.delete(id);
        clearTimeout(call.timer);
        if (answer.ok) call.resolve(answer.result);
        else call.reject(new ProtocolError(answer.code, answer.message, answer.details));
        return;
      }
      case 'O':
        this.#ownerGone(e.origin, e.roomId);
        return;
      case 'N':
        this.#owners.set(e.roomId, e.origin);
        return;
      case 'R':
        // The owner's mode-changed broadcasts tell the other nodes the room's mode.
        if (e.payload.startsWith('{"type":"mode-changed"')) {
          const { mode } = JSON.parse(e.payload) as { mode: ConnectionMode };
          this.#modes.set(e.roomId, mode);
        }
        return;
      default:
        return;
    }
  }

  /** Runs a forwarded request on this node's ConnectionManager (this node owns the room). */
  async #serve(e: Envelope): Promise<void> {
    const request = JSON.parse(e.payload) as { id: number } & Request;
    let answer: Answer;
    try {
      let result: unknown;
      if (request.op === 'join') {
        this.#owners.set(request.room.roomId, this.#self);
        result = await this.#local.peerJoining(request.room, request.peerId, request.count);
      } else if (request.op === 'record-start') {
        result = await this.#local.startRecording(request.room);
      } else if (request.op === 'record-stop') {
        result = await this.#local.stopRecording(request.roomId, request.recordingId);
      } else if (request.op === 'left') {
        this.#local.peerLeft(request.roomId, request.peerId, request.count);
        if (request.count === 0) {
          this.#forget(request.roomId);
          await this.#unpin(request.roomId);
        }
      } else {
        result = await this.#local.handle(request.roomId, request.peerId, request.message);
      }
      answer = { ok: true, result: result ?? null };
    } catch (err) {
      answer =
        err instanceof ProtocolError
          ? { ok: false, code: err.code, message: err.message, details: err.details }
          : { ok: false, code: 'INTERNAL', message: 'The room’s media node failed' };
      if (!(err instanceof ProtocolError))
        this.#logger.error({ err, op: request.op }, 'forwarded request failed');
    }
    if (request.id !== 0)
      this.#bus.send(e.origin, 'A', e.roomId, e.peerId, JSON.stringify({ id: request.id, ...answer }));
  }
}
