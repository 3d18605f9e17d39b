import type { ClientMessageOf } from '../protocol/index.ts';
import type { ReplyFn } from './handlers.ts';
import type { Session } from './Session.ts';

/** A newcomer held until a host admits or denies it. */
export interface Guest {
  readonly session: Session;
  readonly peerId: string;
  readonly displayName: string;
  readonly message: ClientMessageOf<'join-room'>;
  readonly reply: ReplyFn<'join-room'>;
}

/**
 * The guests of this process's waiting rooms. A guest is in no room: it is not in the registry or
 * the store, so it receives nothing from the room and can send nothing to it (NOT_IN_ROOM).
 */
export class WaitingRoom {
  readonly #rooms = new Map<string, Map<string, Guest>>();
  readonly #bySession = new Map<Session, string>();

  hold(roomId: string, guest: Guest): void {
    let guests = this.#rooms.get(roomId);
    if (!guests) {
      guests = new Map();
      this.#rooms.set(roomId, guests);
    }
    guests.set(guest.peerId, guest);
    this.#bySession.set(guest.session, roomId);
  }

  has(roomId: string, peerId: string): boolean {
    return this.#rooms.get(roomId)?.has(peerId) ?? false;
  }

  isWaiting(session: Session): boolean {
    return this.#bySession.has(session);
  }

  /** Takes a guest out (admitted or denied); undefined when it is not waiting. */
  take(roomId: string, peerId: string): Guest | undefined {
    const guests = this.#rooms.get(roomId);
    const guest = guests?.get(peerId);
    if (!guests || !guest) return undefined;
    guests.delete(peerId);
    if (guests.size === 0) this.#rooms.delete(roomId);
    this.#bySession.delete(guest.session);
    return guest;
  }

  /** The session went away: takes its guest out, if it was one. */
  leave(session: Session): { roomId: string; guest: Guest } | undefined {
    const roomId = this.#bySession.get(session);
    if (roomId === undefined) return undefined;
    const guest = [...(this.#rooms.get(roomId)?.values() ?? [])].find((g) => g.session === session);
    if (!guest) return undefined;
    this.take(roomId, guest.peerId);
    return { roomId, guest };
  }
}
