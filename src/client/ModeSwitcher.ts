import type { RouterRtpCapabilities } from '../protocol/index.ts';
import type { ConnectionMode, MediaPath, RoomModePolicy } from './types.ts';

/** What the switcher drives; OpenCallClient implements it over P2PMesh, SfuSession and TrackRegistry. */
export interface ModeActions {
  /** Brings the SFU session up (idempotent: a second call joins the first). */
  startSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void>;
  /** Builds the SFU session ahead of a switch, producers paused (sfu-prewarm); media stays P2P. */
  prewarmSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void>;
  /** Tears the SFU session down (transports, producers, consumers); a no-op when there is none. */
  stopSfu(): void;
  /**
   * The room's router was replaced (its worker died): a new SFU session against the new
   * capabilities, the app keeping the old tracks until the new ones replace them.
   */
  restartSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void>;
  /** Some SFU transport of ours has connected: the SFU is reachable from here. */
  sfuReachable(): boolean;
  /** Makes sure a P2P connection exists (or is being opened) to every peer; `now` skips the polite wait. */
  openMesh(options?: { now?: boolean }): void;
  /** Closes every P2P connection. */
  closeMesh(): void;
  /** Which path's track the app is shown when a source arrives over both. */
  setPreferredPath(path: MediaPath): void;
  /**
   * Resolves true once every remote track flows over `path`, with evidence (decoded frames,
   * connected transports); false once `isCurrent()` turns false. It never gives up on its own:
   * the server decides when a switch has taken too long, and says so. While `oneTrackProves()`
   * is true, one flowing track (transports connected) is enough.
   */
  waitForPath(path: MediaPath, isCurrent: () => boolean, oneTrackProves?: () => boolean): Promise<boolean>;
  /** Tells the server this client's media flows over `path` (sfu-ready / p2p-ready). */
  sendReady(path: MediaPath): void;
  modeChanged(mode: ConnectionMode, previousMode: ConnectionMode): void;
  /** A switch completed: the app's tracks now come over `path`. */
  switched(mode: ConnectionMode, path: MediaPath): void;
  error(error: unknown): void;
}

export interface ModeSwitcherOptions {
  /** Tries to bring the SFU up this many times before giving up (default 3). */
  sfuStartAttempts?: number;
  /** Delay before retry n is n times this (default 1 000 ms). */
  sfuRetryDelayMs?: number;
  /**
   * A peer that joins a room in the middle of an upgrade opens P2P too when, after this time
   * (default 2 000 ms), its SFU media does not flow and none of its SFU transports has connected:
   * until the SFU has proven reachable, the mesh is the path that works.
   */
  newcomerMeshAfterMs?: number;
}

/** Error codes after which retrying the SFU is pointless: the room is going (or stays) P2P. */
const SFU_GONE = new Set(['SFU_UNAVAILABLE', 'SFU_WORKER_DIED']);
const SFU_NOT_NOW = new Set(['SFU_NOT_ACTIVE', 'NOT_IN_ROOM']);

const codeOf = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error
    ? String((error as { code: unknown }).code)
    : undefined;

/**
 * The client's half of the room's mode state machine. The server decides the mode; this decides
 * what the client does about it, make-before-break:
 *
 *   p2p          mesh up, no SFU, app sees P2P tracks.
 *   upgrading    mesh stays (no new P2P links), SFU comes up; once every remote track flows over
 *                the SFU the app is switched to the SFU tracks and the server gets sfu-ready.
 *                Nothing is committed on a timer: the server aborts a switch that does not carry
 *                media (mode-changed back to p2p), and the mesh is still there.
 *   sfu          app sees SFU tracks, every P2P connection closes.
 *   downgrading  SFU stays, mesh comes up again; once every remote track flows over P2P the app is
 *                switched to P2P tracks and the server gets p2p-ready.
 *   p2p (again)  SFU closes. Straight from upgrading (an aborted switch) the app goes back to the
 *                P2P tracks, which never stopped.
 *
 * A client that joins a room in sfu goes straight to the SFU, with no P2P. One that joins during
 * an upgrade goes to the SFU too, but opens P2P as well when the SFU does not flow soon. A room
 * whose mode is `sfu` (roomMode) never uses P2P. Each transition bumps a generation; an async step
 * of an older one (a slow SFU start, a wait for media) that finishes late does nothing.
 */
export class ModeSwitcher {
  readonly #actions: ModeActions;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  readonly #newcomerMeshAfterMs: number;
  #mode: ConnectionMode = 'p2p';
  #policy: RoomModePolicy = 'auto';
  #preferred: MediaPath = 'p2p';
  #generation = 0;
  #routerRtpCapabilities: RouterRtpCapabilities | undefined;
  /** A newcomer of an upgrading room opened P2P as well (its SFU did not flow soon enough). */
  #meshDuringUpgrade = false;
  #newcomerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(actions: ModeActions, options: ModeSwitcherOptions = {}) {
    this.#actions = actions;
    this.#attempts = options.sfuStartAttempts ?? 3;
    this.#retryDelayMs = options.sfuRetryDelayMs ?? 1000;
    this.#newcomerMeshAfterMs = options.newcomerMeshAfterMs ?? 2000;
  }

  get mode(): ConnectionMode {
    return this.#mode;
  }

  /** What the room is meant to be, as room-joined said. */
  get policy(): RoomModePolicy {
    return this.#policy;
  }

  /** The path whose tracks the app is shown. */
  get preferredPath(): MediaPath {
    return this.#preferred;
  }

  /** New P2P connections may be opened (to a newcomer, or on the polite side's timer). */
  get allowsNewP2P(): boolean {
    if (this.#policy === 'sfu') return false;
    return (
      this.#mode === 'p2p' ||
      this.#mode === 'downgrading' ||
      (this.#mode === 'upgrading' && this.#meshDuringUpgrade)
    );
  }

  /**
   * Offers from peers we have no connection with may be answered now. Until the room commits to
   * the SFU, P2P stays possible: a newcomer of an upgrading room whose SFU does not flow offers
   * to us. In sfu mode offers wait (the mesh stashes them) until P2P is allowed again.
   */
  get acceptsP2POffers(): boolean {
    return this.#policy !== 'sfu' && this.#mode !== 'sfu';
  }

  /** Forgets everything in flight (leave, or before a rejoin). */
  reset(): void {
    this.#generation++;
    this.#mode = 'p2p';
    this.#policy = 'auto';
    this.#preferred = 'p2p';
    this.#routerRtpCapabilities = undefined;
    this.#clearNewcomer();
  }

  /** We (re)joined a room that is in `mode`. */
  joined(
    mode: ConnectionMode,
    routerRtpCapabilities?: RouterRtpCapabilities,
    policy: RoomModePolicy = 'auto',
  ): void {
    const gen = ++this.#generation;
    this.#mode = mode;
    this.#policy = policy;
    this.#clearNewcomer();
    if (routerRtpCapabilities !== undefined) this.#routerRtpCapabilities = routerRtpCapabilities;
    switch (mode) {
      case 'p2p':
        this.#prefer('p2p');
        if (policy !== 'sfu') this.#actions.openMesh();
        break;
      case 'sfu':
        this.#prefer('sfu');
        void this.#startSfu(gen);
        break;
      case 'upgrading':
        // The mesh is the proven path: P2P tracks win while both exist, until the SFU flows.
        this.#prefer('p2p');
        this.#newcomerTimer = setTimeout(() => {
          this.#newcomerTimer = undefined;
          if (!this.#isCurrent(gen) || this.#preferred === 'sfu' || this.#policy === 'sfu') return;
          // Reachable but slow (a busy machine, a key frame on its way): wait for the SFU, as the
          // others do; if it never flows the server aborts the switch and we open P2P then.
          if (this.#actions.sfuReachable()) return;
          this.#meshDuringUpgrade = true;
          this.#actions.openMesh({ now: true });
        }, this.#newcomerMeshAfterMs);
        // Its sfu-ready says that its SFU path works, on the first remote track that decodes over it:
        // it has no P2P track to replace (unless it opened the mesh after all, then every track
        // must flow first), and the room commits, closing the others' P2P, only once every peer has
        // said so. Waiting for its last track held the commit back by up to half a second.
        void this.#startSfu(gen).then((ok) => {
          if (ok) return this.#switchWhenFlowing(gen, 'sfu', () => !this.#meshDuringUpgrade);
        });
        break;
      case 'downgrading':
        // Watch over the SFU now, build P2P alongside, switch when it flows.
        this.#prefer('sfu');
        void this.#startSfu(gen);
        this.#actions.openMesh();
        void this.#switchWhenFlowing(gen, 'p2p');
        break;
    }
  }

  /** The server announced a mode change. */
  changed(
    mode: ConnectionMode,
    previousMode?: ConnectionMode,
    routerRtpCapabilities?: RouterRtpCapabilities,
  ): void {
    if (routerRtpCapabilities !== undefined) this.#routerRtpCapabilities = routerRtpCapabilities;
    if (mode === this.#mode) return;
    const from = this.#mode;
    const gen = ++this.#generation;
    this.#mode = mode;
    this.#meshDuringUpgrade = false;
    this.#clearNewcomer();
    this.#actions.modeChanged(mode, previousMode ?? from);
    switch (mode) {
      case 'upgrading':
        // Make before break: P2P keeps playing while the SFU comes up.
        void this.#startSfu(gen).then((ok) => {
          if (ok) return this.#switchWhenFlowing(gen, 'sfu');
        });
        break;
      case 'sfu':
        void this.#startSfu(gen);
        this.#switchNow('sfu');
        this.#actions.closeMesh();
        break;
      case 'downgrading':
        void this.#startSfu(gen);
        this.#actions.openMesh();
        void this.#switchWhenFlowing(gen, 'p2p');
        break;
      case 'p2p':
        if (this.#policy !== 'sfu') this.#actions.openMesh();
        this.#switchNow('p2p');
        this.#actions.stopSfu();
        break;
    }
  }

  /**
   * The server prewarmed the room's SFU (or let it go). Only a P2P room of policy auto cares: the
   * session is built in the background and used at the next `upgrading`. Failures are quiet: the
   * switch builds what is missing, as it would have without prewarm.
   */
  prewarm(active: boolean, routerRtpCapabilities?: RouterRtpCapabilities): void {
    if (this.#mode !== 'p2p' || this.#policy === 'sfu') return;
    if (!active) {
      this.#actions.stopSfu();
      return;
    }
    if (routerRtpCapabilities !== undefined) this.#routerRtpCapabilities = routerRtpCapabilities;
    const gen = this.#generation;
    this.#actions.prewarmSfu(this.#routerRtpCapabilities).catch(() => {
      // Still P2P and nothing else started since: drop the half-built session.
      if (this.#isCurrent(gen) && this.#mode === 'p2p') this.#actions.stopSfu();
    });
  }

  /** The room's router was rebuilt on another worker (sfu-restart): same mode, new SFU session. */
  restarted(routerRtpCapabilities: RouterRtpCapabilities): void {
    this.#routerRtpCapabilities = routerRtpCapabilities;
    if (this.#mode === 'p2p') return;
    const gen = this.#generation;
    void this.#runSfu(gen, () => this.#actions.restartSfu(routerRtpCapabilities));
  }

  /** The SFU is gone for good (SFU_UNAVAILABLE, SFU_WORKER_DIED): fall back to P2P, unless the room forbids it. */
  sfuFailed(): void {
    if (this.#policy === 'sfu') return;
    if (this.#mode === 'p2p') {
      this.#generation++;
      this.#actions.openMesh();
      this.#switchNow('p2p');
      this.#actions.stopSfu();
      return;
    }
    this.changed('p2p', this.#mode);
  }

  #isCurrent(gen: number): boolean {
    return gen === this.#generation;
  }

  #clearNewcomer(): void {
    if (this.#newcomerTimer) clearTimeout(this.#newcomerTimer);
    this.#newcomerTimer = undefined;
    this.#meshDuringUpgrade = false;
  }

  #prefer(path: MediaPath): void {
    this.#preferred = path;
    this.#actions.setPreferredPath(path);
  }

  /** Switches the app to `path` now; reports a completed switch only if the path really changed. */
  #switchNow(path: MediaPath): void {
    if (this.#preferred === path) return;
    this.#prefer(path);
    this.#actions.switched(this.#mode, path);
  }

  async #switchWhenFlowing(gen: number, path: MediaPath, oneTrackProves?: () => boolean): Promise<void> {
    const flowing = await this.#actions.waitForPath(path, () => this.#isCurrent(gen), oneTrackProves);
    if (!flowing || !this.#isCurrent(gen)) return;
    this.#switchNow(path);
    this.#actions.sendReady(path);
  }

  #startSfu(gen: number): Promise<boolean> {
    return this.#runSfu(gen, () => this.#actions.startSfu(this.#routerRtpCapabilities));
  }

  /** Brings the SFU up with retries; true when it is up and the transition is still current. */
  async #runSfu(gen: number, start: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await start();
        return this.#isCurrent(gen);
      } catch (error) {
        if (!this.#isCurrent(gen)) return false;
        const code = codeOf(error);
        this.#actions.stopSfu();
        if (code !== undefined && SFU_NOT_NOW.has(code)) {
          // The room has no router right now (it is being rebuilt): sfu-restart will follow.
          return false;
        }
        this.#actions.error(error);
        if (code !== undefined && SFU_GONE.has(code)) {
          this.sfuFailed();
          return false;
        }
        if (attempt >= this.#attempts) return false;
        await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs * attempt));
        if (!this.#isCurrent(gen) || this.#mode === 'p2p') return false;
      }
    }
  }
}
