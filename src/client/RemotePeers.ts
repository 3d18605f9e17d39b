import { mediaStateFlag } from './sources.ts';
import type { MediaSource, MediaState, OpenCallEvents, PeerInfo } from './types.ts';

/** What a rejoin changed in the room, for the events the app gets. */
export interface PeerChanges {
  joined: PeerInfo[];
  left: PeerInfo[];
  mediaStateChanged: PeerInfo[];
}

const copy = (p: PeerInfo): PeerInfo => ({ ...p, mediaState: { ...p.mediaState } });

/** The other participants of the room, in join order, as the server last described them. */
export class RemotePeers {
  readonly #peers = new Map<string, PeerInfo>();

  /** Copies, so the app cannot change what the client knows. */
  list(): PeerInfo[] {
    return [...this.#peers.values()].map(copy);
  }

  ids(): string[] {
    return [...this.#peers.keys()];
  }

  has(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  /**
   * Takes the room-joined peer list. On a rejoin only the differences come out as changes; on a
   * fresh join everyone is new.
   */
  sync(
    peers: PeerInfo[],
    selfId: string,
    rejoin: boolean,
    emit?: <K extends 'peer-joined' | 'peer-left' | 'media-state-changed'>(
      event: K,
      payload: OpenCallEvents[K],
    ) => void,
  ): PeerChanges {
    const fresh = new Map(peers.filter((p) => p.peerId !== selfId).map((p) => [p.peerId, p]));
    const changes: PeerChanges = { joined: [], left: [], mediaStateChanged: [] };
    if (rejoin) {
      for (const [peerId, old] of [...this.#peers]) {
        if (!fresh.has(peerId)) {
          this.#peers.delete(peerId);
          changes.left.push(copy(old));
        }
      }
    } else {
      this.#peers.clear();
    }
    for (const [peerId, info] of fresh) {
      const known = this.#peers.get(peerId);
      this.#peers.set(peerId, copy(info));
      if (!known) changes.joined.push(copy(info));
      else if (JSON.stringify(known.mediaState) !== JSON.stringify(info.mediaState)) {
        changes.mediaStateChanged.push(copy(info));
      }
    }
    for (const p of changes.left) emit?.('peer-left', { peerId: p.peerId, displayName: p.displayName });
    for (const p of changes.joined) emit?.('peer-joined', p);
    for (const p of changes.mediaStateChanged) {
      emit?.('media-state-changed', { peerId: p.peerId, mediaState: p.mediaState });
    }
    return changes;
  }

  /** A peer-joined; `again` when the peer was known (it reconnected: its old connection is dead). */
  joined(info: PeerInfo): 'new' | 'again' {
    const again = this.#peers.has(info.peerId);
    this.#peers.set(info.peerId, copy(info));
    return again ? 'again' : 'new';
  }

  /** A peer-left; the peer as it was, or undefined when unknown. */
  left(peerId: string): PeerInfo | undefined {
    const info = this.#peers.get(peerId);
    this.#peers.delete(peerId);
    return info;
  }

  /** A media-state-changed; false for an unknown peer. */
  setMediaState(peerId: string, mediaState: MediaState): boolean {
    const info = this.#peers.get(peerId);
    if (!info) return false;
    info.mediaState = { ...mediaState };
    return true;
  }

  /** The peer's media state says this source is off (muted mic, camera off): expect no media. */
  sourceOff(peerId: string, source: MediaSource): boolean {
    if (source !== 'mic' && source !== 'camera') return false;
    const info = this.#peers.get(peerId);
    return info !== undefined && !info.mediaState[mediaStateFlag(source)];
  }

  clear(): void {
    this.#peers.clear();
  }
}
