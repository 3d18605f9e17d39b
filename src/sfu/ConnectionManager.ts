import type { MediaWorkerPoolApi, WorkerResourceUsageEntry } from '../../workers/MediaWorkerPoolTypes.ts';
import type { SfuConfig } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import {
  type ClientMessageOf,
  type ConnectionMode,
  isSwitchMessage,
  type OutgoingMessage,
  type ProducerInfo,
  ProtocolError,
  type ReplyBody,
  type RoomModePolicy,
  type RouterRtpCapabilities,
  type SfuOperationType,
  type SwitchMessageType,
} from '../protocol/index.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import { ActiveSpeaker } from './ActiveSpeaker.ts';
import type {
  JoinEffects,
  MediaMessage,
  MediaMessageType,
  RoomMediaController,
  RoomMessenger,
  SfuOperation,
  SfuOperationTable,
  SfuStatus,
} from './ConnectionManagerTypes.ts';
import { ReachabilityLog } from './ReachabilityLog.ts';
import {
  ffmpegAvailable,
  type RecordingStarted,
  type RecordingStopped,
  RoomRecording,
} from './recording/RoomRecorder.ts';
import { SfuRoom } from './SfuRoom.ts';
import type { ConsumerInfo, SfuObjectCounts, SfuRoomApi, SfuRoomCloseReason } from './SfuRoomTypes.ts';

/** How long a room whose worker died waits for a replacement before an `auto` room falls back to P2P. */
const REBUILD_WAIT_MS = 5_000;
/** Backoff after aborted switches: base × 4^(n−1), at most this. */
const MAX_SWITCH_BACKOFF_MS = 30 * 60_000;
/** An upgrade cut short by a dying worker is tried again this soon (the replacement starts at once). */
const WORKER_DIED_RETRY_MS = 1_000;

export interface ConnectionManagerOptions {
  sfuConfig: SfuConfig;
  /** Undefined when the SFU is disabled by configuration. */
  pool: MediaWorkerPoolApi | undefined;
  messenger: RoomMessenger;
  logger: Logger;
  /** Builds a room's media side; tests may swap it. */
  createSfuRoom?: (roomId: string) => Promise<SfuRoomApi>;
  /** Time source, for tests of the backoff. */
  now?: () => number;
}

/** Who hears a message that a transition produces. */
type Audience = 'all' | 'others';
/** Where a transition's messages go: straight to the room, or into a join's effects. */
type Announce = (message: OutgoingMessage, to: Audience) => void;

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
  retryTimer: NodeJS.Timeout | undefined;
  /** Transitions are async (router creation): one at a time per room. */
  queue: Promise<void>;
  /** Aborted switches in a row, for the backoff; a completed switch resets them. */
  failedUpgrades: number;
  failedDowngrades: number;
  /** No automatic upgrade (downgrade) before this time. */
  upgradeNotBefore: number;
  downgradeNotBefore: number;
  /** The router is gone and a new one is being built (or waited for, in a forced room). */
  rebuilding: boolean;
  /** The current switch got its one extra timeout (every waiting peer reaches the SFU, media is slow). */
  switchExtended: boolean;
  /** Who is speaking (the SFU's observer, or the peers' own level reports in P2P). */
  readonly speaker: ActiveSpeaker;
  /** Recordings under way: the room stays on the SFU while any runs. */
  holdSfu: number;
  recording: RoomRecording | undefined;
  /** Called at every mode change (startRecording waits for the SFU). */
  readonly modeWaiters: Set<() => void>;
  /**
   * The router exists ahead of the switch (SFU_PREWARM): `warm` while the room is P2P with one
   * peer short of the threshold; `spent` after SFU_PREWARM_IDLE_MS without the switch, until the
   * room shrinks (no router held forever by a room that stays just below the threshold).
   */
  prewarm: 'off' | 'warm' | 'spent';
  prewarmTimer: NodeJS.Timeout | undefined;
}

/**
 * The SFU operations, one per message the protocol routes to `sfu`; each maps onto one SfuRoom
 * method and builds its reply. The room must have a router (handle() checks that first).
 */
const sfuOperations: SfuOperationTable = {
  'sfu-join': (sfu, peerId, m) => ({ type: 'sfu-joined', producers: sfu.addPeer(peerId, m.rtpCapabilities) }),
  'sfu-create-transport': async (sfu, peerId, m) => {
    const transport = await sfu.createTransport(peerId, m.direction, m.enableSctp);
    const consumers =
      m.direction === 'recv' && m.consumeProducers === true
        ? await consumeEveryProducer(sfu, peerId)
        : undefined;
    return { type: 'sfu-transport-created', ...transport, ...(consumers && { consumers }) };
  },
  'sfu-connect-transport': async (sfu, peerId, m) => {
    await sfu.connectTransport(peerId, m.transportId, m.dtlsParameters);
    return { type: 'sfu-transport-connected', transportId: m.transportId };
  },
  'sfu-produce': async (sfu, peerId, m) => ({
    type: 'sfu-produced',
    producerId: await sfu.produce(peerId, m.transportId, m.kind, m.rtpParameters, m.appData.source, m.paused),
  }),
  'sfu-consume': async (sfu, peerId, m) => ({
    type: 'sfu-consumed',
    ...(await sfu.consume(peerId, m.producerId, m.rtpCapabilities)),
  }),
  'sfu-resume-consumer': async (sfu, peerId, m) => {
    const { consumerId, producerId } = await sfu.resumeConsumer(peerId, m.consumerId);
    return { type: 'sfu-consumer-resumed', consumerId, producerId };
  },
  'sfu-pause-consumer': async (sfu, peerId, m) => {
    const { consumerId, producerId } = await sfu.pauseConsumer(peerId, m.consumerId);
    return { type: 'sfu-consumer-paused', consumerId, producerId };
  },
  'sfu-pause-producer': async (sfu, peerId, m) => {
    await sfu.pauseProducer(peerId, m.producerId);
    return { type: 'sfu-producer-paused', producerId: m.producerId, peerId };
  },
  'sfu-resume-producer': async (sfu, peerId, m) => {
    await sfu.resumeProducer(peerId, m.producerId);
    return { type: 'sfu-producer-resumed', producerId: m.producerId, peerId };
  },
  'sfu-close-producer': (sfu, peerId, m) => {
    sfu.closeProducer(peerId, m.producerId);
    return { type: 'sfu-producer-closed', producerId: m.producerId, peerId };
  },
  'sfu-produce-data': async (sfu, peerId, m) => ({
    type: 'sfu-data-produced',
    dataProducerId: await sfu.produceData(peerId, m),
  }),
  'sfu-consume-data': async (sfu, peerId, m) => ({
    type: 'sfu-data-consumed',
    ...(await sfu.consumeData(peerId, m.dataProducerId)),
  }),
  'sfu-close-data-producer': (sfu, peerId, m) => {
    sfu.closeDataProducer(peerId, m.dataProducerId);
    return { type: 'sfu-data-producer-closed', dataProducerId: m.dataProducerId };
  },
  'sfu-restart-ice': async (sfu, peerId, m) => ({
    type: 'sfu-ice-restarted',
    transportId: m.transportId,
    iceParameters: await sfu.restartIce(peerId, m.transportId),
  }),
};

/**
 * A consumer of every other peer's producer, made on the peer's new recv transport (what
 * sfu-consume would make one by one). A producer that cannot be consumed (closed meanwhile, a codec
 * the peer lacks) is left out: the client sees it in sfu-joined and may still ask.
 */
async function consumeEveryProducer(sfu: SfuRoomApi, peerId: string): Promise<ConsumerInfo[]> {
  const made = await Promise.all(
    sfu
      .getProducers()
      .filter((p) => p.peerId !== peerId)
      .map((p) => sfu.consume(peerId, p.producerId).catch(() => undefined)),
  );
  return made.filter((c): c is ConsumerInfo => c !== undefined);
}

/** Runs the operation of the message's type (generic, so the table's entry and the message agree). */
function runOperation<T extends SfuOperationType>(
  type: T,
  sfu: SfuRoomApi,
  peerId: string,
  message: ClientMessageOf<T>,
): ReturnType<SfuOperation<T>> {
  const operation: SfuOperation<T> = sfuOperations[type];
  return operation(sfu, peerId, message);
}

/** What the switch does with a peer's report; one entry per message the protocol routes to `switch`. */
type SwitchHandlerTable = {
  [T in SwitchMessageType]: (
    state: RoomMedia | undefined,
    peerId: string,
    message: ClientMessageOf<T>,
  ) => void;
};

/**
 * Decides, per room, whether media goes peer-to-peer or through the SFU, and runs the switch
 * make-before-break: peers keep the old path until every one reports the new one flowing, with
 * evidence the server can check (its transports connected). A switch that does not get there by
 * SFU_SWITCH_TIMEOUT_MS is aborted, never committed: the room stays on the path that works, and
 * the next attempt backs off. A router lost with its worker is rebuilt on a live worker.
 */
export class ConnectionManager implements RoomMediaController {
  readonly #config: SfuConfig;
  readonly #pool: MediaWorkerPoolApi | undefined;
  readonly #messenger: RoomMessenger;
  readonly #logger: Logger;
  readonly #baseLogger: Logger;
  readonly #createSfuRoom: (roomId: string) => Promise<SfuRoomApi>;
  readonly #now: () => number;
  readonly #rooms = new Map<string, RoomMedia>();
  readonly #reachability: ReachabilityLog;
  readonly #workerWaiters = new Set<() => void>();
  #closed = false;
  #stopping = false;
  #defaultRtpCapabilities: RouterRtpCapabilities | undefined;

  constructor(options: ConnectionManagerOptions) {
    this.#config = options.sfuConfig;
    this.#pool = options.pool;
    this.#messenger = options.messenger;
    this.#logger = options.logger.child({ component: 'ConnectionManager' });
    this.#baseLogger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#reachability = new ReachabilityLog(10 * 60_000, this.#now);
    this.#createSfuRoom =
      options.createSfuRoom ??
      ((roomId) => {
        if (!this.#pool)
          throw new ProtocolError('SFU_UNAVAILABLE', 'The SFU is disabled (SFU_ENABLED=false)');
        return SfuRoom.create({ roomId, pool: this.#pool, sfuConfig: this.#config, logger: options.logger });
      });
    this.#pool?.on('workerreplaced', () => this.#onWorkerAvailable());
  }

  modeOf(roomId: string): ConnectionMode {
    return this.#rooms.get(roomId)?.mode ?? 'p2p';
  }

  /**
   * The room's router capabilities, or, for a room without a router, the capabilities every router
   * of this server will have (same codecs, same mediasoup): clients load their Device with them
   * ahead of a switch, which takes that step off the switch's critical path.
   */
  routerRtpCapabilities(roomId?: string): RouterRtpCapabilities | undefined {
    const room = roomId === undefined ? undefined : this.#rooms.get(roomId);
    return room?.sfu?.rtpCapabilities ?? this.#defaultRtpCapabilities;
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

  sfuObjectCounts(): SfuObjectCounts {
    const total: SfuObjectCounts = {
      transports: 0,
      producers: 0,
      consumers: 0,
      dataProducers: 0,
      dataConsumers: 0,
    };
    for (const room of this.#rooms.values()) {
      const counts = room.sfu?.objectCounts();
      if (!counts) continue;
      for (const key of Object.keys(total) as Array<keyof SfuObjectCounts>) total[key] += counts[key];
    }
    return total;
  }

  async workerUsage(): Promise<WorkerResourceUsageEntry[]> {
    return this.#pool ? this.#pool.getResourceUsage() : [];
  }

  status(): SfuStatus {
    const routers = [...this.#rooms.values()].filter((r) => r.sfu).length;
    const clientReachability = this.#reachability.summary();
    if (!this.#pool) {
      return {
        enabled: false,
        health: 'unavailable',
        available: false,
        reason: 'the SFU is disabled by configuration (SFU_ENABLED=false)',
        workers: { up: 0, total: 0 },
        down: [],
        candidates: [],
        addressSource: 'none',
        routers,
        clientReachability,
      };
    }
    const pool = this.#pool.status();
    return {
      enabled: true,
      health: pool.health,
      available: this.#pool.available,
      ...(pool.reason !== undefined ? { reason: pool.reason } : {}),
      workers: { up: pool.up, total: pool.total },
      down: pool.down,
      candidates: pool.candidates,
      addressSource: pool.addressSource,
      routers,
      clientReachability,
    };
  }

  async peerJoining(room: RoomRecord, peerId: string, participantCount: number): Promise<JoinEffects> {
    const state = this.#ensure(room);
    const toJoiner: OutgoingMessage[] = [];
    const toOthers: OutgoingMessage[] = [];
    const announce: Announce = (message, to) => {
      if (to === 'all') toJoiner.push(message);
      toOthers.push(message);
    };
    await this.#serialize(state, async () => {
      state.peers.add(peerId);
      if (participantCount > this.#config.downgradeAt) this.#cancelDowngrade(state);
      if (state.mode === 'p2p' && this.#wantsSfu(state, participantCount) && this.#mayUpgrade(state)) {
        await this.#startUpgrade(state, participantCount, announce);
      } else if (state.mode === 'p2p' && this.#wantsPrewarm(state, participantCount)) {
        await this.#startPrewarm(state, announce);
      } else if (state.mode === 'downgrading' && participantCount > this.#config.downgradeAt) {
        // The room grew again while going down: stay on the SFU; peers drop the P2P they rebuilt.
        this.#setMode(state, 'sfu', 'room grew during downgrade', announce);
      }
    });
    // A join that came in meanwhile may have moved the room on (the next join crossing the
    // threshold while this one made the prewarm router), and announced it to everyone registered,
    // this joiner too: room-joined must not then say an older mode. Wait for what is queued.
    for (let queued = state.queue; ; queued = state.queue) {
      await queued;
      if (queued === state.queue) break;
    }
    return {
      mode: state.mode,
      roomMode: state.policy,
      routerRtpCapabilities: this.routerRtpCapabilities(room.roomId),
      toJoiner,
      toOthers,
    };
  }

  peerLeft(roomId: string, peerId: string, participantCount: number): void {
    const state = this.#rooms.get(roomId);
    if (!state) return;
    state.peers.delete(peerId);
    state.ready.delete(peerId);
    state.speaker.remove(peerId);
    state.sfu?.removePeer(peerId);
    if (participantCount === 0) {
      this.roomClosed(roomId);
      return;
    }
    if (state.mode === 'p2p' && participantCount < this.#config.upgradeAt - 1) {
      // Below the threshold's eve again: a later growth may prewarm anew.
      this.#endPrewarm(state, 'the room shrank', 'off');
    }
    this.#checkSwitchDone(state);
    this.#maybeScheduleDowngrade(state);
  }

  async startRecording(room: RoomRecord): Promise<RecordingStarted> {
    const unavailable = (why: string) => new ProtocolError('RECORDING_UNAVAILABLE', why);
    if (room.encryption === 'e2ee') {
      throw unavailable(
        'The room is end-to-end encrypted: the server cannot see its media, so it cannot record it',
      );
    }
    if (!this.#pool?.available) throw unavailable('The SFU is not running, and recording goes through it');
    const { ffmpegPath, dir } = this.#config.recording;
    if (!(await ffmpegAvailable(ffmpegPath)))
      throw unavailable(`ffmpeg is not installed or cannot run (FFMPEG_PATH=${ffmpegPath})`);
    const state = this.#rooms.get(room.roomId);
    if (!state || state.peers.size === 0) throw unavailable('Nobody is in the room');
    if (state.recording)
      throw unavailable(`The room is being recorded already (${state.recording.info.recordingId})`);
    state.holdSfu++;
    try {
      // A P2P room moves to the SFU for the recording (mode-changed says why), whatever its size.
      if (state.mode === 'p2p') {
        await this.#serialize(state, async () => {
          if (state.mode === 'p2p') await this.#startUpgrade(state, state.peers.size, this.#broadcast(state));
        });
      }
      const deadline = Date.now() + this.#config.switchTimeoutMs * 2 + 5_000;
      while (state.mode !== 'sfu' || !state.sfu) {
        if (Date.now() > deadline || !this.#isCurrent(state) || state.mode === 'p2p') {
          throw unavailable('The room could not move to the SFU for the recording');
        }
        await new Promise<void>((wake) => {
          state.modeWaiters.add(wake);
          setTimeout(wake, 250).unref();
        });
      }
      const recording = await RoomRecording.start(room.roomId, state.sfu, {
        ffmpegPath,
        dir,
        logger: this.#baseLogger,
      });
      state.recording = recording;
      const { recordingId, startedAt } = recording.info;
      this.#messenger.broadcast(room.roomId, {
        type: 'recording-started',
        roomId: room.roomId,
        recordingId,
        startedAt,
      });
      return recording.info;
    } catch (err) {
      state.holdSfu--;
      this.#maybeScheduleDowngrade(state);
      throw err;
    }
  }

  async stopRecording(roomId: string, recordingId: string): Promise<RecordingStopped | undefined> {
    const state = this.#rooms.get(roomId);
    const recording = state?.recording;
    if (!state || !recording || recording.info.recordingId !== recordingId) return undefined;
    state.recording = undefined;
    const stopped = await recording.stop();
    state.holdSfu = Math.max(0, state.holdSfu - 1);
    const { path, sizeBytes, durationS } = stopped;
    this.#messenger.broadcast(roomId, {
      type: 'recording-stopped',
      roomId,
      recordingId,
      path,
      sizeBytes,
      durationS,
    });
    this.#maybeScheduleDowngrade(state);
    return stopped;
  }

  /**
   * Takes over a room whose media ran on another node of the cluster that went away: its peers are
   * known here from now on, and a room that was on the SFU gets a router here, its peers an
   * sfu-restart (they rebuild their transports against this node, as after a worker's death).
   */
  adoptRoom(room: RoomRecord, peerIds: Iterable<string>, mode: ConnectionMode): void {
    const state = this.#ensure(room);
    for (const peerId of peerIds) state.peers.add(peerId);
    if (mode === 'p2p' || state.sfu || state.rebuilding) return;
    state.mode = 'sfu';
    state.rebuilding = true;
    this.#logger.warn(
      { roomId: room.roomId, peers: state.peers.size },
      'adopting the SFU room of a node that went away',
    );
    void this.#rebuild(state, 'the node that ran the room’s SFU went away');
  }

  roomClosed(roomId: string): void {
    const state = this.#rooms.get(roomId);
    if (!state) return;
    this.#rooms.delete(roomId);
    state.speaker.close();
    void state.recording
      ?.stop()
      .catch((err: unknown) => this.#logger.warn({ err, roomId }, 'recording stop failed'));
    this.#cancelDowngrade(state);
    clearTimeout(state.switchTimer);
    clearTimeout(state.retryTimer);
    clearTimeout(state.prewarmTimer);
    this.#closeSfu(state);
  }

  async handle(
    roomId: string,
    peerId: string,
    message: MediaMessage,
  ): Promise<ReplyBody<MediaMessageType> | undefined> {
    const state = this.#rooms.get(roomId);
    if (isSwitchMessage(message)) {
      this.#runSwitch(message.type, state, peerId, message);
      return undefined;
    }
    const sfu = state?.sfu;
    if (!sfu) {
      throw new ProtocolError(
        'SFU_NOT_ACTIVE',
        state?.rebuilding
          ? `Room ${roomId} is rebuilding its SFU; wait for sfu-restart`
          : `Room ${roomId} is in p2p mode`,
      );
    }
    return runOperation(message.type, sfu, peerId, message);
  }

  readonly #switchHandlers: SwitchHandlerTable = {
    'sfu-ready': (state, peerId) => {
      if (state) this.#markReady(state, peerId, 'upgrading');
    },
    'p2p-ready': (state, peerId) => {
      if (state) this.#markReady(state, peerId, 'downgrading');
    },
    'sfu-transport-failed': (state, peerId, message) => this.#clientTransportFailed(state, peerId, message),
    // With a router, its observer measures the media itself; the clients' reports are for P2P.
    'audio-level': (state, peerId, message) => {
      if (state && state.mode === 'p2p' && state.peers.has(peerId))
        state.speaker.report(peerId, message.level);
    },
  };

  #runSwitch<T extends SwitchMessageType>(
    type: T,
    state: RoomMedia | undefined,
    peerId: string,
    message: ClientMessageOf<T>,
  ): void {
    const handler: SwitchHandlerTable[T] = this.#switchHandlers[type];
    handler(state, peerId, message);
  }

  beginShutdown(): void {
    this.#stopping = true;
    for (const wake of this.#workerWaiters) wake();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#stopping = true;
    this.#closed = true;
    for (const roomId of [...this.#rooms.keys()]) this.roomClosed(roomId);
    for (const wake of this.#workerWaiters) wake();
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
        retryTimer: undefined,
        queue: Promise.resolve(),
        failedUpgrades: 0,
        failedDowngrades: 0,
        upgradeNotBefore: 0,
        downgradeNotBefore: 0,
        rebuilding: false,
        switchExtended: false,
        holdSfu: 0,
        recording: undefined,
        modeWaiters: new Set(),
        prewarm: 'off',
        prewarmTimer: undefined,
        speaker: new ActiveSpeaker(
          (peerId) =>
            this.#messenger.broadcast(room.roomId, { type: 'active-speaker', roomId: room.roomId, peerId }),
          this.#now,
        ),
      };
      this.#rooms.set(room.roomId, state);
    }
    return state;
  }

  #serialize(state: RoomMedia, task: () => Promise<void> | void): Promise<void> {
    const run = state.queue.then(task).catch((err) => {
      this.#logger.error({ err, roomId: state.roomId }, 'room transition failed');
    });
    state.queue = run;
    return run;
  }

  /** Messages of a transition that no join started: everyone in the room hears them. */
  #broadcast(state: RoomMedia): Announce {
    return (message) => this.#messenger.broadcast(state.roomId, message);
  }

  #isCurrent(state: RoomMedia): boolean {
    return this.#rooms.get(state.roomId) === state && !this.#stopping;
  }

  #wantsSfu(state: RoomMedia, participantCount: number): boolean {
    if (state.policy === 'sfu' || state.holdSfu > 0) return true;
    if (state.policy === 'p2p') return false;
    return participantCount >= this.#config.upgradeAt;
  }

  /** A forced room always may; an auto room waits out the backoff of its last aborted upgrade. */
  #mayUpgrade(state: RoomMedia): boolean {
    return state.policy === 'sfu' || this.#now() >= state.upgradeNotBefore;
  }

  #backoffMs(failures: number): number {
    return Math.min(MAX_SWITCH_BACKOFF_MS, this.#config.upgradeBackoffMs * 4 ** Math.max(0, failures - 1));
  }

  /** One peer short of the threshold, in an auto room that may upgrade: get the SFU ready ahead. */
  #wantsPrewarm(state: RoomMedia, participantCount: number): boolean {
    return (
      this.#config.prewarm &&
      state.policy === 'auto' &&
      state.prewarm === 'off' &&
      state.sfu === undefined &&
      participantCount >= 2 &&
      participantCount === this.#config.upgradeAt - 1 &&
      this.#pool?.available === true &&
      this.#mayUpgrade(state)
    );
  }

  /**
   * The router now, and every peer told to build its SFU session in the background (transports
   * connected, producers paused) while media stays P2P: `sfu-prewarm`. A failure here costs
   * nothing: the switch at the threshold makes the router as it always did.
   */
  async #startPrewarm(state: RoomMedia, announce: Announce): Promise<void> {
    let sfu: SfuRoomApi;
    try {
      sfu = await this.#createSfuRoom(state.roomId);
    } catch (err) {
      this.#logger.info({ roomId: state.roomId, err: String(err) }, 'no prewarm: SFU unavailable');
      return;
    }
    if (!this.#isCurrent(state) || state.mode !== 'p2p' || state.sfu) {
      sfu.close();
      return;
    }
    this.#adoptSfu(state, sfu);
    state.prewarm = 'warm';
    clearTimeout(state.prewarmTimer);
    state.prewarmTimer = setTimeout(() => {
      void this.#serialize(state, async () => {
        if (!this.#isCurrent(state) || state.mode !== 'p2p') return;
        this.#endPrewarm(state, `idle for ${this.#config.prewarmIdleMs} ms`, 'spent');
      });
    }, this.#config.prewarmIdleMs);
    state.prewarmTimer.unref();
    this.#logger.info({ roomId: state.roomId }, 'sfu prewarmed');
    announce(
      { type: 'sfu-prewarm', roomId: state.roomId, active: true, routerRtpCapabilities: sfu.rtpCapabilities },
      'all',
    );
  }

  /**
   * Lets the prewarmed router go (the room is still P2P); peers drop their SFU sessions. `next`:
   * `off` when the room shrank (it may prewarm again), `spent` when it idled at the threshold's eve.
   */
  #endPrewarm(state: RoomMedia, reason: string, next: 'off' | 'spent'): void {
    clearTimeout(state.prewarmTimer);
    state.prewarmTimer = undefined;
    const wasWarm = state.prewarm === 'warm';
    if (wasWarm || next === 'off') state.prewarm = next;
    if (!wasWarm) return;
    this.#logger.info({ roomId: state.roomId, reason }, 'sfu prewarm released');
    this.#messenger.broadcast(state.roomId, { type: 'sfu-prewarm', roomId: state.roomId, active: false });
    this.#closeSfu(state);
  }

  async #startUpgrade(state: RoomMedia, participantCount: number, announce: Announce): Promise<void> {
    clearTimeout(state.prewarmTimer);
    state.prewarmTimer = undefined;
    if (state.sfu && state.prewarm === 'warm') {
      // Prewarmed: the router, transports and (paused) producers are there already.
      state.prewarm = 'off';
    } else {
      const sfu = await this.#routerForUpgrade(state, announce);
      if (!sfu) return;
      this.#adoptSfu(state, sfu);
    }
    // A room with one peer has no P2P connections to keep: it goes straight to sfu.
    this.#setMode(
      state,
      participantCount <= 1 ? 'sfu' : 'upgrading',
      this.#upgradeReason(state, participantCount),
      announce,
    );
  }

  /**
   * A new router for the upgrade; undefined when there is none (the room then stays P2P and
   * retries later, or, as a forced SFU room, waits for a worker) or the room moved on meanwhile.
   */
  async #routerForUpgrade(state: RoomMedia, announce: Announce): Promise<SfuRoomApi | undefined> {
    let sfu: SfuRoomApi;
    try {
      sfu = await this.#createSfuRoom(state.roomId);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (!this.#isCurrent(state)) return undefined;
      if (state.policy === 'sfu') {
        // A forced room never uses P2P: it is an SFU room without a router until a worker runs.
        this.#logger.warn({ roomId: state.roomId, reason }, 'sfu room has no router: waiting for a worker');
        state.rebuilding = true;
        this.#setMode(state, 'sfu', 'room mode is sfu', announce);
        announce(
          { type: 'error', code: 'SFU_UNAVAILABLE', error: `No media server is running yet: ${reason}` },
          'all',
        );
        return undefined;
      }
      state.failedUpgrades++;
      const retryMs = this.#backoffMs(state.failedUpgrades);
      state.upgradeNotBefore = this.#now() + retryMs;
      this.#scheduleUpgradeRetry(state, retryMs);
      this.#logger.warn(
        { roomId: state.roomId, reason, retryInMs: retryMs },
        'cannot upgrade room: SFU unavailable',
      );
      announce(
        { type: 'error', code: 'SFU_UNAVAILABLE', error: `The room stays peer-to-peer: ${reason}` },
        'all',
      );
      return undefined;
    }
    if (!this.#isCurrent(state)) {
      sfu.close();
      return undefined;
    }
    return sfu;
  }

  #upgradeReason(state: RoomMedia, participantCount: number): string {
    if (state.policy === 'sfu') return 'room mode is sfu';
    return participantCount < this.#config.upgradeAt && state.holdSfu > 0
      ? 'recording'
      : 'participant threshold';
  }

  #adoptSfu(state: RoomMedia, sfu: SfuRoomApi): void {
    state.sfu = sfu;
    state.rebuilding = false;
    this.#wireSfuEvents(state, sfu);
  }

  /**
   * Changes the mode and announces it (to the others when a join caused it: the joiner reads the
   * mode from room-joined).
   */
  #setMode(state: RoomMedia, mode: ConnectionMode, reason: string, announce: Announce): void {
    const previousMode = state.mode;
    if (previousMode === mode) return;
    state.mode = mode;
    for (const wake of state.modeWaiters) wake();
    state.modeWaiters.clear();
    state.ready.clear();
    state.switchExtended = false;
    clearTimeout(state.switchTimer);
    state.switchTimer = undefined;
    this.#logger.info({ roomId: state.roomId, from: previousMode, to: mode, reason }, 'mode changed');
    if (mode === 'upgrading' || mode === 'downgrading') this.#startSwitchTimer(state);
    announce(
      {
        type: 'mode-changed',
        roomId: state.roomId,
        mode,
        previousMode,
        reason,
        ...(state.sfu ? { routerRtpCapabilities: state.sfu.rtpCapabilities } : {}),
      },
      'others',
    );
    if (mode === 'p2p') this.#closeSfu(state);
    if (mode === 'sfu') this.#maybeScheduleDowngrade(state);
  }

  #startSwitchTimer(state: RoomMedia): void {
    clearTimeout(state.switchTimer);
    state.switchTimer = setTimeout(() => {
      void this.#serialize(state, () => this.#switchTimedOut(state));
    }, this.#config.switchTimeoutMs);
    state.switchTimer.unref();
  }

  #markReady(state: RoomMedia, peerId: string, during: 'upgrading' | 'downgrading'): void {
    if (state.mode !== during || !state.peers.has(peerId)) return;
    state.ready.add(peerId);
    this.#checkSwitchDone(state);
  }

  /**
   * A peer counts as switched when it said so and, towards the SFU, the server sees its media
   * transports connected: a client's word alone does not commit a room into a dark path.
   */
  #hasSwitched(state: RoomMedia, peerId: string): boolean {
    if (!state.ready.has(peerId)) return false;
    if (state.mode === 'upgrading') return state.sfu?.peerMediaConnected(peerId) === true;
    return true;
  }

  #checkSwitchDone(state: RoomMedia): void {
    if (state.mode !== 'upgrading' && state.mode !== 'downgrading') return;
    for (const peerId of state.peers) if (!this.#hasSwitched(state, peerId)) return;
    if (state.mode === 'upgrading') state.failedUpgrades = 0;
    else state.failedDowngrades = 0;
    this.#setMode(
      state,
      state.mode === 'upgrading' ? 'sfu' : 'p2p',
      'every peer ready',
      this.#broadcast(state),
    );
  }

  #switchTimedOut(state: RoomMedia): void {
    if (!this.#isCurrent(state)) return;
    const waiting = [...state.peers].filter((p) => !this.#hasSwitched(state, p));
    if (waiting.length === 0) {
      this.#checkSwitchDone(state);
      return;
    }
    const seconds = (this.#config.switchTimeoutMs / 1000).toFixed(1);
    if (state.mode === 'upgrading') {
      if (!state.switchExtended && waiting.every((p) => state.sfu?.peerReachable(p))) {
        // Every peer still waiting reaches the SFU (ICE connected): it is slow, not dark (a busy
        // machine, key frames on their way). The mesh still carries media; wait once more.
        state.switchExtended = true;
        this.#logger.info(
          { roomId: state.roomId, waiting },
          'switch slow but the SFU is reachable; waiting once more',
        );
        this.#startSwitchTimer(state);
        return;
      }
      const cause = `${waiting.length} of ${state.peers.size} peers got no media through the SFU within ${seconds} s`;
      if (state.policy === 'sfu') {
        // Nothing to fall back to: commit, and tell the peers that cannot reach it.
        this.#setMode(state, 'sfu', 'room mode is sfu', this.#broadcast(state));
        for (const peerId of waiting) this.#tellUnreachable(state, peerId, cause);
        return;
      }
      this.#abortUpgrade(state, cause, waiting);
    } else if (state.mode === 'downgrading') {
      this.#abortDowngrade(
        state,
        `${waiting.length} of ${state.peers.size} peers got no peer-to-peer media within ${seconds} s`,
      );
    }
  }

  /** The SFU does not carry media for everyone: stay P2P (the mesh was never closed), try later. */
  #abortUpgrade(state: RoomMedia, cause: string, waiting: string[]): void {
    if (state.mode !== 'upgrading') return;
    for (const peerId of waiting) {
      for (const transportId of state.sfu?.unconnectedTransports(peerId) ?? []) {
        this.#reachability.failed(transportId, cause);
      }
    }
    state.failedUpgrades++;
    const retryMs = this.#backoffMs(state.failedUpgrades);
    state.upgradeNotBefore = this.#now() + retryMs;
    const offered = this.#offeredAddresses();
    this.#logger.warn(
      { roomId: state.roomId, cause, waiting, offered, retryInMs: retryMs },
      'SFU unreachable: upgrade aborted, the room stays peer-to-peer',
    );
    const announce = this.#broadcast(state);
    this.#setMode(state, 'p2p', `SFU unreachable: ${cause}`, announce);
    announce(
      {
        type: 'error',
        code: 'SFU_UNREACHABLE',
        error: `The SFU could not be reached: ${cause}; no ICE connection to ${offered.join(', ') || 'its addresses'}. The room stays peer-to-peer; next try in ${Math.round(retryMs / 1000)} s.`,
      },
      'all',
    );
    this.#scheduleUpgradeRetry(state, retryMs);
  }

  /** P2P does not carry media for everyone: stay on the SFU, try the downgrade later. */
  #abortDowngrade(state: RoomMedia, cause: string): void {
    state.failedDowngrades++;
    const retryMs = this.#backoffMs(state.failedDowngrades);
    state.downgradeNotBefore = this.#now() + retryMs;
    this.#logger.warn(
      { roomId: state.roomId, cause, retryInMs: retryMs },
      'downgrade aborted; the room stays on the SFU',
    );
    this.#setMode(state, 'sfu', `peer-to-peer unreachable: ${cause}`, this.#broadcast(state));
  }

  #scheduleUpgradeRetry(state: RoomMedia, delayMs: number): void {
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(() => {
      state.retryTimer = undefined;
      void this.#serialize(state, async () => {
        if (!this.#isCurrent(state) || state.mode !== 'p2p') return;
        if (!this.#wantsSfu(state, state.peers.size) || !this.#mayUpgrade(state)) return;
        await this.#startUpgrade(state, state.peers.size, this.#broadcast(state));
      });
    }, delayMs);
    state.retryTimer.unref();
  }

  #clientTransportFailed(
    state: RoomMedia | undefined,
    peerId: string,
    message: ClientMessageOf<'sfu-transport-failed'>,
  ): void {
    const transportId = message.transportId ?? `${peerId}@${this.#now()}`;
    this.#reachability.failed(transportId, `${message.reason} (reported by the client)`);
    if (!state?.peers.has(peerId)) return;
    this.#logger.info(
      { roomId: state.roomId, peerId, reason: message.reason, mode: state.mode },
      'client SFU transport failed',
    );
    this.#transportFailed(state, peerId, message.reason);
  }

  #transportFailed(state: RoomMedia, peerId: string, reason: string): void {
    if (state.mode === 'upgrading' && state.policy !== 'sfu') {
      void this.#serialize(state, () => {
        if (!this.#isCurrent(state)) return;
        this.#abortUpgrade(state, `peer ${peerId}: ${reason}`, [peerId]);
      });
    } else if (state.mode !== 'p2p') {
      this.#tellUnreachable(state, peerId, reason);
    }
  }

  #tellUnreachable(state: RoomMedia, peerId: string, cause: string): void {
    this.#messenger.sendTo(state.roomId, peerId, {
      type: 'error',
      code: 'SFU_UNREACHABLE',
      error: `The SFU could not be reached (${cause}); no ICE connection to ${this.#offeredAddresses().join(', ') || 'its addresses'}.`,
    });
  }

  /** What the pool hands clients, as `address:port/protocol`, for messages and logs. */
  #offeredAddresses(): string[] {
    const candidates = this.#pool?.status().candidates ?? [];
    return candidates.map(
      (c) =>
        `${c.address}:${typeof c.port === 'number' ? c.port : `${c.port.min}-${c.port.max}`}/${c.protocol}`,
    );
  }

  #maybeScheduleDowngrade(state: RoomMedia): void {
    if (state.holdSfu > 0) return;
    if (state.policy !== 'auto' || state.mode !== 'sfu' || state.downgradeTimer || !state.sfu) return;
    if (state.peers.size > this.#config.downgradeAt) return;
    // Hysteresis: only a room that stays small for the whole delay goes back to P2P.
    const delay = Math.max(this.#config.downgradeDelayMs, state.downgradeNotBefore - this.#now());
    state.downgradeTimer = setTimeout(() => {
      state.downgradeTimer = undefined;
      if (
        state.mode === 'sfu' &&
        state.sfu &&
        state.peers.size <= this.#config.downgradeAt &&
        this.#isCurrent(state)
      ) {
        this.#setMode(
          state,
          'downgrading',
          'participants at or below the downgrade threshold',
          this.#broadcast(state),
        );
      }
    }, delay);
    state.downgradeTimer.unref();
  }

  #cancelDowngrade(state: RoomMedia): void {
    clearTimeout(state.downgradeTimer);
    state.downgradeTimer = undefined;
  }

  #closeSfu(state: RoomMedia): void {
    const sfu = state.sfu;
    state.sfu = undefined;
    state.rebuilding = false;
    sfu?.close();
  }

  /**
   * sfu-new-producer to one peer, with the consumer made for it already when it has a recv
   * transport (as mediasoup-demo does): its client attaches and resumes it without a sfu-consume
   * round trip, one of the steps between a newcomer's camera and everyone seeing it. A peer with
   * no recv transport yet, or a consumer that cannot be made, gets the plain push and consumes
   * on its own; a producer gone meanwhile gets no push (its sfu-producer-closed went out already).
   */
  async #announceProducer(
    sfu: SfuRoomApi,
    peerId: string,
    info: ProducerInfo,
    send: (peerId: string, message: OutgoingMessage) => void,
  ): Promise<void> {
    let consumer: ConsumerInfo | undefined;
    if (sfu.hasRecvTransport(peerId)) {
      consumer = await sfu.consume(peerId, info.producerId).catch(() => undefined);
      if (!sfu.hasProducer(info.producerId)) return;
    }
    send(peerId, {
      type: 'sfu-new-producer',
      ...info,
      ...(consumer && {
        consumer: {
          consumerId: consumer.consumerId,
          rtpParameters: consumer.rtpParameters,
          paused: consumer.paused,
          producerPaused: consumer.producerPaused,
        },
      }),
    });
  }

  #wireSfuEvents(state: RoomMedia, sfu: SfuRoomApi): void {
    const { roomId } = state;
    const send = (peerId: string, message: OutgoingMessage) =>
      this.#messenger.sendTo(roomId, peerId, message);
    sfu.on('activespeaker', ({ peerId }) => state.speaker.set(peerId));
    sfu.on('newproducer', (info) => {
      for (const peerId of sfu.peerIds) {
        if (peerId !== info.peerId) void this.#announceProducer(sfu, peerId, info, send);
      }
    });
    sfu.on('producerclosed', ({ producerId, peerId: owner }) => {
      for (const peerId of sfu.peerIds) {
        if (peerId !== owner) send(peerId, { type: 'sfu-producer-closed', producerId, peerId: owner });
      }
    });
    sfu.on('newdataproducer', ({ toPeerId, ...info }) => {
      for (const peerId of toPeerId !== undefined ? [toPeerId] : sfu.peerIds)
        if (peerId !== info.peerId) send(peerId, { type: 'sfu-new-data-producer', ...info });
    });
    sfu.on('dataconsumerclosed', ({ peerId, dataConsumerId, dataProducerId }) =>
      send(peerId, { type: 'sfu-data-consumer-closed', dataConsumerId, dataProducerId }),
    );
    sfu.on('consumerclosed', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-closed', consumerId, producerId }),
    );
    sfu.on('consumerpaused', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-paused', consumerId, producerId }),
    );
    sfu.on('consumerresumed', ({ peerId, consumerId, producerId }) =>
      send(peerId, { type: 'sfu-consumer-resumed', consumerId, producerId }),
    );
    sfu.on('transportconnected', ({ transportId }) => {
      this.#reachability.connected(transportId);
      if (state.sfu === sfu) this.#checkSwitchDone(state);
    });
    sfu.on('transportfailed', ({ peerId, transportId, reason }) => {
      this.#reachability.failed(transportId, reason);
      if (state.sfu === sfu && state.peers.has(peerId)) this.#transportFailed(state, peerId, reason);
    });
    sfu.on('close', (reason: SfuRoomCloseReason) => {
      if (reason === 'closed' || state.sfu !== sfu) return;
      this.#onRouterLost(state, reason);
    });
  }

  /** The worker (or router) died under the room. */
  #onRouterLost(state: RoomMedia, reason: SfuRoomCloseReason): void {
    state.sfu = undefined;
    // A shutdown closes workers too: that is not a crash to recover from.
    if (!this.#isCurrent(state)) return;
    this.#logger.error({ roomId: state.roomId, reason, mode: state.mode }, 'sfu room lost its router');
    this.#cancelDowngrade(state);
    if (state.mode === 'upgrading') {
      // The mesh is still up: stay on it, and try again once a worker runs.
      state.upgradeNotBefore = this.#now() + WORKER_DIED_RETRY_MS;
      this.#setMode(state, 'p2p', 'media worker died during the upgrade', this.#broadcast(state));
      this.#scheduleUpgradeRetry(state, WORKER_DIED_RETRY_MS);
      return;
    }
    if (state.mode === 'p2p') return;
    state.rebuilding = true;
    void this.#rebuild(state, 'media worker died');
  }

  /**
   * A new router for a room in sfu (or downgrading) mode, on a live worker or on the replacement
   * of the dead one; its peers get sfu-restart and rebuild their transports. Not serialized with
   * the room's transitions: a join meanwhile sees the room as sfu and is told by sfu-restart too.
   */
  async #rebuild(state: RoomMedia, why: string): Promise<void> {
    const started = this.#now();
    let sfu = await this.#tryCreateSfu(state);
    if (!sfu && this.#isCurrent(state) && this.#workerMayCome()) {
      await this.#waitForWorker(REBUILD_WAIT_MS);
      sfu = await this.#tryCreateSfu(state);
    }
    if (!this.#isCurrent(state) || state.sfu || state.mode === 'p2p') {
      sfu?.close();
      return;
    }
    if (sfu) {
      this.#adoptSfu(state, sfu);
      this.#logger.info(
        { roomId: state.roomId, routerId: sfu.routerId, tookMs: this.#now() - started },
        'sfu room rebuilt on a new router',
      );
      this.#messenger.broadcast(state.roomId, {
        type: 'sfu-restart',
        roomId: state.roomId,
        routerRtpCapabilities: sfu.rtpCapabilities,
        reason: why,
      });
      this.#maybeScheduleDowngrade(state);
      return;
    }
    if (state.policy === 'sfu') {
      // Never P2P: wait for a worker (#onWorkerAvailable), and say so.
      this.#logger.error({ roomId: state.roomId }, 'no media worker for an sfu room; waiting');
      this.#messenger.broadcast(state.roomId, {
        type: 'error',
        code: 'SFU_UNAVAILABLE',
        error: 'The media server of this room failed and no other is running yet; waiting for one',
      });
      return;
    }
    state.rebuilding = false;
    this.#logger.error({ roomId: state.roomId }, 'no media worker can run; falling back to p2p');
    const announce = this.#broadcast(state);
    announce(
      {
        type: 'error',
        code: 'SFU_WORKER_DIED',
        error: 'The media server of this room failed and none can run; falling back to peer-to-peer',
      },
      'all',
    );
    this.#setMode(state, 'p2p', 'no media worker can run', announce);
  }

  async #tryCreateSfu(state: RoomMedia): Promise<SfuRoomApi | undefined> {
    if (!this.#isCurrent(state)) return undefined;
    try {
      return await this.#createSfuRoom(state.roomId);
    } catch (err) {
      this.#logger.warn(
        { roomId: state.roomId, err: err instanceof Error ? err.message : String(err) },
        'no router for the room yet',
      );
      return undefined;
    }
  }

  /** Some worker slot is starting or restarting, so waiting can help. */
  #workerMayCome(): boolean {
    return this.#pool?.status().down.some((s) => s.state === 'restarting' || s.state === 'starting') ?? false;
  }

  #waitForWorker(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#workerWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      this.#workerWaiters.add(done);
    });
  }

  /** A worker (re)started: wake rebuilds that wait, and give forced rooms without a router one. */
  #onWorkerAvailable(): void {
    for (const wake of [...this.#workerWaiters]) wake();
    for (const state of this.#rooms.values()) {
      if (state.rebuilding && !state.sfu && state.policy === 'sfu' && state.peers.size > 0) {
        void this.#serialize(state, () => this.#rebuild(state, 'a media worker is running again'));
      }
    }
  }
}
