import type { MediaKind, MediaPath, MediaSource } from './types.ts';

/**
 * The connection a remote track arrives on, for reading the statistics of all its tracks at once:
 * a browser gathers a connection's whole report even when asked about one receiver.
 */
export interface ConnectionStats {
  /** The same object for every track of one connection (its RTCPeerConnection, its transport). */
  readonly key: object;
  read(): Promise<RTCStatsReport>;
}

/** One remote track as one path delivers it. */
export interface TrackCandidate {
  /** Unique per candidate (a P2P receiver or an SFU consumer). */
  id: string;
  peerId: string;
  source: MediaSource;
  kind: MediaKind;
  path: MediaPath;
}

interface Slot<C> {
  p2p?: C;
  sfu?: C;
  shown?: C;
}

const other = (path: MediaPath): MediaPath => (path === 'p2p' ? 'sfu' : 'p2p');

/**
 * Which remote track the app sees, per (peer, source).
 *
 * While a room switches between P2P and SFU a remote source can arrive twice, once per path. The
 * registry holds both candidates and shows the app exactly one: the preferred path's when it has
 * one, else the other path's. Whenever the shown candidate changes it calls `show(new)` BEFORE
 * `hide(old)`, so the app always has a track for the source: switching paths is make-before-break.
 */
export class TrackRegistry<C extends TrackCandidate> {
  readonly #slots = new Map<string, Slot<C>>();
  readonly #show: (candidate: C) => void;
  readonly #hide: (candidate: C) => void;
  #preferred: MediaPath = 'p2p';

  constructor(show: (candidate: C) => void, hide: (candidate: C) => void) {
    this.#show = show;
    this.#hide = hide;
  }

  static keyOf(peerId: string, source: MediaSource): string {
    return `${peerId}\u0000${source}`;
  }

  get preferred(): MediaPath {
    return this.#preferred;
  }

  /** Adds (or replaces) the candidate of its (peer, source, path). */
  add(candidate: C): void {
    const key = TrackRegistry.keyOf(candidate.peerId, candidate.source);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = {};
      this.#slots.set(key, slot);
    }
    slot[candidate.path] = candidate;
    this.#recompute(key, slot);
  }

  /** Removes a candidate; a no-op when it was already replaced or removed. */
  remove(candidate: C): void {
    const key = TrackRegistry.keyOf(candidate.peerId, candidate.source);
    const slot = this.#slots.get(key);
    if (!slot || slot[candidate.path]?.id !== candidate.id) return;
    delete slot[candidate.path];
    this.#recompute(key, slot);
  }

  /** Removes every candidate the predicate picks. */
  removeWhere(predicate: (candidate: C) => boolean): void {
    for (const candidate of this.candidates()) {
      if (predicate(candidate)) this.remove(candidate);
    }
  }

  removePeer(peerId: string): void {
    this.removeWhere((c) => c.peerId === peerId);
  }

  removePath(path: MediaPath): void {
    this.removeWhere((c) => c.path === path);
  }

  clear(): void {
    this.removeWhere(() => true);
  }

  /** Prefers a path: every source that has it switches over (show new, then hide old). */
  setPreferred(path: MediaPath): void {
    if (path === this.#preferred) return;
    this.#preferred = path;
    for (const [key, slot] of [...this.#slots]) this.#recompute(key, slot);
  }

  get(peerId: string, source: MediaSource, path: MediaPath): C | undefined {
    return this.#slots.get(TrackRegistry.keyOf(peerId, source))?.[path];
  }

  /** The candidate the app currently has for (peer, source). */
  shownFor(peerId: string, source: MediaSource): C | undefined {
    return this.#slots.get(TrackRegistry.keyOf(peerId, source))?.shown;
  }

  isShown(candidate: C): boolean {
    return this.shownFor(candidate.peerId, candidate.source)?.id === candidate.id;
  }

  /** Every candidate of every path. */
  candidates(path?: MediaPath): C[] {
    const out: C[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.p2p && path !== 'sfu') out.push(slot.p2p);
      if (slot.sfu && path !== 'p2p') out.push(slot.sfu);
    }
    return out;
  }

  /** What the app currently has, one per (peer, source). */
  shown(): C[] {
    const out: C[] = [];
    for (const slot of this.#slots.values()) if (slot.shown) out.push(slot.shown);
    return out;
  }

  /**
   * The (peer, source) pairs a switch to `path` still waits for: those with no candidate on `path`,
   * or whose candidate `isFlowing` rejects.
   */
  pendingFor(
    path: MediaPath,
    isFlowing: (candidate: C) => boolean,
  ): Array<{ peerId: string; source: MediaSource }> {
    const out: Array<{ peerId: string; source: MediaSource }> = [];
    for (const slot of this.#slots.values()) {
      const any = slot.p2p ?? slot.sfu;
      if (!any) continue;
      const target = slot[path];
      if (!target || !isFlowing(target)) out.push({ peerId: any.peerId, source: any.source });
    }
    return out;
  }

  #recompute(key: string, slot: Slot<C>): void {
    const wanted = slot[this.#preferred] ?? slot[other(this.#preferred)];
    const current = slot.shown;
    if (wanted === current) {
      if (!wanted) this.#slots.delete(key);
      return;
    }
    slot.shown = wanted;
    if (!wanted) this.#slots.delete(key);
    if (wanted) this.#show(wanted);
    if (current) this.#hide(current);
  }
}
