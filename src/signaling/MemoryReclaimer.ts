import type { Logger } from '../logger.ts';

/** V8's gc() as `node --expose-gc` provides it. */
export type ExposedGc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

export interface MemoryReclaimerOptions {
  /** Connections that make a storm (opened with no gap of `quietMs` between them); 0: never reclaim. */
  stormConnections: number;
  /** How long no connection must open before a storm counts as over. */
  quietMs: number;
  /** `globalThis.gc` (node --expose-gc); without it the reclaimer does nothing. */
  gc: ExposedGc | undefined;
  logger: Logger;
  /** The process's resident set size in bytes (for the log line). */
  rss?: () => number;
  /** A monotonic clock in ms (tests). */
  now?: () => number;
}

/**
 * Gives a connection storm's memory back once the storm is over.
 *
 * Thousands of joins in a few seconds leave V8's heap far larger than what the peers keep alive:
 * the young generation grown to its bound, and an old space two-thirds full of the joins'
 * promoted temporaries. V8 shrinks neither while the server is idle (the heartbeat allocates too
 * little to trigger a collection), so an idle peer looked 1.3–1.5 × as costly as on a bare relay.
 * One memory-reducing collection when no connection has opened for `quietMs` returns it to the OS
 * (measured: 15 000 idle peers at 3–4 KB each instead of 7–9, for one pause of ~0.2 s). It runs at
 * most once per storm, never during one, and only with `node --expose-gc`, which `npm start` passes.
 */
export class MemoryReclaimer {
  readonly #options: MemoryReclaimerOptions;
  readonly #rss: () => number;
  readonly #now: () => number;
  #opened = 0;
  #lastOpenAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MemoryReclaimerOptions) {
    this.#options = options;
    this.#rss = options.rss ?? (() => process.memoryUsage.rss());
    this.#now = options.now ?? (() => performance.now());
  }

  /** Whether reclaiming can happen at all (a threshold set and gc exposed). */
  get enabled(): boolean {
    return this.#options.stormConnections > 0 && this.#options.gc !== undefined;
  }

  /** A connection opened. Cheap: one timer per storm, not per connection. */
  connectionOpened(): void {
    if (!this.enabled) return;
    const now = this.#now();
    // A gap of quietMs ended the last run of connections: a new one starts here.
    if (now - this.#lastOpenAt >= this.#options.quietMs) this.#opened = 0;
    this.#opened++;
    this.#lastOpenAt = now;
    if (this.#opened >= this.#options.stormConnections && !this.#timer) this.#arm(this.#options.quietMs);
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    this.#timer = setTimeout(() => this.#check(), delayMs);
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const quietFor = this.#now() - this.#lastOpenAt;
    if (quietFor < this.#options.quietMs) {
      this.#arm(this.#options.quietMs - quietFor);
      return;
    }
    const connections = this.#opened;
    this.#opened = 0;
    const rssBefore = this.#rss();
    const t0 = performance.now();
    // 'last-resort': V8's memory-reducing collection (compacts old space, shrinks the young
    // generation, hands the pages back). A regular major GC frees the objects but keeps the pages.
    this.#options.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const pauseMs = Math.round(performance.now() - t0);
    const mb = (bytes: number) => Math.round(bytes / 1048576);
    this.#options.logger.info(
      { connections, rssBeforeMB: mb(rssBefore), rssAfterMB: mb(this.#rss()), pauseMs },
      'connection storm over: memory reclaimed',
    );
  }
}

/** `globalThis.gc` when node runs with --expose-gc. */
export function exposedGc(): ExposedGc | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as ExposedGc) : undefined;
}
