import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { ProtocolError } from '../protocol/index.ts';
import type { RoomAccess, RoomRecord } from '../rooms/RoomTypes.ts';

/** An open room: what a room without access settings is. */
export const OPEN_ACCESS: RoomAccess = { locked: false, passwordHash: null, waitingRoom: false };

/** A room's host: its hostPeerId, or anyone whose join token says role host. */
export function isHost(room: RoomRecord, peerId: string, role: string | undefined): boolean {
  return role === 'host' || (room.hostPeerId !== null && room.hostPeerId === peerId);
}

/** scrypt with a random salt; the password itself is never stored or logged. */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('base64')}:${scryptSync(password, salt, 32).toString('base64')}`;
}

/** Compares in constant time (for a given hash length). */
export function passwordMatches(password: string | undefined, stored: string): boolean {
  const [scheme, salt, hash] = stored.split(':');
  if (scheme !== 'scrypt' || salt === undefined || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64');
  const given = scryptSync(password ?? '', Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(given, expected);
}

/**
 * What a joiner who is not a host may do, given the room's settings: come in, wait, or be refused
 * (ROOM_LOCKED, WRONG_PASSWORD). Hosts always come in.
 */
export function admission(room: RoomRecord, password: string | undefined, host: boolean): 'enter' | 'wait' {
  const access = room.access ?? OPEN_ACCESS;
  if (host) return 'enter';
  if (access.locked) throw new ProtocolError('ROOM_LOCKED');
  if (access.passwordHash !== null && !passwordMatches(password, access.passwordHash)) {
    throw new ProtocolError('WRONG_PASSWORD');
  }
  return access.waitingRoom ? 'wait' : 'enter';
}

/** The public view of the settings: never the password (hash). */
export function accessView(roomId: string, access: RoomAccess = OPEN_ACCESS) {
  return {
    type: 'room-access' as const,
    roomId,
    locked: access.locked,
    hasPassword: access.passwordHash !== null,
    waitingRoom: access.waitingRoom,
  };
}
