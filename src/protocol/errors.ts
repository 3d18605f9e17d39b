import { z } from 'zod';

/**
 * Every error the server can send, as one enum. Clients switch on `code`; `error` is for humans.
 */
export const ErrorCode = z.enum([
  'ROOM_NOT_FOUND',
  'ROOM_FULL',
  'INVALID_MESSAGE',
  'UNKNOWN_TYPE',
  'NOT_IN_ROOM',
  'ALREADY_IN_ROOM',
  'PEER_NOT_FOUND',
  'DUPLICATE_PEER',
  'FORBIDDEN',
  'UNAUTHORIZED',
  'MESSAGE_TOO_LARGE',
  'RATE_LIMITED',
  'SLOW_CONSUMER',
  'ROOM_LIMIT',
  'STORE_UNAVAILABLE',
  'ROOM_LOCKED',
  'WRONG_PASSWORD',
  'SFU_UNAVAILABLE',
  'SFU_WORKER_DIED',
  'SFU_UNREACHABLE',
  'SFU_NOT_ACTIVE',
  'TRANSPORT_NOT_FOUND',
  'PRODUCER_NOT_FOUND',
  'CONSUMER_NOT_FOUND',
  'CANNOT_CONSUME',
  'MEDIA_ERROR',
  'RECORDING_UNAVAILABLE',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

/** Default human-readable text per code; handlers may give a more specific one. */
export const errorMessages: Record<ErrorCode, string> = {
  ROOM_NOT_FOUND: 'Room not found',
  ROOM_FULL: 'Room is full',
  INVALID_MESSAGE: 'Invalid message',
  UNKNOWN_TYPE: 'Unknown message type',
  NOT_IN_ROOM: 'Not in a room',
  ALREADY_IN_ROOM: 'This connection is already in a room',
  PEER_NOT_FOUND: 'Peer not found',
  DUPLICATE_PEER: 'A peer with this id is already connected to the room',
  FORBIDDEN: 'Forbidden',
  UNAUTHORIZED: 'Unauthorized',
  MESSAGE_TOO_LARGE: 'Message too large',
  RATE_LIMITED: 'Too many messages',
  ROOM_LOCKED: 'The room is locked by its host',
  WRONG_PASSWORD: 'Wrong or missing room password',
  STORE_UNAVAILABLE: 'The room store (Redis) cannot be reached; try again shortly',
  ROOM_LIMIT: 'The server holds as many rooms as it may (MAX_ROOMS); try again later',
  SLOW_CONSUMER: 'Too much is waiting to be sent to this connection; it is closed (read your socket)',
  SFU_UNAVAILABLE: 'The SFU is unavailable; the room stays peer-to-peer',
  SFU_WORKER_DIED: 'The media worker of this room died; the room falls back to peer-to-peer',
  SFU_UNREACHABLE:
    'The SFU could not be reached (no ICE connection to its announced addresses); the room stays peer-to-peer',
  SFU_NOT_ACTIVE: 'The room is not in SFU mode',
  TRANSPORT_NOT_FOUND: 'Transport not found',
  PRODUCER_NOT_FOUND: 'Producer not found',
  CONSUMER_NOT_FOUND: 'Consumer not found',
  CANNOT_CONSUME: 'Cannot consume this producer with the given RTP capabilities',
  MEDIA_ERROR: 'Media server error',
  RECORDING_UNAVAILABLE: 'The room cannot be recorded',
  INTERNAL: 'Internal server error',
};

/** An error with a protocol code, thrown inside the server and turned into an `error` message at the edge. */
export class ProtocolError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details?: unknown) {
    super(message ?? errorMessages[code]);
    this.name = 'ProtocolError';
    this.code = code;
    this.details = details;
  }
}
