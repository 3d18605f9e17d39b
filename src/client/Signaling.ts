import type { ClientMessage, ServerMessage, ServerMessageOf, ServerMessageType } from '../protocol/index.ts';
import { OpenCallError } from './types.ts';

/** A client message before the SDK adds its requestId. */
export type OutgoingClientMessage = ClientMessage extends infer M
  ? M extends ClientMessage
    ? Omit<M, 'requestId' | 'timestamp'>
    : never
  : never;

/** Types the server sends only as replies, never as pushes: safe to match when requestId is missing. */
const REPLY_ONLY_TYPES: ReadonlySet<string> = new Set([
  'room-joined',
  'room-left',
  'pong',
  'sfu-joined',
  'sfu-transport-created',
  'sfu-transport-connected',
  'sfu-produced',
  'sfu-consumed',
  'sfu-ice-restarted',
]);

interface Pending {
  requestId: string;
  expect: readonly ServerMessageType[] | undefined;
  resolve: (message: ServerMessage) => void;
  reject: (error: OpenCallError) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface SignalingHandlers {
  /** Every server message that is not the reply to a pending request. */
  onMessage(message: ServerMessage): void;
  /** The socket closed; `expected` when close() asked for it. */
  onClose(info: { code: number; reason: string; expected: boolean }): void;
  onDebug?(direction: 'in' | 'out', message: unknown): void;
}

/**
 * One WebSocket to /ws: JSON frames in and out, and request/reply matching by requestId.
 *
 * A reply is the first message that echoes a request's requestId. A server that forgets to echo
 * still works for reply-only types: a message with no requestId whose type a pending request
 * expects resolves the oldest such request. Errors that echo a requestId reject that request and go nowhere else.
 */
export class Signaling {
  readonly #handlers: SignalingHandlers;
  readonly #requestTimeoutMs: number;
  readonly #WebSocketImpl: typeof WebSocket;
  #socket: WebSocket | undefined;
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #closing = false;
  #lastMessageAt = 0;

  constructor(
    handlers: SignalingHandlers,
    options: { requestTimeoutMs: number; WebSocket?: typeof WebSocket },
  ) {
    this.#handlers = handlers;
    this.#requestTimeoutMs = options.requestTimeoutMs;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
    if (!impl) throw new OpenCallError('CONNECTION_FAILED', 'No WebSocket implementation available');
    this.#WebSocketImpl = impl;
  }

  get isOpen(): boolean {
    return this.#socket !== undefined && this.#socket.readyState === 1;
  }

  /** Milliseconds since the last frame arrived. */
  get idleMs(): number {
    return Date.now() - this.#lastMessageAt;
  }

  /** Opens the socket; resolves once it is open, rejects if it closes or errors first. */
  open(url: string, timeoutMs = 10_000): Promise<void> {
    this.#closing = false;
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
        this.#rejectAll(new OpenCallError('CONNECTION_FAILED', 'Connection closed'));
        this.#handlers.onClose({ code: event.code, reason: event.reason, expected: this.#closing });
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
   * Sends with a fresh requestId and resolves with the reply. `expect` lists the reply types;
   * a reply of another type still resolves when it echoes the requestId.
   */
  request<T extends ServerMessageType>(
    message: OutgoingClientMessage,
    expect?: T | readonly T[],
    timeoutMs = this.#requestTimeoutMs,
  ): Promise<ServerMessageOf<T>> {
    const requestId = `c${this.#nextId++}`;
    const expectList = expect === undefined ? undefined : typeof expect === 'string' ? [expect] : expect;
    return new Promise<ServerMessageOf<T>>((resolve, reject) => {
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
        expect: expectList,
        resolve: resolve as (m: ServerMessage) => void,
        reject,
        timer,
      });
      if (!this.send({ ...message, requestId } as OutgoingClientMessage & { requestId: string })) {
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
    const socket = this.#socket;
    this.#socket = undefined;
    this.#rejectAll(new OpenCallError('CONNECTION_FAILED', 'Connection closed'));
    if (socket && (socket.readyState === 0 || socket.readyState === 1)) socket.close(code, reason);
  }

  /** Drops the socket as if the network had failed (used by the keepalive). */
  drop(): void {
    const socket = this.#socket;
    if (!socket) return;
    this.#socket = undefined;
    try {
      socket.close(4000, 'keepalive timeout');
    } catch {
      // ignore
    }
    this.#rejectAll(new OpenCallError('CONNECTION_FAILED', 'Connection lost'));
    this.#handlers.onClose({ code: 4000, reason: 'keepalive timeout', expected: false });
  }

  #receive(data: unknown): void {
    this.#lastMessageAt = Date.now();
    if (typeof data !== 'string') return;
    let message: ServerMessage;
    try {
      message = JSON.parse(data) as ServerMessage;
    } catch {
      return;
    }
    if (!message || typeof message !== 'object' || typeof message.type !== 'string') return;
    this.#handlers.onDebug?.('in', message);
    if (this.#settle(message)) return;
    this.#handlers.onMessage(message);
  }

  /** Resolves or rejects the request this message answers; true when it was a reply. */
  #settle(message: ServerMessage): boolean {
    const rid = message.requestId;
    let pending: Pending | undefined;
    if (rid !== undefined) {
      pending = this.#pending.get(String(rid));
      if (!pending) return false;
    } else if (REPLY_ONLY_TYPES.has(message.type)) {
      for (const p of this.#pending.values()) {
        if (p.expect?.includes(message.type)) {
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
