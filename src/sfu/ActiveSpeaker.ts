/** Announcements of a room's active speaker are at least this far apart (issue: ≤ every 500 ms). */
export const ACTIVE_SPEAKER_MIN_INTERVAL_MS = 500;
/** A reported level counts this long (clients report a few times a second while they speak). */
const REPORT_FRESH_MS = 1500;
/** Below this (0…1) a reported level is not speech. */
const SPEAKING_LEVEL = 0.02;

/**
 * A room's active speaker. On the SFU the router's ActiveSpeakerObserver names it (`set`); in P2P
 * the peers report their own microphone levels (`report`) and the loudest fresh one above the
 * speech threshold wins. It is announced when it changes, at most once per 500 ms: a change that
 * comes sooner is announced when the interval is over, if it still holds. Silence keeps the last
 * speaker, as mediasoup's observer does.
 */
export class ActiveSpeaker {
  readonly #announce: (peerId: string) => void;
  readonly #now: () => number;
  readonly #levels = new Map<string, { level: number; at: number }>();
  #current: string | undefined;
  #announcedAt = Number.NEGATIVE_INFINITY;
  #pending: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(announce: (peerId: string) => void, now: () => number = Date.now) {
    this.#announce = announce;
    this.#now = now;
  }

  get current(): string | undefined {
    return this.#current;
  }

  set(peerId: string): void {
    this.#propose(peerId);
  }

  report(peerId: string, level: number): void {
    const now = this.#now();
    this.#levels.set(peerId, { level, at: now });
    let loudest: string | undefined;
    let best = SPEAKING_LEVEL;
    for (const [id, r] of this.#levels) {
      if (now - r.at > REPORT_FRESH_MS) {
        this.#levels.delete(id);
      } else if (r.level >= best) {
        best = r.level;
        loudest = id;
      }
    }
    if (loudest !== undefined) this.#propose(loudest);
  }

  remove(peerId: string): void {
    this.#levels.delete(peerId);
    if (this.#pending === peerId) this.#pending = undefined;
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #propose(peerId: string): void {
    if (peerId === this.#current) {
      this.#pending = undefined;
      return;
    }
    const wait = this.#announcedAt + ACTIVE_SPEAKER_MIN_INTERVAL_MS - this.#now();
    if (wait <= 0) {
      this.#emit(peerId);
      return;
    }
    this.#pending = peerId;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      const next = this.#pending;
      this.#pending = undefined;
      if (next !== undefined && next !== this.#current) this.#emit(next);
    }, wait);
    this.#timer.unref?.();
  }

  #emit(peerId: string): void {
    this.#current = peerId;
    this.#announcedAt = this.#now();
    this.#announce(peerId);
  }
}
