import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Identity, PeerRole } from '../auth/JoinClaims.ts';
import { countError, type WireCounters } from '../metrics/Metrics.ts';
import { type ErrorCode, errorMessages, type OutgoingMessage } from '../protocol/index.ts';
import type { PeerRecord } from '../rooms/RoomTypes.ts';
import type { ErrorExtra, SessionHandle } from './SessionTypes.ts';

/** WebSocket close codes we use. */
/** How long a slow consumer's socket may take to close before it is cut. */
const SLOW_CONSUMER_GRACE_MS = 5000;

export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
} as const;

/** The bounds one connection lives within. */
export interface SessionLimits {
  rate: { perSecond: number; burst: number };
  /** Bytes queued for the socket beyond which it is closed as a slow consumer. */
  maxBufferedBytes: number;
  /** Sustained excess over the rate for this long closes the socket; 0: never. */
  abuseCloseMs: number;
  /** Incoming bytes per second (bursts of READ_BURST_S); 0: no limit. */
  readBytesPerS: number;
  /** Where frames out and errors are counted (metrics). */
  wire?: WireCounters;
}

/** How many seconds' worth of the byte rate a socket may send at once. */
const READ_BURST_S = 4;

/**
 * What to do with one incoming message under the rate limit: handle it, answer the first excess
 * with RATE_LIMITED, drop further excess silently, or close a socket whose excess went on too long.
 */
export type RateVerdict = 'ok' | 'limited' | 'dropped' | 'abusive';

/** Excess stops counting as sustained after this long without any. */
const EXCESS_QUIET_MS = 1000;
/** A client's mistakes are logged at warn at most once per this interval; debug otherwise. */
const WARN_INTERVAL_MS = 60_000;

/**
 * TCP sockets corked during this tick. Every frame sent to one socket in the same tick (a burst of
 * relayed candidates, a broadcast) leaves in one write system call when the tick ends, instead of
 * one call per frame: the relay's server time was mostly those calls.
 */
const corked = new Set<Socket>();
function uncorkAll(): void {
  for (const socket of corked) socket.uncork();
  corked.clear();
}

/**
 * One WebSocket connection: its identity once joined, liveness for the heartbeat, a token bucket
 * for rate limiting, the bound on what may queue for it, and a queue that keeps message handling
 * in arrival order.
 */
export class Session implements SessionHandle {
  readonly id: string;
  readonly socket: WebSocket;
  /** The client's address (the forwarded one behind a trusted proxy). */
  readonly remoteAddress: string;
  peerId: string | undefined;
  roomId: string | undefined;
  /** Its stored membership as last written (a reconcile writes it again). */
  peerRecord: PeerRecord | undefined;
  /** The display name it joined with (chat messages carry it). */
  displayName: string | undefined;
  /** Who the join token said this is; undefined while auth is off. */
  identity: Identity | undefined;
  /** The `?token=` of the WebSocket URL, kept until join-room uses it. */
  urlToken: string | undefined;
  /** Given in room-joined; brings this peer back after its socket drops (PeerParking). */
  resumeToken: string | undefined;
  /** Pings sent since the last pong. */
  missedPongs = 0;
  /** Set once the socket was closed for queueing too much: nothing more is sent to it. */
  slowConsumer = false;
  /** Called once when that happens, so the peer leaves its room now, not when the close completes. */
  onSlowConsumer: ((session: Session) => void) | undefined;

  #tokens: number;
  #lastRefill: number;
  #readBudget: number;
  #lastReadRefill: number;
  #excessSince: number | undefined;
  #lastExcessAt = 0;
  #lastWarnAt = Number.NEGATIVE_INFINITY;
  readonly #limits: SessionLimits;
  #joinTimer: NodeJS.Timeout | undefined;
  #iceTimer: NodeJS.Timeout | undefined;
  /** Tail of the handler chain while an async handler is running; undefined when idle. */
  #pending: Promise<void> | undefined;

  constructor(id: string, socket: WebSocket, limits: SessionLimits, remoteAddress = '') {
    this.id = id;
    this.socket = socket;
    this.remoteAddress = remoteAddress;
    this.#limits = limits;
    this.#tokens = limits.rate.burst;
    this.#lastRefill = performance.now();
    this.#readBudget = limits.readBytesPerS * READ_BURST_S;
    this.#lastReadRefill = this.#lastRefill;
  }

  /** The role the join token gave; a room's hostPeerId is host without one (see isHost). */
  get role(): PeerRole | undefined {
    return this.identity?.role;
  }

  /** Whether this connection may send media: always while auth is off. */
  get canPublish(): boolean {
    return this.identity?.canPublish ?? true;
  }

  get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: OutgoingMessage): void {
    if (message.timestamp === undefined) message.timestamp = Date.now();
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(frame: string): void {
    if (this.socket.readyState !== this.socket.OPEN || this.slowConsumer) return;
    // A client that does not read would make the server buffer without end: past the bound it is
    // told why (the frame queues behind the rest) and closed; the room sees it leave or resume.
    if (this.socket.bufferedAmount + frame.length > this.#limits.maxBufferedBytes) {
      this.slowConsumer = true;
      this.socket.send(
        JSON.stringify({
          type: 'error',
          code: 'SLOW_CONSUMER',
          error: errorMessages.SLOW_CONSUMER,
          timestamp: Date.now(),
        }),
      );
      this.close(CloseCode.POLICY_VIOLATION, 'Slow consumer');
      // A peer that never reads never answers the close either: do not wait ws's 30 s for it.
      setTimeout(() => this.socket.terminate(), SLOW_CONSUMER_GRACE_MS).unref();
      this.onSlowConsumer?.(this);
      return;
    }
    // ws keeps the TCP socket in `_socket` (stable since ws 1); without it, frames go one by one.
    const tcp = (this.socket as unknown as { _socket?: Socket })._socket;
    if (tcp && !corked.has(tcp)) {
      if (corked.size === 0) process.nextTick(uncorkAll);
      corked.add(tcp);
      tcp.cork();
    }
    this.socket.send(frame);
    const wire = this.#limits.wire;
    if (wire) {
      wire.framesOut++;
      wire.bytesOut += frame.length;
    }
  }

  sendError(code: ErrorCode, error?: string, extra: ErrorExtra = {}): void {
    countError(this.#limits.wire, code);
    this.send({
      type: 'error',
      error: error ?? errorMessages[code],
      code,
      ...(extra.requestId !== undefined ? { requestId: extra.requestId } : {}),
      ...(extra.relatedType !== undefined ? { relatedType: extra.relatedType } : {}),
      ...(extra.details !== undefined ? { details: extra.details } : {}),
    });
  }

  /** Takes one token from the bucket and says what to do with the message. A rate of 0: no limit. */
  admit(): RateVerdict {
    const { perSecond, burst } = this.#limits.rate;
    if (perSecond === 0) return 'ok';
    // The bucket refills lazily, when it runs short: a message within the rate reads no clock
    // (the relay hot path) unless an excess episode is open. The price: after an idle spell a
    // client may send up to two bursts at once; the sustained rate is exact.
    if (this.#tokens < 1) {
      const now = performance.now();
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#lastRefill) / 1000) * perSecond);
      this.#lastRefill = now;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      if (this.#excessSince !== undefined && performance.now() - this.#lastExcessAt > EXCESS_QUIET_MS) {
        this.#excessSince = undefined;
      }
      return 'ok';
    }
    const now = performance.now();
    this.#lastExcessAt = now;
    if (this.#excessSince === undefined) {
      this.#excessSince = now;
      return 'limited';
    }
    const { abuseCloseMs } = this.#limits;
    return abuseCloseMs > 0 && now - this.#excessSince >= abuseCloseMs ? 'abusive' : 'dropped';
  }

  /**
   * Charges a received frame to the byte budget; returns how long to stop reading the socket (ms),
   * 0 within budget. Pausing lets TCP push back on the sender: a client streaming large frames is
   * slowed, never answered with errors, and the server never churns through more than the rate.
   * Like the message bucket, it refills lazily, when it runs short.
   */
  chargeRead(bytes: number): number {
    const rate = this.#limits.readBytesPerS;
    if (rate === 0) return 0;
    this.#readBudget -= bytes;
    if (this.#readBudget >= 0) return 0;
    const now = performance.now();
    const refilled = this.#readBudget + bytes + ((now - this.#lastReadRefill) / 1000) * rate;
    this.#readBudget = Math.min(rate * READ_BURST_S, refilled) - bytes;
    this.#lastReadRefill = now;
    return this.#readBudget >= 0 ? 0 : Math.ceil((-this.#readBudget / rate) * 1000);
  }

  /** True at most once a minute: a client's mistakes are logged at warn that often, else at debug. */
  mayWarn(): boolean {
    const now = performance.now();
    if (now - this.#lastWarnAt < WARN_INTERVAL_MS) return false;
    this.#lastWarnAt = now;
    return true;
  }

  /** Closes the socket unless it is in a room `ms` from now (a leave starts the wait again). */
  awaitJoin(ms: number): void {
    clearTimeout(this.#joinTimer);
    if (ms === 0) return;
    this.#joinTimer = setTimeout(() => {
      if (this.roomId === undefined) this.close(CloseCode.POLICY_VIOLATION, 'No room joined in time');
    }, ms);
    this.#joinTimer.unref();
  }

  stopJoinTimer(): void {
    clearTimeout(this.#joinTimer);
    this.#joinTimer = undefined;
  }

  /** Calls `refresh` every `ms` while in a room (fresh TURN credentials); undefined: never. */
  keepIceFresh(ms: number | undefined, refresh: () => void): void {
    clearInterval(this.#iceTimer);
    if (ms === undefined) return;
    this.#iceTimer = setInterval(refresh, ms);
    this.#iceTimer.unref();
  }

  stopIceRefresh(): void {
    clearInterval(this.#iceTimer);
    this.#iceTimer = undefined;
  }

  /**
   * Runs `task` after every earlier task of this session. Synchronous tasks run at once when nothing
   * is pending, so the relay hot path allocates no promise.
   */
  enqueue(task: () => void | Promise<void>): void {
    if (this.#pending) {
      this.#chain(this.#pending.then(task));
      return;
    }
    const result = task();
    if (result instanceof Promise) this.#chain(result);
  }

  /**
   * Runs `task` after every earlier task of this session, like enqueue, but later tasks do not wait
   * for it: for requests that are independent of one another (one consumer's operations).
   */
  enqueueAlongside(task: () => void | Promise<void>): void {
    if (this.#pending) {
      void this.#pending.then(task);
      return;
    }
    void task();
  }

  #chain(promise: Promise<void>): void {
    const tail: Promise<void> = promise.finally(() => {
      if (this.#pending === tail) this.#pending = undefined;
    });
    this.#pending = tail;
  }

  close(code: number, reason: string): void {
    if (this.socket.readyState === this.socket.OPEN || this.socket.readyState === this.socket.CONNECTING) {
      this.socket.close(code, reason);
    }
  }
}
