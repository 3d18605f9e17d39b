import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { EnhancedEventEmitter } from 'mediasoup/extras';
import type { SfuConfig } from '../src/config/Config.ts';
import type { Logger } from '../src/logger.ts';
import { ProtocolError } from '../src/protocol/errors.ts';
import { advertisedAddresses, type ListenPlan, listenInfosFor } from './ListenPlan.ts';
import type {
  AdvertisedCandidate,
  MediaWorkerPoolApi,
  MediaWorkerPoolDump,
  MediaWorkerPoolEvents,
  MediaWorkerPoolOptions,
  PoolStatus,
  WorkerLoad,
  WorkerResourceUsageEntry,
  WorkerSlotDump,
  WorkerSlotState,
} from './MediaWorkerPoolTypes.ts';
import { resolveListenPlan } from './resolveListenPlan.ts';

const DEFAULT_MAX_BACKOFF_MS = 30_000;
/** Startup errors that no retry can fix: no binary, not executable, settings the worker refuses. */
const PERMANENT_START_ERROR = /ENOENT|EACCES|ENOEXEC|wrong settings/;

/** One place in the pool: worker index i, WebRtcServer port rtcPort + i, whichever process holds it now. */
interface WorkerSlot {
  readonly index: number;
  readonly port: number | undefined;
  state: WorkerSlotState;
  worker: ms.Worker | undefined;
  webRtcServer: ms.WebRtcServer | undefined;
  /** The pid of the last worker that ran here, for the 'workerreplaced' event. */
  previousPid: number | undefined;
  routers: Set<ms.Router>;
  pendingRouters: number;
  streams: number;
  attempts: number;
  restartTimer: NodeJS.Timeout | undefined;
  lastError: string | undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The mediasoup workers of this process. Starts `sfuConfig.numWorkers` workers, each with a
 * WebRtcServer on its own port (rtcPort + index, UDP and TCP) unless a port range is configured,
 * places routers on the least-loaded worker, and replaces a worker that dies on the same port.
 * It never throws at creation: a pool whose workers cannot start reports `available: false`.
 */
export class MediaWorkerPool
  extends EnhancedEventEmitter<MediaWorkerPoolEvents>
  implements MediaWorkerPoolApi
{
  readonly #config: SfuConfig;
  readonly #logger: Logger;
  /** The logger as given, for mediasoup's own lines (a child of #logger would repeat `component`). */
  readonly #rootLogger: Logger;
  readonly #options: Required<Omit<MediaWorkerPoolOptions, 'workerBin' | 'listenPlan'>> & {
    workerBin?: string;
  };
  readonly #plan: ListenPlan;
  readonly #slots: WorkerSlot[];
  readonly #routerSlots = new Map<string, WorkerSlot>();
  #closed = false;
  /** Set when the pool can never work (disabled, no worker could start, zero workers configured). */
  #fatalReason: string | undefined;

  /** Starts the workers; resolves once each has started or failed. Never rejects. */
  static async create(
    sfuConfig: SfuConfig,
    logger: Logger,
    options: MediaWorkerPoolOptions = {},
  ): Promise<MediaWorkerPool> {
    const plan =
      options.listenPlan ??
      (sfuConfig.enabled
        ? await resolveListenPlan(sfuConfig, logger.child({ component: 'MediaWorkerPool' }))
        : { addresses: [], source: 'listen-ip' as const, warnings: [] });
    const pool = new MediaWorkerPool(sfuConfig, logger, options, plan);
    await pool.#start();
    return pool;
  }

  private constructor(
    sfuConfig: SfuConfig,
    logger: Logger,
    options: MediaWorkerPoolOptions,
    plan: ListenPlan,
  ) {
    super();
    this.#config = sfuConfig;
    this.#plan = plan;
    this.#rootLogger = logger;
    this.#logger = logger.child({ component: 'MediaWorkerPool' });
    this.#options = {
      replaceDeadWorkers: options.replaceDeadWorkers ?? true,
      restartBackoffMs: options.restartBackoffMs ?? 200,
      maxRestartBackoffMs: options.maxRestartBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      captureMediasoupLogs: options.captureMediasoupLogs ?? true,
      ...(options.workerBin !== undefined ? { workerBin: options.workerBin } : {}),
    };
    const useServer = sfuConfig.rtcPortRange === undefined;
    this.#slots = Array.from({ length: Math.max(0, sfuConfig.numWorkers) }, (_, index) => ({
      index,
      port: useServer ? sfuConfig.rtcPort + index : undefined,
      state: 'starting' as WorkerSlotState,
      worker: undefined,
      webRtcServer: undefined,
      previousPid: undefined,
      routers: new Set<ms.Router>(),
      pendingRouters: 0,
      streams: 0,
      attempts: 0,
      restartTimer: undefined,
      lastError: undefined,
    }));
    this.on('listenererror', (eventName, error) => {
      this.#logger.error({ event: eventName, err: errorMessage(error) }, 'pool event listener threw');
    });
  }

  get available(): boolean {
    return !this.#closed && this.#fatalReason === undefined && this.runningWorkers > 0;
  }

  get unavailableReason(): string | undefined {
    if (this.#closed) return 'the media worker pool is closed';
    if (this.#fatalReason !== undefined) return this.#fatalReason;
    if (this.runningWorkers > 0) return undefined;
    const errors = this.#slots.map((s) => s.lastError).filter((e): e is string => e !== undefined);
    const restarting = this.#slots.some((s) => s.state === 'restarting' || s.state === 'starting');
    return `no media worker is running${restarting ? ' (restart in progress)' : ''}${
      errors.length > 0 ? `: ${errors[errors.length - 1]}` : ''
    }`;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get size(): number {
    return this.#slots.length;
  }

  get runningWorkers(): number {
    return this.#slots.filter((s) => s.state === 'running').length;
  }

  get usesWebRtcServer(): boolean {
    return this.#config.rtcPortRange === undefined;
  }

  async createRouter(mediaCodecs: ms.RouterRtpCodecCapability[], appData?: ms.AppData): Promise<ms.Router> {
    const slot = this.#leastLoaded();
    if (!slot?.worker) {
      throw new ProtocolError('SFU_UNAVAILABLE', `Cannot create a router: ${this.unavailableReason}`);
    }
    const worker = slot.worker;
    slot.pendingRouters++;
    let router: ms.Router;
    try {
      router = await worker.createRouter({ mediaCodecs, ...(appData ? { appData } : {}) });
    } catch (error) {
      throw new ProtocolError('MEDIA_ERROR', `Cannot create a router: ${errorMessage(error)}`);
    } finally {
      slot.pendingRouters--;
    }
    // The worker may have died (and the slot moved on) while the request was in flight.
    if (router.closed || slot.worker !== worker) {
      throw new ProtocolError('MEDIA_ERROR', 'Cannot create a router: its media worker died meanwhile');
    }
    this.#trackRouter(slot, router);
    this.#logger.debug({ workerIndex: slot.index, routerId: router.id }, 'router created');
    return router;
  }

  getWebRtcServer(router: ms.Router): ms.WebRtcServer | undefined {
    return this.#routerSlots.get(router.id)?.webRtcServer;
  }

  get listenPlan(): ListenPlan {
    return this.#plan;
  }

  transportListenInfos(): ms.TransportListenInfo[] {
    const range = this.#config.rtcPortRange;
    return range
      ? listenInfosFor(this.#plan, { portRange: range })
      : listenInfosFor(this.#plan, { port: this.#config.rtcPort });
  }

  status(): PoolStatus {
    const up = this.runningWorkers;
    const total = this.#slots.length;
    const health = !this.available ? 'unavailable' : up < total ? 'degraded' : 'available';
    return {
      health,
      reason: this.unavailableReason,
      up,
      total,
      down: this.#slots
        .filter((slot) => slot.state !== 'running')
        .map((slot) => ({
          index: slot.index,
          state: slot.state,
          port: slot.port,
          reason: slot.lastError,
          attempts: slot.attempts,
        })),
      candidates: this.#candidates(),
      addressSource: this.#plan.source,
    };
  }

  getWorkerIndex(router: ms.Router): number | undefined {
    return this.#routerSlots.get(router.id)?.index;
  }

  getWorkerPids(): (number | undefined)[] {
    return this.#slots.map((s) => (s.state === 'running' ? s.worker?.pid : undefined));
  }

  async dump(): Promise<MediaWorkerPoolDump> {
    const workers = await Promise.all(this.#slots.map((slot) => this.#dumpSlot(slot)));
    return { available: this.available, unavailableReason: this.unavailableReason, workers };
  }

  async getResourceUsage(): Promise<WorkerResourceUsageEntry[]> {
    const entries: WorkerResourceUsageEntry[] = [];
    for (const slot of this.#slots) {
      const worker = slot.worker;
      if (slot.state !== 'running' || !worker) continue;
      try {
        entries.push({ index: slot.index, pid: worker.pid, usage: await worker.getResourceUsage() });
      } catch (error) {
        this.#logger.warn({ workerIndex: slot.index, err: errorMessage(error) }, 'getResourceUsage failed');
      }
    }
    return entries;
  }

  killWorkerForTest(index: number, signal: NodeJS.Signals = 'SIGKILL'): number {
    const slot = this.#slots[index];
    const pid = slot?.state === 'running' ? slot.worker?.pid : undefined;
    if (pid === undefined) throw new Error(`worker ${index} is not running`);
    process.kill(pid, signal);
    return pid;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#logger.info('closing media worker pool');
    for (const slot of this.#slots) {
      if (slot.restartTimer) clearTimeout(slot.restartTimer);
      slot.restartTimer = undefined;
      const worker = slot.worker;
      slot.worker = undefined;
      slot.webRtcServer = undefined;
      slot.state = 'closed';
      // Closing the worker closes its WebRtcServer and routers; each router emits 'workerclose'.
      worker?.close();
      slot.routers.clear();
    }
    this.#routerSlots.clear();
    this.safeEmit('close');
  }

  // ------------------------------------------------------------------------------------ private

  async #start(): Promise<void> {
    if (!this.#config.enabled) {
      this.#fatalReason = 'the SFU is disabled by configuration (SFU_ENABLED=false)';
      this.#logger.info(this.#fatalReason);
      return;
    }
    if (this.#slots.length === 0) {
      this.#fatalReason = 'no media workers are configured (MEDIASOUP_NUM_WORKERS=0)';
      this.#logger.warn(this.#fatalReason);
      return;
    }
    if (this.#options.captureMediasoupLogs) this.#captureMediasoupLogs();
    for (const warning of this.#plan.warnings) this.#logger.warn({ listen: this.#plan.source }, warning);

    await Promise.all(this.#slots.map((slot) => this.#startSlot(slot)));

    const running = this.runningWorkers;
    if (running === 0) {
      const error = this.#slots[0]?.lastError ?? 'unknown error';
      const workerBin = this.#options.workerBin ?? mediasoup.workerBin;
      if (PERMANENT_START_ERROR.test(error)) {
        // The binary is missing or unusable: trying again changes nothing.
        this.#fatalReason = `no mediasoup worker could start: ${error}`;
        this.#logger.error({ workerBin }, `${this.#fatalReason}; rooms stay peer-to-peer`);
        for (const slot of this.#slots) slot.state = 'failed';
        return;
      }
      // Something passing (a port still held by a previous process, say): retry in the background.
      this.#logger.error({ workerBin, err: error }, 'no mediasoup worker could start yet; retrying');
      for (const slot of this.#slots) this.#scheduleRestart(slot);
      return;
    }
    const candidates = this.#candidates();
    this.#logger.info(
      {
        running,
        configured: this.#slots.length,
        mode: this.usesWebRtcServer ? 'webrtcserver' : 'portrange',
        listen: this.#plan.source,
        candidates,
      },
      `media worker pool started; clients will be given ${candidates
        .map(
          (c) =>
            `${c.address}:${typeof c.port === 'number' ? c.port : `${c.port.min}-${c.port.max}`}/${c.protocol}`,
        )
        .join(', ')}`,
    );
    // Some slots failed at startup while others run: keep trying those in the background.
    for (const slot of this.#slots) {
      if (slot.state !== 'running') this.#scheduleRestart(slot);
    }
  }

  /** Starts a worker (and its WebRtcServer) in the slot. Resolves true on success, never rejects. */
  async #startSlot(slot: WorkerSlot): Promise<boolean> {
    slot.attempts++;
    let worker: ms.Worker | undefined;
    try {
      worker = await withoutSignalHandlers(() =>
        mediasoup.createWorker({
          logLevel: this.#config.logLevel,
          ...(this.#options.workerBin !== undefined ? { workerBin: this.#options.workerBin } : {}),
          appData: { workerIndex: slot.index },
        }),
      );
      let webRtcServer: ms.WebRtcServer | undefined;
      if (slot.port !== undefined) {
        webRtcServer = await worker.createWebRtcServer({
          listenInfos: listenInfosFor(this.#plan, { port: slot.port }),
        });
      }
      if (this.#closed) {
        worker.close();
        return false;
      }
      this.#adopt(slot, worker, webRtcServer);
      return true;
    } catch (error) {
      slot.lastError = errorMessage(error);
      // The process may be up (the WebRtcServer failed, e.g. port still taken): do not leak it.
      worker?.close();
      this.#logger.warn(
        { workerIndex: slot.index, port: slot.port, attempt: slot.attempts, err: slot.lastError },
        'media worker could not start',
      );
      return false;
    }
  }

  #adopt(slot: WorkerSlot, worker: ms.Worker, webRtcServer: ms.WebRtcServer | undefined): void {
    const replaced = slot.state === 'restarting' || slot.state === 'failed' || slot.previousPid !== undefined;
    slot.worker = worker;
    slot.webRtcServer = webRtcServer;
    slot.state = 'running';
    slot.attempts = 0;
    slot.lastError = undefined;
    slot.streams = 0;
    worker.on('died', (error) => this.#onWorkerDied(slot, worker, error));
    worker.on('listenererror', (eventName, error) => {
      this.#logger.error({ event: eventName, err: errorMessage(error) }, 'worker event listener threw');
    });
    this.#logger.info({ workerIndex: slot.index, pid: worker.pid, port: slot.port }, 'media worker running');
    if (replaced) {
      this.safeEmit('workerreplaced', {
        workerIndex: slot.index,
        pid: worker.pid,
        previousPid: slot.previousPid,
        port: slot.port,
      });
    }
  }

  #onWorkerDied(slot: WorkerSlot, worker: ms.Worker, error: Error): void {
    if (slot.worker !== worker) return;
    const routerIds = [...slot.routers].map((r) => r.id);
    for (const id of routerIds) this.#routerSlots.delete(id);
    slot.routers.clear();
    slot.streams = 0;
    slot.worker = undefined;
    slot.webRtcServer = undefined;
    slot.previousPid = worker.pid;
    slot.lastError = `worker died: ${error.message}`;
    slot.state = this.#closed ? 'closed' : 'restarting';
    this.#logger.error(
      { workerIndex: slot.index, pid: worker.pid, err: error.message, routerIds },
      'mediasoup worker died',
    );
    this.safeEmit('workerdied', {
      workerIndex: slot.index,
      pid: worker.pid,
      error: error.message,
      routerIds,
    });
    if (this.#closed) return;
    if (this.#options.replaceDeadWorkers) {
      this.#scheduleRestart(slot, 0);
    } else {
      slot.state = 'failed';
    }
  }

  #scheduleRestart(slot: WorkerSlot, delayMs?: number): void {
    if (this.#closed || slot.restartTimer) return;
    const error = slot.lastError ?? '';
    if (PERMANENT_START_ERROR.test(error)) {
      // No binary, or settings the worker refuses: every further try would fail the same way.
      slot.state = 'failed';
      this.#logger.error({ workerIndex: slot.index, err: error }, 'media worker slot cannot start');
      this.safeEmit('workerfailed', { workerIndex: slot.index, error });
      return;
    }
    // A passing cause (the port still held by another process, say): keep trying while we run.
    slot.state = 'restarting';
    const delay =
      delayMs ??
      Math.min(
        this.#options.maxRestartBackoffMs,
        this.#options.restartBackoffMs * 2 ** Math.min(20, Math.max(0, slot.attempts - 1)),
      );
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      void this.#startSlot(slot).then((ok) => {
        if (!ok && !this.#closed) this.#scheduleRestart(slot);
      });
    }, delay);
    // A pending restart must not keep the process alive on its own.
    slot.restartTimer.unref();
  }

  #leastLoaded(): WorkerSlot | undefined {
    let best: WorkerSlot | undefined;
    let bestLoad: WorkerLoad | undefined;
    for (const slot of this.#slots) {
      if (slot.state !== 'running' || !slot.worker) continue;
      const load = this.#load(slot);
      if (
        !bestLoad ||
        load.streams < bestLoad.streams ||
        (load.streams === bestLoad.streams && load.routers < bestLoad.routers)
      ) {
        best = slot;
        bestLoad = load;
      }
    }
    return best;
  }

  #load(slot: WorkerSlot): WorkerLoad {
    return { streams: slot.streams, routers: slot.routers.size + slot.pendingRouters };
  }

  /** Keeps the slot's router set and stream count current by watching the router's observers. */
  #trackRouter(slot: WorkerSlot, router: ms.Router): void {
    const worker = slot.worker;
    slot.routers.add(router);
    this.#routerSlots.set(router.id, slot);
    router.observer.on('close', () => {
      // When a worker dies its routers close before 'died' fires: #onWorkerDied still needs them listed.
      if (slot.worker === worker && !worker?.died) {
        slot.routers.delete(router);
        this.#routerSlots.delete(router.id);
      }
    });
    const streamClosed = () => {
      if (slot.worker === worker && slot.streams > 0) slot.streams--;
    };
    router.observer.on('newtransport', (transport) => {
      transport.observer.on('newproducer', (producer) => {
        slot.streams++;
        producer.observer.once('close', streamClosed);
      });
      transport.observer.on('newconsumer', (consumer) => {
        slot.streams++;
        consumer.observer.once('close', streamClosed);
      });
    });
  }

  async #dumpSlot(slot: WorkerSlot): Promise<WorkerSlotDump> {
    const worker = slot.state === 'running' ? slot.worker : undefined;
    const base: WorkerSlotDump = {
      index: slot.index,
      state: slot.state,
      pid: worker?.pid,
      port: slot.port,
      load: this.#load(slot),
      routerIds: [],
      webRtcServerIds: [],
      ...(slot.lastError !== undefined ? { lastError: slot.lastError } : {}),
    };
    if (!worker) return base;
    try {
      const dump = await worker.dump();
      base.routerIds = dump.routerIds;
      base.webRtcServerIds = dump.webRtcServerIds;
      if (slot.webRtcServer && !slot.webRtcServer.closed) {
        const serverDump = await slot.webRtcServer.dump();
        base.listening = { udp: serverDump.udpSockets, tcp: serverDump.tcpServers };
      }
    } catch (error) {
      base.lastError = `dump failed: ${errorMessage(error)}`;
    }
    return base;
  }

  /** The plan's addresses on each slot's port (or the port range). */
  #candidates(): AdvertisedCandidate[] {
    const range = this.#config.rtcPortRange;
    const ports = range
      ? [{ min: range.min, max: range.max }]
      : this.#slots.map((s) => s.port).filter((p): p is number => p !== undefined);
    return advertisedAddresses(this.#plan).flatMap((a) => ports.map((port) => ({ ...a, port })));
  }

  #captureMediasoupLogs(): void {
    const log = this.#rootLogger.child({ component: 'mediasoup' });
    mediasoup.setLogEventListeners({
      onwarn: (namespace, line) => log.warn({ namespace }, line),
      onerror: (namespace, line, error) =>
        log.error({ namespace, ...(error ? { err: errorMessage(error) } : {}) }, line),
    });
  }
}

/**
 * mediasoup closes every worker on the process's own SIGINT/SIGTERM, before the application has
 * said goodbye: clients would see their media die and the room fall back before server-shutdown.
 * The application owns the order of a shutdown, so the handlers a new Worker installs are removed.
 */
async function withoutSignalHandlers<T>(create: () => Promise<T>): Promise<T> {
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const before = signals.map((signal) => new Set(process.listeners(signal)));
  // The Worker constructor (which adds the handlers) runs synchronously inside createWorker.
  const pending = create();
  signals.forEach((signal, i) => {
    for (const listener of process.listeners(signal)) {
      if (!before[i]?.has(listener)) process.removeListener(signal, listener);
    }
  });
  return pending;
}
