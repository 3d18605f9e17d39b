import type { types as ms } from 'mediasoup';

/**
 * How long the first resume of a video consumer may wait for the other new consumers of the same
 * producer. Browsers on a loaded machine take up to ~0.5 s between consuming and resuming (the SDP
 * round of mediasoup-client's consume); a consumer resumed after the others started waits up to the
 * producer's key-frame request delay (400 ms, SfuRoom) for its own key frame. Usually all resume
 * within a few ms of each other and nothing waits this long.
 */
export const FIRST_RESUME_HOLD_MS = 600;

export interface FirstResumesOptions {
  /** Whether any open consumer of the producer passes `test`. */
  anyOpenConsumer(producerId: string, test: (consumer: ms.Consumer) => boolean): boolean;
  /** Resumes one consumer (and asks for its key frame). */
  start(consumer: ms.Consumer): Promise<void>;
}

interface Held {
  consumer: ms.Consumer;
  done: (error?: unknown) => void;
}

interface Batch {
  held: Held[];
  timer: NodeJS.Timeout;
}

/**
 * Lets the new consumers of one video producer start together. When a peer joins a room, or a room
 * moves to the SFU, every other peer consumes the new camera and resumes its consumer as soon as its
 * browser is ready, 100-300 ms apart on a loaded machine. A consumer starts with a key frame, and a
 * browser answers one key-frame request per 300 ms: resumed one by one, the first consumer's key
 * frame passes before the others are resumed, and they wait for a second one (400 ms later, or a
 * second when the browser dropped the request). Here the first resume of a video consumer waits,
 * at most FIRST_RESUME_HOLD_MS, while other consumers of the same producer have been created but
 * not resumed yet; then all resume at once and one key frame serves them all.
 */
export class FirstResumes {
  readonly #fresh = new WeakSet<ms.Consumer>();
  readonly #batches = new Map<string, Batch>();
  readonly #o: FirstResumesOptions;

  constructor(options: FirstResumesOptions) {
    this.#o = options;
  }

  /** A video consumer was created paused: its first resume goes through resume(). */
  created(consumer: ms.Consumer): void {
    if (consumer.kind === 'video') this.#fresh.add(consumer);
  }

  /** Whether this consumer's next resume is its first. */
  isFirst(consumer: ms.Consumer): boolean {
    return this.#fresh.has(consumer);
  }

  /**
   * Starts `consumer` (its first resume), together with the other new consumers of its producer;
   * resolves once it is resumed.
   */
  resume(consumer: ms.Consumer): Promise<void> {
    this.#fresh.delete(consumer);
    const { producerId } = consumer;
    return new Promise<void>((resolve, reject) => {
      let batch = this.#batches.get(producerId);
      if (!batch) {
        const timer = setTimeout(() => this.#release(producerId), FIRST_RESUME_HOLD_MS);
        timer.unref();
        batch = { held: [], timer };
        this.#batches.set(producerId, batch);
      }
      batch.held.push({ consumer, done: (error) => (error === undefined ? resolve() : reject(error)) });
      if (!this.#o.anyOpenConsumer(producerId, (c) => this.#fresh.has(c))) this.#release(producerId);
    });
  }

  /** Starts whatever is held now (the room is closing: each resume then fails on its own). */
  close(): void {
    for (const producerId of [...this.#batches.keys()]) this.#release(producerId);
  }

  #release(producerId: string): void {
    const batch = this.#batches.get(producerId);
    if (!batch) return;
    this.#batches.delete(producerId);
    clearTimeout(batch.timer);
    for (const { consumer, done } of batch.held) {
      this.#o.start(consumer).then(
        () => done(),
        (error: unknown) => done(error ?? new Error('resume failed')),
      );
    }
  }
}
