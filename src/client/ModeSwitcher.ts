import type { ConnectionMode, MediaPath } from './types.ts';

/** What the switcher drives; OpenCallClient implements it over P2PMesh, SfuSession and TrackRegistry. */
export interface ModeActions {
  /** Brings the SFU session up (idempotent: a second call joins the first). */
  startSfu(routerRtpCapabilities: unknown): Promise<void>;
  /** Tears the SFU session down (transports, producers, consumers); a no-op when there is none. */
  stopSfu(): void;
  /** Makes sure a P2P connection exists (or is being opened) to every peer of the room. */
  openMesh(): void;
  /** Closes every P2P connection. */
  closeMesh(): void;
  /** Which path's track the app is shown when a source arrives over both. */
  setPreferredPath(path: MediaPath): void;
  /**
   * Resolves once every remote track flows over `path` (or the switch timeout passed). Should stop
   * early, resolving, once `isCurrent()` turns false.
   */
  waitForPath(path: MediaPath, isCurrent: () => boolean): Promise<void>;
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
 *   sfu          app sees SFU tracks, every P2P connection closes.
 *   downgrading  SFU stays, mesh comes up again; once every remote track flows over P2P the app is
 *                switched to P2P tracks and the server gets p2p-ready.
 *   p2p (again)  SFU closes. Straight from upgrading (the SFU failed) it also makes sure P2P is up.
 *
 * A client that joins a room already in upgrading or sfu goes straight to the SFU, with no P2P.
 * Each transition bumps a generation; an async step of an older one (a slow SFU start, a wait for
 * media) that finishes late does nothing.
 */
export class ModeSwitcher {
  readonly #actions: ModeActions;
  readonly #attempts: number;
  readonly #retryDelayMs: number;
  #mode: ConnectionMode = 'p2p';
  #preferred: MediaPath = 'p2p';
  #generation = 0;
  #routerRtpCapabilities: unknown;

  constructor(actions: ModeActions, options: ModeSwitcherOptions = {}) {
    this.#actions = actions;
    this.#attempts = options.sfuStartAttempts ?? 3;
    this.#retryDelayMs = options.sfuRetryDelayMs ?? 1000;
  }

  get mode(): ConnectionMode {
    return this.#mode;
  }

  /** The path whose tracks the app is shown. */
  get preferredPath(): MediaPath {
    return this.#preferred;
  }

  /** New P2P connections may be opened (to a newcomer, or on the polite side's timer). */
  get allowsNewP2P(): boolean {
    return this.#mode === 'p2p' || this.#mode === 'downgrading';
  }

  /**
   * Offers from peers we have no connection with may be answered now. Otherwise they wait (the
   * mesh stashes them) until the mode allows P2P again: a peer that joined during an upgrade stays
   * SFU-only even if an older peer, still seeing 'p2p', offered to it.
   */
  get acceptsP2POffers(): boolean {
    return this.allowsNewP2P;
  }

  /** Forgets everything in flight (leave, or before a rejoin). */
  reset(): void {
    this.#generation++;
    this.#mode = 'p2p';
    this.#preferred = 'p2p';
    this.#routerRtpCapabilities = undefined;
  }

  /** We (re)joined a room that is in `mode`. */
  joined(mode: ConnectionMode, routerRtpCapabilities?: unknown): void {
    const gen = ++this.#generation;
    this.#mode = mode;
    if (routerRtpCapabilities !== undefined) this.#routerRtpCapabilities = routerRtpCapabilities;
    switch (mode) {
      case 'p2p':
        this.#prefer('p2p');
        this.#actions.openMesh();
        break;
      case 'sfu':
        this.#prefer('sfu');
        void this.#startSfu(gen);
        break;
      case 'upgrading':
        // A newcomer has no P2P to keep: straight to the SFU, then tell the server it is there.
        this.#prefer('sfu');
        void this.#startSfu(gen).then(async (ok) => {
          if (!ok) return;
          await this.#actions.waitForPath('sfu', () => this.#isCurrent(gen));
          if (this.#isCurrent(gen)) this.#actions.sendReady('sfu');
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
  changed(mode: ConnectionMode, previousMode?: ConnectionMode, routerRtpCapabilities?: unknown): void {
    if (routerRtpCapabilities !== undefined) this.#routerRtpCapabilities = routerRtpCapabilities;
    if (mode === this.#mode) return;
    const from = this.#mode;
    const gen = ++this.#generation;
    this.#mode = mode;
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
        this.#actions.openMesh();
        this.#switchNow('p2p');
        this.#actions.stopSfu();
        break;
    }
  }

  /** The SFU is gone for good (SFU_UNAVAILABLE, SFU_WORKER_DIED): fall back to P2P. */
  sfuFailed(): void {
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

  async #switchWhenFlowing(gen: number, path: MediaPath): Promise<void> {
    await this.#actions.waitForPath(path, () => this.#isCurrent(gen));
    if (!this.#isCurrent(gen)) return;
    this.#switchNow(path);
    this.#actions.sendReady(path);
  }

  /** Starts the SFU with retries; true when it is up and the transition is still current. */
  async #startSfu(gen: number): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#actions.startSfu(this.#routerRtpCapabilities);
        return this.#isCurrent(gen);
      } catch (error) {
        if (!this.#isCurrent(gen)) return false;
        const code = codeOf(error);
        this.#actions.error(error);
        this.#actions.stopSfu();
        if (code !== undefined && SFU_GONE.has(code)) {
          this.sfuFailed();
          return false;
        }
        if ((code !== undefined && SFU_NOT_NOW.has(code)) || attempt >= this.#attempts) {
          if (this.#mode === 'upgrading') this.#actions.openMesh();
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs * attempt));
        if (!this.#isCurrent(gen) || this.#mode === 'p2p') return false;
      }
    }
  }
}
