/**
 * Whether clients reach the SFU: the transports that connected and that failed over a sliding
 * window, so an operator sees a broken announced address on /ready without opening a browser.
 */
export interface ReachabilitySummary {
  windowS: number;
  connected: number;
  failed: number;
  /** The newest failure in the window, with its cause. */
  lastFailure?: { at: string; reason: string };
}

interface Entry {
  at: number;
  ok: boolean;
  reason: string;
}

export class ReachabilityLog {
  readonly #windowMs: number;
  readonly #now: () => number;
  #entries: Entry[] = [];
  /** Transports counted already: a transport counts once as connected and once as failed at most. */
  readonly #seen = new Map<string, number>();

  constructor(windowMs = 10 * 60_000, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#now = now;
  }

  connected(transportId: string): void {
    this.#record(transportId, true, 'connected');
  }

  failed(transportId: string, reason: string): void {
    this.#record(transportId, false, reason);
  }

  summary(): ReachabilitySummary {
    this.#prune();
    let connected = 0;
    let failed = 0;
    let last: Entry | undefined;
    for (const e of this.#entries) {
      if (e.ok) connected++;
      else {
        failed++;
        last = e;
      }
    }
    return {
      windowS: Math.round(this.#windowMs / 1000),
      connected,
      failed,
      ...(last ? { lastFailure: { at: new Date(last.at).toISOString(), reason: last.reason } } : {}),
    };
  }

  #record(transportId: string, ok: boolean, reason: string): void {
    const key = `${ok ? '+' : '-'}${transportId}`;
    if (this.#seen.has(key)) return;
    const at = this.#now();
    this.#seen.set(key, at);
    this.#entries.push({ at, ok, reason });
    this.#prune();
  }

  #prune(): void {
    const cutoff = this.#now() - this.#windowMs;
    if (this.#entries.length > 0 && (this.#entries[0]?.at ?? 0) < cutoff) {
      this.#entries = this.#entries.filter((e) => e.at >= cutoff);
      for (const [key, at] of this.#seen) if (at < cutoff) this.#seen.delete(key);
    }
  }
}
