import type { MediaWorkerPoolApi } from '../../workers/MediaWorkerPoolTypes.ts';
import type { SfuConfig } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import {
  type ConnectionMode,
  type OutgoingMessage,
  type ProducerInfo,
  ProtocolError,
  type RoomModePolicy,
} from '../protocol/index.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type {
  RoomMediaController,
  RoomMessenger,
  SfuClientMessage,
  SfuStatus,
} from './ConnectionManagerTypes.ts';
import { SfuRoom } from './SfuRoom.ts';
import type { SfuRoomApi, SfuRoomCloseReason } from './SfuRoomTypes.ts';

export interface ConnectionManagerOptions {
  sfuConfig: SfuConfig;
  /** Undefined when the SFU is disabled by configuration. */
  pool: MediaWorkerPoolApi | undefined;
  messenger: RoomMessenger;
  logger: Logger;
  /** Builds a room's media side; tests may swap it. */
  createSfuRoom?: (roomId: string) => Promise<SfuRoomApi>;
}

/** One room's place in the state machine p2p → upgrading → sfu → downgrading → p2p. */
interface RoomMedia {
  readonly roomId: string;
  policy: RoomModePolicy;
  mode: ConnectionMode;
  readonly peers: Set<string>;
  sfu: SfuRoomApi | undefined;
  /** Peers that reported their new path flowing (sfu-ready while upgrading, p2p-ready while downgrading). */
  readonly ready: Set<string>;
  downgradeTimer: NodeJS.Timeout | undefined;
  switchTimer: NodeJS.Timeout | undefined;
  /** Transitions are async (router creation): one at a time per room. */
  queue: Promise<void>;
  /** What peerJoining decided and peerJoined must announce once the joiner has its room-joined. */
  announce: Array<{ message: OutgoingMessage; toJoiner: boolean }>;
}

/**
 * Decides, per room, whether media goes peer-to-peer or through the SFU, and runs the switch
 * make-before-break: peers keep the old path until every one reports the new one flowing (or the
 * switch times out), and only then are they told to drop the old one.
 */
export class ConnectionManager implements RoomMediaController {
  readonly #config: SfuConfig;
  readonly #pool: MediaWorkerPoolApi | undefined;
  readonly #messenger: RoomMessenger;
  readonly #logger: Logger;
  readonly #createSfuRoom: (roomId: string) => Promise<SfuRoomApi>;
  readonly #rooms = new Map<string, RoomMedia>();
  #closed = false;
  #defaultRtpCapabilities: unknown;
  readonly #baseLogger: Logger;

  constructor(options: ConnectionManagerOptions) {
    this.#config = options.sfuConfig;
    this.#pool = options.pool;
    this.#messenger = options.messenger;
    this.#logger = options.logger.child({ component: 'ConnectionManager' });
    this.#baseLogger = options.logger;
    this.#createSfuRoom =
      options.createSfuRoom ??
      ((roomId) => {
        if (!this.#pool)
          throw new ProtocolError('SFU_UNAVAILABLE', 'The SFU is disabled (SFU_ENABLED=false)');
        return SfuRoom.create({ roomId, pool: this.#pool, sfuConfig: this.#config, logger: options.logger });
      });
  }

  modeOf(roomId: string): ConnectionMode {
    return this.#rooms.get(roomId)?.mode ?? 'p2p';
  }

  /**
   * The room's router capabilities, or, for a room without a router, the capabilities every router
   * of this server will have (same codecs, same mediasoup): clients load their Device with them
   * ahead of a switch, which takes that step off the switch's critical path.
   */
  routerRtpCapabilities(roomId: string): unknown {
    return this.#rooms.get(roomId)?.sfu?.rtpCapabilities ?? this.#defaultRtpCapabilities;
  }

  /** Learns the capabilities routers get from a throw-away router, once the pool runs. */
  async prepare(): Promise<void> {
    if (!this.#pool?.available || this.#defaultRtpCapabilities) return;
    try {
      const probe = await SfuRoom.create({
        roomId: '(capabilities probe)',
        pool: this.#pool,
        sfuConfig: this.#config,
        logger: this.#baseLogger,
      });
      this.#defaultRtpCapabilities = probe.rtpCapabilities;
      probe.close();
    } catch (err) {
      this.#logger.warn({ err }, 'could not learn router capabilities ahead of time');
    }
  }

  producersOf(roomId: string, peerId: string): ProducerInfo[] {
    return this.#rooms.get(roomId)?.sfu?.getPeerProducers(peerId) ?? [];
  }

  /** The worker pool (undefined when the SFU is disabled); for stats, benchmarks and tests. */
  get pool(): MediaWorkerPoolApi | undefined {
    return this.#pool;
  }

  /** The SFU side of a room, for tests and stats. */
  sfuRoomOf(roomId: string): SfuRoomApi | undefined {
    return this.#rooms.get(roomId)?.sfu;
  }

  status(): SfuStatus {
    const routers = [...this.#rooms.values()].filter((r) => r.sfu).length;
    if (!this.#pool) return { enabled: false, available: false, reason: 'SFU disabled', workers: 0, routers };
    return {
      enabled: true,
      available: this.#pool.available,
      ...(this.#pool.unavailableReason ? { reason: this.#pool.unavailableReason } : {}),
      workers: this.#pool.runningWorkers,
      routers,
    };
  }

  peerJoining(room: RoomRecord, peerId: string, participantCount: number): Promise<void> {
    const state = this.#ensure(room);
    return this.#serialize(state, async () => {
      state.peers.add(peerId);
      if (participantCount > this.#config.downgradeAt) this.#cancelDowngrade(state);
      if (state.mode === 'p2p' && this.#wantsSfu(state, participantCount)) {
        await this.#startUpgrade(state, participantCount, peerId);
      } else if (state.mode === 'downgrading' && participantCount > this.#config.downgradeAt) {
        // The room grew again while going down: stay on the SFU; peers drop the P2P they rebuilt.
        this.#setMode(state, 'sfu', 'room grew during downgrade', peerId);
      }
    });
  }

  peerJoined(room: RoomRecord, peerId: string, _participantCount?: number): void {
    const state = this.#rooms.get(room.roomId);
    if (!state) return;
    for (const { message, toJoiner } of state.announce.splice(0)) {
      this.#messenger.broadcast(room.roomId, message, toJoiner ? undefined : peerId);
    }
    // A newcomer in a switching room has no old path to keep: it is on the new one as soon as it is ready.
    this.#checkSwitchDone(state);
  }

  peerLeft(roomId: string, peerId: string, participantCount: number): void {
    const state = this.#rooms.get(roomId);
    if (!state) return;
    state.peers.delete(peerId);
    state.ready.delete(peerId);
    state.sfu?.removePeer(peerId);
    if (participantCount === 0) {
      this.roomClosed(roomId);
      return;
    }
    this.#checkSwitchDone(state);
    this.#maybeScheduleDowngrade(state);
  }

  roomClosed(roomId: string): void {
    const state = this.#rooms.get(roomId);
    if (!state) return;
    this.#rooms.delete(roomId);
    this.#cancelDowngrade(state);
    clearTimeout(state.switchTimer);
    this.#closeSfu(state);
  }

  async handle(
    roomId: string,
    peerId: string,
    message: SfuClientMessage,
  ): Promise<OutgoingMessage | undefined> {
    const state = this.#rooms.get(roomId);
    if (message.type === 'sfu-ready' || message.type === 'p2p-ready') {
      if (state) this.#markReady(state, peerId, message.type === 'sfu-ready' ? 'upgrading' : 'downgrading');
      return undefined;
    }
    const sfu = state?.sfu;
    if (!sfu) throw new ProtocolError('SFU_NOT_ACTIVE', `Room ${roomId} is in p2p mode`);
    switch (message.type) {
      case 'sfu-join':
        return { type: 'sfu-joined', producers: sfu.addPeer(peerId, message.rtpCapabilities) };
      case 'sfu-create-transport':
        return { type: 'sfu-transport-created', ...(await sfu.createTransport(peerId, message.direction)) };
      case 'sfu-connect-transport':
        await sfu.connectTransport(peerId, message.transportId, message.dtlsParameters);
        return { type: 'sfu-transport-connected', transportId: message.transportId };
      case 'sfu-produce': {
        const producerId = await sfu.produce(
          peerId,
          message.transportId,
          message.kind,
          message.rtpParameters,
          message.appData.source,
          message.paused,
        );
        return { type: 'sfu-produced', producerId };
      }
      case 'sfu-consume':
        return {
          type: 'sfu-consumed',
          ...(await sfu.consume(peerId, message.producerId, message.rtpCapabilities)),
        };
      case 'sfu-resume-consumer': {
        const { consumerId, producerId } = await sfu.resumeConsumer(peerId, message.consumerId);
        return { type: 'sfu-consumer-resumed', consumerId, producerId };
      }
      case 'sfu-pause-consumer': {
        const { consumerId, producerId } = await sfu.pauseConsumer(peerId, message.consumerId);
        return { type: 'sfu-consumer-paused', consumerId, producerId };
      }
      case 'sfu-pause-producer':
        await sfu.pauseProducer(peerId, message.producerId);
        return { type: 'sfu-producer-paused', producerId: message.producerId, peerId };
      case 'sfu-resume-producer':
        await sfu.resumeProducer(peerId, message.producerId);
        return { type: 'sfu-producer-resumed', producerId: message.producerId, peerId };
      case 'sfu-close-producer':
        sfu.closeProducer(peerId, message.producerId);
        return { type: 'sfu-producer-closed', producerId: message.producerId, peerId };
      case 'sfu-restart-ice':
        return {
          type: 'sfu-ice-restarted',
          transportId: message.transportId,
          iceParameters: await sfu.restartIce(peerId, message.transportId),
        };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const roomId of [...this.#rooms.keys()]) this.roomClosed(roomId);
    this.#pool?.close();
  }

  // ------------------------------------------------------------------------------------ private

  #ensure(room: RoomRecord): RoomMedia {
    let state = this.#rooms.get(room.roomId);
    if (!state) {
      state = {
        roomId: room.roomId,
        policy: room.mode,
        mode: 'p2p',
        peers: new Set(),
        sfu: undefined,
        ready: new Set(),
        downgradeTimer: undefined,
        switchTimer: undefined,
        queue: Promise.resolve(),
        announce: [],
      };
      this.#rooms.set(room.roomId, state);
    }
    return state;
  }

  #serialize(state: RoomMedia, task: () => Promise<void>): Promise<void> {
    const run = state.queue.then(task).catch((err) => {
      this.#logger.error({ err, roomId: state.roomId }, 'room transition failed');
    });
    state.queue = run;
    return run;
  }

  #wantsSfu(state: RoomMedia, participantCount: number): boolean {
    if (state.policy === 'sfu') return true;
    if (state.policy === 'p2p') return false;
    return participantCount >= this.#config.upgradeAt;
  }

  async #startUpgrade(state: RoomMedia, participantCount: number, joiningPeerId: string): Promise<void> {
    let sfu: SfuRoomApi;
    try {
      sfu = await this.#createSfuRoom(state.roomId);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      this.#logger.warn({ roomId: state.roomId, reason }, 'cannot upgrade room: SFU unavailable');
      state.announce.push({
        message: { type: 'error', code: 'SFU_UNAVAILABLE', error: `The room stays peer-to-peer: ${reason}` },
        toJoiner: true,
      });
      return;
    }
    if (!this.#rooms.has(state.roomId) || this.#closed) {
      sfu.close();
      return;
    }
    state.sfu = sfu;
    this.#wireSfuEvents(state, sfu);
    // A room with one peer has no P2P connections to keep: it goes straight to sfu.
    this.#setMode(
      state,
      participantCount <= 1 ? 'sfu' : 'upgrading',
      state.policy === 'sfu' ? 'room mode is sfu' : 'participant threshold',
      joiningPeerId,
    );
  }

  #setMode(state: RoomMedia, mode: ConnectionMode, reason: string, joiningPeerId?: string): void {
    const previousMode = state.mode;
    if (previousMode === mode) return;
    state.mode = mode;
    state.ready.clear();
    clearTimeout(state.switchTimer);
    state.switchTimer = undefined;
    this.#logger.info({ roomId: state.roomId, from: previousMode, to: mode, reason }, 'mode changed');
    if (mode === 'upgrading' || mode === 'downgrading') {
      state.switchTimer = setTimeout(() => this.#switchTimedOut(state), this.#config.switchTimeoutMs);
      state.switchTimer.unref();
    }
    const message: OutgoingMessage = {
      type: 'mode-changed',
      roomId: state.roomId,
      mode,
      previousMode,
      reason,
      ...(state.sfu ? { routerRtpCapabilities: state.sfu.rtpCapabilities } : {}),
    };
    if (joiningPeerId !== undefined) {
      // Inside peerJoining: the joiner reads the mode from room-joined; the others hear it after peer-joined.
      state.announce.push({ message, toJoiner: false });
    } else {
      this.#messenger.broadcast(state.roomId, message);
    }
    if (mode === 'p2p') this.#closeSfu(state);
    if (mode === 'sfu') this.#maybeScheduleDowngrade(state);
  }

  #markReady(state: RoomMedia, peerId: string, during: 'upgrading' | 'downgrading'): void {
    if (state.mode !== during || !state.peers.has(peerId)) return;
    state.ready.add(peerId);
    this.#checkSwitchDone(state);
  }

  #checkSwitchDone(state: RoomMedia): void {
    if (state.mode !== 'upgrading' && state.mode !== 'downgrading') return;
    for (const peerId of state.peers) if (!state.ready.has(peerId)) return;
    this.#setMode(state, state.mode === 'upgrading' ? 'sfu' : 'p2p', 'every peer ready');
  }

  #switchTimedOut(state: RoomMedia): void {
    if (state.mode !== 'upgrading' && state.mode !== 'downgrading') return;
    const waiting = [...state.peers].filter((p) => !state.ready.has(p));
    this.#logger.warn({ roomId: state.roomId, mode: state.mode, waiting }, 'switch timed out; completing');
    this.#setMode(state, state.mode === 'upgrading' ? 'sfu' : 'p2p', 'switch timeout');
  }

  #maybeScheduleDowngrade(state: RoomMedia): void {
    if (state.policy !== 'auto' || state.mode !== 'sfu' || state.downgradeTimer) return;
    if (state.peers.size > this.#config.downgradeAt) return;
    // Hysteresis: only a room that stays small for the whole delay goes back to P2P.
    state.downgradeTimer = setTimeout(() => {
      state.downgradeTimer = undefined;
      if (
        state.mode === 'sfu' &&
        state.peers.size <= this.#config.downgradeAt &&
        this.#rooms.get(state.roomId) === state
      ) {
        this.#setMode(state, 'downgrading', 'participants at or below the downgrade threshold');
      }
    }, this.#config.downgradeDelayMs);
    state.downgradeTimer.unref();
  }

  #cancelDowngrade(state: RoomMedia): void {
    clearTimeout(state.downgradeTimer);
    state.downgradeTimer = undefined;
  }

  #closeSfu(state: RoomMedia): void {
    const sfu = state.sfu;
    state.sfu = undefined;
    sfu?.close();
  }

  #wireSfuEvents(state: RoomMedia, sfu: SfuRoomApi): void {
    const { roomId } = state;
    const send = (peerId: string, message: OutgoingMessage) =>
      this.#messenger.sendTo(roomId, peerId, message);
    sfu.on('newproducer', (info) => {
      for (const peerId of sfu.peerIds)
        if (peerId !== info.peerId) send(peerId, { type: 'sfu-new-producer', ...info });
    });
    sfu.on('producerclosed', ({ producerId, peerId: owner }) => {
      for (const peerId of sfu.peerIds) {
        if (peerId !== owner) send(peerId, { type: 'sfu-producer-closed', producerId, peerId: owner });
      }
    });
    sfu.on('consumerclosed', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-closed', consumerId, producerId }),
    );
    sfu.on('consumerpaused', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-paused', consumerId, producerId }),
    );
    sfu.on('consumerresumed', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-resumed', consumerId, producerId }),
    );
    sfu.on('close', (reason: SfuRoomCloseReason) => {
      if (reason === 'closed' || state.sfu !== sfu) return;
      // The worker (or router) died under the room: fall back to P2P; peers rebuild their mesh.
      this.#logger.error({ roomId, reason }, 'sfu room lost its router; falling back to p2p');
      state.sfu = undefined;
      this.#cancelDowngrade(state);
      this.#messenger.broadcast(roomId, {
        type: 'error',
        code: 'SFU_WORKER_DIED',
        error: 'The media server of this room failed; falling back to peer-to-peer',
      });
      this.#setMode(state, 'p2p', 'media worker died');
    });
  }
}
