import type { ErrorCode, OutgoingMessage, RequestId } from '../protocol/index.ts';

/** What handlers and the rest of the server may do with one connected client. */
export interface SessionHandle {
  readonly id: string;
  /** Set once the session has joined a room; a connection is one peer in at most one room. */
  readonly peerId: string | undefined;
  readonly roomId: string | undefined;
  readonly isOpen: boolean;
  send(message: OutgoingMessage): void;
  /** Sends an already-serialised frame (fan-out serialises once for many receivers). */
  sendRaw(frame: string): void;
  sendError(code: ErrorCode, error?: string, extra?: ErrorExtra): void;
}

export interface ErrorExtra {
  requestId?: RequestId | undefined;
  relatedType?: string | undefined;
  details?: unknown;
}
