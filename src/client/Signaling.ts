import type {
  ClientMessageInput,
  ClientMessageType,
  ReplyOf,
  ReplyTypeOf,
  RequestType,
  ServerMessage,
  ServerReplyOnlyType,
} from '../protocol/index.ts';
import { OpenCallError, type ReconnectOptions } from './types.ts';

/** A client message as the SDK writes it: the Signaling adds its requestId. */
export type OutgoingClientMessage<T extends ClientMessageType = ClientMessageType> =
  T extends ClientMessageType ? Omit<ClientMessageInput<T>, 'requestId' | 'timestamp'> : never;

/**
 * The server message types that are only ever replies (`delivery: 'reply'` in the protocol table).
 * The SDK carries no runtime copy of the protocol (it would bring zod into the bundle); the record's
 * keys are checked against the table by the compiler, so it cannot drift. A reply of one of these
 * types that does not echo its requestId still settles the oldest request that expects it.
 */
const replyOnly: Record<ServerReplyOnlyType, true> = {
  'room-joined': true,
  'room-left': true,
  pong: true,
  'host-action-done': true,
  'chat-history': true,
  'sfu-joined': true,
  'sfu-transport-created': true,
  'sfu-transport-connected': true,
  'sfu-produced': true,
  'sfu-consumed': true,
  'sfu-data-produced': true,
  'sfu-data-consumed': true,
  'sfu-data-producer-closed': true,
  'sfu-ice-restarted': true,
};

interface Pending {
  requestId: string;
  expect: string | undefined;
  resolve: (message: ServerMessage) => void;
  reject: (error: OpenCallError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface SignalingHandlers {
  /** Every server message that is not the reply to a pending request. */
  onMessage(message: ServerMessage): void;
  /** The socket closed; `expected` when close() asked for it. Return true to have it reconnect. */
  onClose(info: { code: number; reason: string; expected: boolean }): unknown;
  /** A reconnect attempt is about to wait `delayMs` (attempt 1, 2, …). */
  onReconnecting?(info: { attempt: number; delayMs: number }): void;
  /**
   * The socket is open again: rejoin here. Throw a ReconnectRefused to stop reconnecting (the
   * server said no for good); any other error tries again.
   */
  onReopen?(): Promise<void>;
  /** The reconnect loop stopped without success: `refused` by the server, or out of attempts. */
  onReconnectFailed?(error: OpenCallError, refused: boolean): void;
  onDebug?(direction: 'in' | 'out', message: unknown): void;
}

export interface SignalingOptions {
  requestTimeoutMs: number;
  WebSocket?: typeof WebSocket;
  /** An application-level ping this often (0: none). */
  keepaliveIntervalMs?: number;
  /** Reconnect after an unexpected close (needs onReopen); false turns it off. */
  reconnect?: ReconnectOptions | false;
}

/** Thrown from onReopen: reconnecting cannot help. */
export class ReconnectRefused extends Error {
  override readonly cause: OpenCallError;
  constructor(cause: OpenCallError) {
    super(cause.message);
    this.name = 'ReconnectRefused';
    this.cause = cause;
  }
}

/** Join errors after which reconnecting cannot help. */
const FATAL_JOIN_CODES = new Set([
  'ROOM_NOT_FOUND',
  'ROOM_FULL',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'INVALID_MESSAGE',
]);

export function isFatalJoinError(err: unknown): err is OpenCallError {
  return err instanceof OpenCallError && FATAL_JOIN_CODES.has(err.code);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One WebSocket to /ws: JSON frames in and out, request/reply matching by requestId, the
 * keepalive, and the reconnect loop.
 *
 * A reply is the first message that echoes a request's requestId. A server that forgets to echo
 * still works for reply-only types: a message with no requestId whose type a pending request
 * expects resolves the oldest such request. Errors that echo a requestId reject that request and go
 * nowhere else.
 */
export class Signaling {
  readonly #handlers: SignalingHandlers;
  readonly #options: SignalingOptions;
  readonly #WebSocketImpl: typeof WebSocket;
  #socket: WebSocket | undefined;
  #url: string | undefined;
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #closing = false;
  #lastMessageAt = 0;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  /** Bumped by close(): a reconnect loop of an older connection stops. */
  #generation = 0;
  #reconnecting = false;

  constructor(handlers: SignalingHandlers, options: SignalingOptions) {
    this.#handlers = handlers;
    this.#options = options;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!impl) throw new OpenCallError('CONNECTION_FAILED', 'No WebSocket implementation available');
    this.#WebSocketImpl = impl;
  }

  get isOpen(): boolean {
    return this.#socket !== undefined && this.#socket.readyState === 1;
  }

  get reconnecting(): boolean {
    return this.#reconnecting;
  }

  /** Milliseconds since the last frame arrived. */
  get idleMs(): number {
    return Date.now() - this.#lastMessageAt;
  }

  /** Opens the socket; resolves once it is open, rejects if it closes or errors first. */
  open(url: string, timeoutMs = 10_000): Promise<void> {
    this.#closing = false;
    this.#url = url;
    return new Promise((resolve, reject) => {
      let settled = false;
      let socket: WebSocket;
      try {
        socket = new this.#WebSocketImpl(url);
      } catch (err) {
        reject(new OpenCallError('CONNECTION_FAILED', `Cannot open ${url}: ${String(err)}`));
        return;
      }
      this.#socket = socket;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        socket.close();
        reject(new OpenCallError('CONNECTION_FAILED', `Timed out connecting to ${url}`));
      }, timeoutMs);
      socket.onopen = () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#lastMessageAt = Date.now();
        this.#startKeepalive();
        resolve();
      };
      socket.onmessage = (event: MessageEvent) => {
        if (this.#socket !== socket) return;
        this.#receive(event.data);
      };
      socket.onerror = () => {
        // The close event follows with the details.
      };
      socket.onclose = (event: CloseEvent) => {
        clearTimeout(timer);
        const wasCurrent = this.#socket === socket;
        if (wasCurrent) this.#socket = undefined;
        if (!settled) {
          settled = true;
          reject(new OpenCallError('CONNECTION_FAILED', `Connection to ${url} closed (${event.code})`));
          return;
        }
        if (!wasCurrent) return;
        this.#lost({ code: event.code, reason: event.reason });
      };
    });
  }

  /** Sends without waiting for anything. Returns false when the socket is not open. */
  send(message: OutgoingClientMessage & { requestId?: string }): boolean {
    const socket = this.#socket;
    if (socket?.readyState !== 1) return false;
    this.#handlers.onDebug?.('out', message);
    socket.send(JSON.stringify(message));
    return true;
  }

  /**
   * Sends with a fresh requestId and resolves with the reply, typed from the protocol table.
   * `expect` is the reply's type (the table's), only needed for a server that does not echo
   * requestIds.
   */
  request<T extends RequestType>(
    message: OutgoingClientMessage<T> & { type: T },
    expect?: ReplyTypeOf<T>,
    timeoutMs = this.#options.requestTimeoutMs,
  ): Promise<ReplyOf<T>> {
    const requestId = `c${this.#nextId++}`;
    return new Promise<ReplyOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(
          new OpenCallError('REQUEST_TIMEOUT', `No reply to ${message.type} within ${timeoutMs} ms`, {
            requestId,
            relatedType: message.type,
          }),
        );
      }, timeoutMs);
      this.#pending.set(requestId, {
        requestId,
        expect: expect ?? undefined,
        resolve: (reply) => {
          if (isReplyOf<T>(reply, expect)) resolve(reply);
          else reject(new OpenCallError('INTERNAL', `Unexpected reply ${reply.type} to ${message.type}`));
        },
        reject,
        timer,
      });
      if (!this.send({ ...message, requestId })) {
        clearTimeout(timer);
        this.#pending.delete(requestId);
        reject(
          new OpenCallError('CONNECTION_FAILED', `Cannot send ${message.type}: not connected`, {
            relatedType: message.type,
          }),
        );
      }
    });
  }

  /** Closes the socket on purpose (no reconnect). */
  close(code = 1000, reason = 'client closed'): void {
    this.#closing = true;
    this.#generation++;
    this.#reconnecting = false;
    this.#stopKeepalive();
    const socket = this.#socket;
    this.#socket = undefined;
    this.#rejectAll(new OpenCallError('CONNECTION_FAILED', 'Connection closed'));
    if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(code, reason);
  }

  /** Drops the socket as if the network had failed (the keepalive's verdict; tests). */
  drop(): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    try {
      socket.close(4000, 'keepalive timeout');
    } catch {
      // ignore
    }
    this.#lost({ code: 4000, reason: 'keepalive timeout' });
  }

  // ------------------------------------------------------------------ internals

  #lost(info: { code: number; reason: string }): void {
    this.#stopKeepalive();
    this.#rejectAll(new OpenCallError('CONNECTION_FAILED', 'Connection lost'));
    const expected = this.#closing;
    const wanted = this.#handlers.onClose({ ...info, expected });
    if (
      wanted === true &&
      !expected &&
      this.#options.reconnect !== false &&
      this.#handlers.onReopen &&
      !this.#reconnecting
    ) {
      void this.#reconnect(this.#generation);
    }
  }

  async #reconnect(generation: number): Promise<void> {
    const opts = this.#options.reconnect || {};
    const maxAttempts = opts.maxAttempts ?? Number.POSITIVE_INFINITY;
    const base = opts.baseDelayMs ?? 500;
    const max = opts.maxDelayMs ?? 10_000;
    this.#reconnecting = true;
    const current = () => generation === this.#generation;
    try {
      for (let attempt = 1; current(); attempt++) {
        if (attempt > maxAttempts) {
          this.#handlers.onReconnectFailed?.(
            new OpenCallError('CONNECTION_FAILED', `Reconnect failed after ${maxAttempts} attempts`),
            false,
          );
          return;
        }
        const exp = Math.min(max, base * 2 ** (attempt - 1));
        const delayMs = Math.round(exp * (0.8 + Math.random() * 0.4));
        this.#handlers.onReconnecting?.({ attempt, delayMs });
        await sleep(delayMs);
        if (!current() || !this.#url) return;
        try {
          await this.open(this.#url);
          if (!current()) return;
          await this.#handlers.onReopen?.();
          return;
        } catch (err) {
          if (!current()) return;
          if (err instanceof ReconnectRefused) {
            this.#handlers.onReconnectFailed?.(err.cause, true);
            return;
          }
          this.#handlers.onDebug?.('in', { reconnectAttempt: attempt, failed: String(err) });
          // Make sure a half-open socket does not linger into the next attempt.
          const socket = this.#socket;
          this.#socket = undefined;
          if (socket && socket.readyState <= 1) socket.close(1000, 'rejoin failed');
        }
      }
    } finally {
      if (current()) this.#reconnecting = false;
    }
  }

  /**
   * A ping per interval; the connection counts as dead when a ping got no traffic at all back
   * within max(interval, 10 s). Judged from the ping's own age, so a background tab whose timers
   * the browser throttles does not mistake its own slowness for a dead server.
   */
  #startKeepalive(): void {
    this.#stopKeepalive();
    const every = this.#options.keepaliveIntervalMs ?? 0;
    if (!every) return;
    let pingSentAt: number | undefined;
    this.#keepalive = setInterval(() => {
      if (!this.isOpen) return;
      const now = Date.now();
      const lastHeard = now - this.idleMs;
      if (pingSentAt !== undefined && lastHeard < pingSentAt && now - pingSentAt > Math.max(every, 10_000)) {
        pingSentAt = undefined;
        this.drop();
        return;
      }
      if (pingSentAt === undefined || lastHeard >= pingSentAt) {
        pingSentAt = now;
        this.send({ type: 'ping' });
      }
    }, every);
  }

  #stopKeepalive(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }

  #receive(data: unknown): void {
    this.#lastMessageAt = Date.now();
    if (typeof data !== 'string') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    if (!isServerMessage(parsed)) return;
    this.#handlers.onDebug?.('in', parsed);
    if (this.#settle(parsed)) return;
    this.#handlers.onMessage(parsed);
  }

  /** Resolves or rejects the request this message answers; true when it was a reply. */
  #settle(message: ServerMessage): boolean {
    const rid = message.requestId;
    let pending: Pending | undefined;
    if (rid !== undefined) {
      pending = this.#pending.get(String(rid));
      if (!pending) return false;
    } else if (Object.hasOwn(replyOnly, message.type)) {
      for (const p of this.#pending.values()) {
        if (p.expect === message.type) {
          pending = p;
          break;
        }
      }
      if (!pending) return false;
    } else {
      return false;
    }
    this.#pending.delete(pending.requestId);
    clearTimeout(pending.timer);
    if (message.type === 'error') {
      pending.reject(
        new OpenCallError(message.code, message.error, {
          requestId: pending.requestId,
          ...(message.relatedType !== undefined ? { relatedType: message.relatedType } : {}),
        }),
      );
    } else {
      pending.resolve(message);
    }
    // A reply that is also meaningful as a push (media-state-changed echo) is not forwarded: the
    // requester has it.
    return true;
  }

  #rejectAll(error: OpenCallError): void {
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(error);
    }
  }
}

/** The server's frames are trusted for their fields; this only checks that one is a message at all. */
function isServerMessage(value: unknown): value is ServerMessage {
  return typeof value === 'object' && value !== null && 'type' in value && typeof value.type === 'string';
}

/**
 * The reply to a request of type T: of the type the protocol table gives T's reply (`expect`, which
 * the compiler checks at each call), or, when the caller left it out, whatever echoed the requestId.
 */
function isReplyOf<T extends RequestType>(
  message: { type: string },
  expect: ReplyTypeOf<T> | undefined,
): message is ReplyOf<T> & { type: string } {
  return expect === undefined || message.type === expect;
}
