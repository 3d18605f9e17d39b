import { hash, timingSafeEqual } from 'node:crypto';
import type { Identity } from '../auth/JoinClaims.ts';
import type { ErrorCode, OutgoingMessage } from '../protocol/index.ts';
import type { PeerRecord } from '../rooms/RoomTypes.ts';
import type { ErrorExtra, SessionHandle } from './SessionTypes.ts';

/** What a parked peer may hold for its return; more, and it is let go (it rejoins as new). */
const MAX_QUEUED_FRAMES = 500;
const MAX_QUEUED_BYTES = 1024 * 1024;

/**
 * A peer whose socket dropped, kept in its room for the resume window: it stands in the registry
 * in place of its session, so the room keeps sending to it (into a bounded queue) and nobody else
 * can take its id. Its client comes back with the resumeToken and gets the queue.
 */
export class ParkedPeer implements SessionHandle {
  readonly id: string;
  readonly roomId: string;
  readonly peerId: string;
  readonly identity: Identity | undefined;
  readonly resumeToken: string;
  /** Its stored membership, for a reconcile while it is away. */
  readonly peerRecord: PeerRecord | undefined;
  readonly isOpen = true;
  readonly #queue: string[] = [];
  #queuedBytes = 0;
  #overflowed = false;
  readonly #onOverflow: (peer: ParkedPeer) => void;
  timer: NodeJS.Timeout | undefined;

  constructor(
    from: {
      id: string;
      roomId: string;
      peerId: string;
      identity: Identity | undefined;
      resumeToken: string;
      peerRecord?: PeerRecord | undefined;
    },
    onOverflow: (peer: ParkedPeer) => void,
  ) {
    this.id = from.id;
    this.roomId = from.roomId;
    this.peerId = from.peerId;
    this.identity = from.identity;
    this.resumeToken = from.resumeToken;
    this.peerRecord = from.peerRecord;
    this.#onOverflow = onOverflow;
  }

  send(message: OutgoingMessage): void {
    if (message.timestamp === undefined) message.timestamp = Date.now();
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(frame: string): void {
    if (this.#overflowed) return;
    if (this.#queue.length >= MAX_QUEUED_FRAMES || this.#queuedBytes + frame.length > MAX_QUEUED_BYTES) {
      this.#overflowed = true;
      this.#queue.length = 0;
      this.#onOverflow(this);
      return;
    }
    this.#queue.push(frame);
    this.#queuedBytes += frame.length;
  }

  sendError(_code: ErrorCode, _error?: string, _extra?: ErrorExtra): void {
    // An error was the answer to something the old socket sent; its client cannot match it any more.
  }

  /** Hands over what arrived while away, in order. */
  drain(): string[] {
    const frames = this.#queue.splice(0);
    this.#queuedBytes = 0;
    return frames;
  }
}

/** The parked peers of this process, each released when its window ends or its client returns. */
export class PeerParking {
  readonly #byToken = new Map<string, ParkedPeer>();
  readonly #windowMs: number;
  readonly #onExpire: (peer: ParkedPeer, why: string) => void;

  constructor(windowMs: number, onExpire: (peer: ParkedPeer, why: string) => void) {
    this.#windowMs = windowMs;
    this.#onExpire = onExpire;
  }

  get enabled(): boolean {
    return this.#windowMs > 0;
  }

  get size(): number {
    return this.#byToken.size;
  }

  park(from: ConstructorParameters<typeof ParkedPeer>[0]): ParkedPeer {
    const peer = new ParkedPeer(from, (p) => this.#expire(p, 'resume queue full'));
    peer.timer = setTimeout(() => this.#expire(peer, 'resume window ended'), this.#windowMs);
    peer.timer.unref();
    this.#byToken.set(from.resumeToken, peer);
    return peer;
  }

  /** The parked peer this token resumes, taken out of parking; undefined when none (or expired). */
  claim(resumeToken: string, roomId: string): ParkedPeer | undefined {
    const peer = this.#byToken.get(resumeToken);
    // The map lookup found a candidate by the token itself; compare again in constant time so a
    // near-miss costs the same as a hit.
    if (!peer || peer.roomId !== roomId || !sameSecret(peer.resumeToken, resumeToken)) return undefined;
    this.#release(peer);
    return peer;
  }

  /** Lets every parked peer go now (shutdown), without the expiry callback. */
  releaseAll(): ParkedPeer[] {
    const all = [...this.#byToken.values()];
    for (const peer of all) this.#release(peer);
    return all;
  }

  /** Drops one parked peer without the expiry callback (its room is gone). */
  discard(peer: ParkedPeer): void {
    this.#release(peer);
  }

  *peers(): IterableIterator<ParkedPeer> {
    yield* this.#byToken.values();
  }

  #expire(peer: ParkedPeer, why: string): void {
    if (this.#byToken.get(peer.resumeToken) !== peer) return;
    this.#release(peer);
    this.#onExpire(peer, why);
  }

  #release(peer: ParkedPeer): void {
    clearTimeout(peer.timer);
    this.#byToken.delete(peer.resumeToken);
  }
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** What the store keeps of a resumeToken: enough to check one, useless to present. */
export function resumeHash(resumeToken: string): string {
  // One-shot: no Hash object whose native state lingers until a full GC (one per join).
  return hash('sha256', resumeToken, 'base64url');
}
