import type { WebSocket } from 'ws';
import { type ErrorCode, errorMessages, type OutgoingMessage } from '../protocol/index.ts';
import type { ErrorExtra, SessionHandle } from './SessionTypes.ts';

/** WebSocket close codes we use. */
export const CloseCode = {
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
} as const;

/**
 * One WebSocket connection: its identity once joined, liveness for the heartbeat, a token bucket
 * for rate limiting, and a queue that keeps message handling in arrival order.
 */
export class Session implements SessionHandle {
  readonly id: string;
  readonly socket: WebSocket;
  peerId: string | undefined;
  roomId: string | undefined;
  /** Pings sent since the last pong. */
  missedPongs = 0;

  #tokens: number;
  #lastRefill: number;
  readonly #ratePerSecond: number;
  readonly #burst: number;
  /** Tail of the handler chain while an async handler is running; undefined when idle. */
  #pending: Promise<void> | undefined;

  constructor(id: string, socket: WebSocket, rate: { perSecond: number; burst: number }) {
    this.id = id;
    this.socket = socket;
    this.#ratePerSecond = rate.perSecond;
    this.#burst = rate.burst;
    this.#tokens = rate.burst;
    this.#lastRefill = performance.now();
  }

  get isOpen(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  send(message: OutgoingMessage): void {
    if (message.timestamp === undefined) message.timestamp = Date.now();
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(frame: string): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(frame);
  }

  sendError(code: ErrorCode, error?: string, extra: ErrorExtra = {}): void {
    this.send({
      type: 'error',
      error: error ?? errorMessages[code],
      code,
      ...(extra.requestId !== undefined ? { requestId: extra.requestId } : {}),
      ...(extra.relatedType !== undefined ? { relatedType: extra.relatedType } : {}),
      ...(extra.details !== undefined ? { details: extra.details } : {}),
    });
  }

  /** Takes one token; false when the client is over its rate. A rate of 0 disables the limit. */
  takeToken(): boolean {
    if (this.#ratePerSecond === 0) return true;
    const now = performance.now();
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + ((now - this.#lastRefill) / 1000) * this.#ratePerSecond,
    );
    this.#lastRefill = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
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
