import type { types as ms } from 'mediasoup';
import type { EnhancedEventEmitter } from 'mediasoup/extras';
import type { AdvertisedAddress, ListenPlan, ListenPlanSource } from './ListenPlan.ts';

/** Knobs that are not in SfuConfig: mostly for tests and for operators who know what they do. */
export interface MediaWorkerPoolOptions {
  /**
   * Path of the mediasoup-worker binary. Defaults to mediasoup's own choice: the
   * MEDIASOUP_WORKER_BIN environment variable, else the binary inside node_modules.
   */
  workerBin?: string;
  /** Replace a worker that dies (default true). */
  replaceDeadWorkers?: boolean;
  /**
   * Delay before the second try to start a slot; it doubles on every further try, up to
   * maxRestartBackoffMs. A slot is retried for as long as the pool runs, unless the error is
   * permanent (no binary). Default 200 ms.
   */
  restartBackoffMs?: number;
  /** Longest wait between two tries. Default 30 s. */
  maxRestartBackoffMs?: number;
  /** Where workers listen, instead of resolving it from the configuration (tests). */
  listenPlan?: ListenPlan;
  /**
   * Send mediasoup's own warn/error log lines (its Node side and the worker's stderr) to the pino
   * logger. mediasoup keeps one set of log listeners per process: the last pool created wins.
   * Default true.
   */
  captureMediasoupLogs?: boolean;
}

/** What one worker slot is doing right now. */
export type WorkerSlotState = 'starting' | 'running' | 'restarting' | 'failed' | 'closed';

/** A worker died. Its routers are closed already (each emitted 'workerclose' before this). */
export interface WorkerDiedEvent {
  workerIndex: number;
  pid: number;
  /** Why: exit code / signal as mediasoup reports it. */
  error: string;
  /** Ids of the routers that lived on the dead worker. */
  routerIds: string[];
}

/** A dead (or never started) worker slot runs again. */
export interface WorkerReplacedEvent {
  workerIndex: number;
  pid: number;
  previousPid: number | undefined;
  /** The WebRtcServer port, the same as before, when the pool uses WebRtcServers. */
  port: number | undefined;
}

/** A slot cannot start for a reason no retry fixes (no worker binary); it stays down. */
export interface WorkerFailedEvent {
  workerIndex: number;
  error: string;
}

export type MediaWorkerPoolEvents = {
  workerdied: [WorkerDiedEvent];
  workerreplaced: [WorkerReplacedEvent];
  workerfailed: [WorkerFailedEvent];
  close: [];
};

/** Load figure of one worker: what createRouter compares. */
export interface WorkerLoad {
  /** Producers plus consumers on every router of the worker: each is per-packet work for it. */
  streams: number;
  /** Routers on the worker, including ones being created. */
  routers: number;
}

export interface WorkerSlotDump {
  index: number;
  state: WorkerSlotState;
  pid: number | undefined;
  /** WebRtcServer port (UDP and TCP), absent in port-range mode. */
  port: number | undefined;
  load: WorkerLoad;
  /** From worker.dump(); empty when the worker is not running. */
  routerIds: string[];
  webRtcServerIds: string[];
  /** From webRtcServer.dump(): where it actually listens. */
  listening?: { udp: ms.IpPort[]; tcp: ms.IpPort[] };
  lastError?: string;
}

export interface MediaWorkerPoolDump {
  available: boolean;
  unavailableReason: string | undefined;
  workers: WorkerSlotDump[];
}

export interface WorkerResourceUsageEntry {
  index: number;
  pid: number;
  usage: ms.WorkerResourceUsage;
}

/** available: every slot runs; degraded: some do; unavailable: none does (or the SFU is off). */
export type PoolHealth = 'available' | 'degraded' | 'unavailable';

/** One address and port a client is given for ICE. */
export interface AdvertisedCandidate extends AdvertisedAddress {
  /** A WebRtcServer port, or the first..last port of the range in port-range mode. */
  port: number | { min: number; max: number };
}

export interface PoolStatus {
  health: PoolHealth;
  reason: string | undefined;
  up: number;
  total: number;
  /** Slots that are not running, with why. */
  down: Array<{
    index: number;
    state: WorkerSlotState;
    port: number | undefined;
    reason: string | undefined;
    /** Tries to start the slot so far; it keeps trying while the pool runs. */
    attempts: number;
  }>;
  /** What clients are handed in ICE candidates (the listen plan, per port). */
  candidates: AdvertisedCandidate[];
  /** How those addresses were chosen. */
  addressSource: ListenPlanSource;
}

/** The public face of MediaWorkerPool; SfuRoom and the room owner depend on this only. */
export interface MediaWorkerPoolApi extends EnhancedEventEmitter<MediaWorkerPoolEvents> {
  /** At least one worker runs, so createRouter can succeed. */
  readonly available: boolean;
  /** Why the pool cannot create routers; undefined while it can. */
  readonly unavailableReason: string | undefined;
  readonly closed: boolean;
  /** Configured number of workers. */
  readonly size: number;
  /** Workers running right now. */
  readonly runningWorkers: number;
  /** True when each worker has a WebRtcServer (no port range configured). */
  readonly usesWebRtcServer: boolean;
  /**
   * A router on the least-loaded running worker. Rejects with ProtocolError SFU_UNAVAILABLE when
   * no worker runs, MEDIA_ERROR when mediasoup refuses (bad codecs, worker died meanwhile).
   */
  createRouter(mediaCodecs: ms.RouterRtpCodecCapability[], appData?: ms.AppData): Promise<ms.Router>;
  /** The WebRtcServer of the worker that hosts this router; undefined in port-range mode. */
  getWebRtcServer(router: ms.Router): ms.WebRtcServer | undefined;
  /** listenInfos for a transport of its own (port-range mode). */
  transportListenInfos(): ms.TransportListenInfo[];
  /** Where the workers listen and what clients are told. */
  readonly listenPlan: ListenPlan;
  /** Health, per-slot reasons and the advertised candidates, for /ready and logs. */
  status(): PoolStatus;
  /** Which slot hosts this router, or undefined once the router is gone. */
  getWorkerIndex(router: ms.Router): number | undefined;
  /** Per-slot pid (undefined while a slot is down). */
  getWorkerPids(): (number | undefined)[];
  dump(): Promise<MediaWorkerPoolDump>;
  getResourceUsage(): Promise<WorkerResourceUsageEntry[]>;
  /** Test only: sends `signal` (SIGKILL by default) to a worker process; returns its pid. */
  killWorkerForTest(index: number, signal?: NodeJS.Signals): number;
  /** Closes every worker (and so every router on them). Idempotent. */
  close(): void;
}
