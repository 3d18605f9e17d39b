import type { OutgoingMessage } from '../protocol/index.ts';
import type { SessionHandle } from './SessionTypes.ts';

/**
 * The sessions of this process by room and peer id: the fan-out table. Membership truth is the
 * RoomStore; this only maps ids to live sockets.
 */
export class PeerRegistry {
  readonly #rooms = new Map<string, Map<string, SessionHandle>>();

  add(roomId: string, peerId: string, session: SessionHandle): void {
    let peers = this.#rooms.get(roomId);
    if (!peers) {
      peers = new Map();
      this.#rooms.set(roomId, peers);
    }
    peers.set(peerId, session);
  }

  /** Removes the mapping only when it still points at this session (a reconnect may have replaced it). */
  remove(roomId: string, peerId: string, session: SessionHandle): void {
    const peers = this.#rooms.get(roomId);
    if (!peers || peers.get(peerId) !== session) return;
    peers.delete(peerId);
    if (peers.size === 0) this.#rooms.delete(roomId);
  }

  get(roomId: string, peerId: string): SessionHandle | undefined {
    return this.#rooms.get(roomId)?.get(peerId);
  }

  peersOf(roomId: string): ReadonlyMap<string, SessionHandle> {
    return this.#rooms.get(roomId) ?? new Map();
  }

  /** Rooms with at least one peer of this process. */
  roomIds(): IterableIterator<string> {
    return this.#rooms.keys();
  }

  /** Called with every broadcast (metrics count mode changes here). */
  onBroadcast: ((message: OutgoingMessage) => void) | undefined;

  countIn(roomId: string): number {
    return this.#rooms.get(roomId)?.size ?? 0;
  }

  get size(): number {
    let n = 0;
    for (const peers of this.#rooms.values()) n += peers.size;
    return n;
  }

  sendTo(roomId: string, peerId: string, message: OutgoingMessage): boolean {
    const session = this.get(roomId, peerId);
    if (!session) return false;
    session.send(message);
    return true;
  }

  /** Sends to every peer of the room but `exceptPeerId`, serialising once. */
  broadcast(roomId: string, message: OutgoingMessage, exceptPeerId?: string): void {
    this.onBroadcast?.(message);
    const peers = this.#rooms.get(roomId);
    if (!peers) return;
    if (message.timestamp === undefined) message.timestamp = Date.now();
    const frame = JSON.stringify(message);
    for (const [peerId, session] of peers) {
      if (peerId !== exceptPeerId) session.sendRaw(frame);
    }
  }
}
