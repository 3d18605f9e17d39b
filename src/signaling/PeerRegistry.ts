import type { ClusterLink, EnvelopeKind } from '../cluster/ClusterBusTypes.ts';
import type { OutgoingMessage } from '../protocol/index.ts';
import { RemotePeer } from './RemotePeer.ts';
import type { SessionHandle } from './SessionTypes.ts';

/**
 * The peers of each room by id, as this process reaches them: its own sessions (and parked peers),
 * and, in a cluster, RemotePeer stand-ins for the peers of other nodes. The fan-out table.
 * Membership truth is the RoomStore; this only maps ids to where frames go.
 */
export class PeerRegistry {
  readonly #rooms = new Map<string, Map<string, SessionHandle>>();
  #remote = 0;
  /** Set when this node is part of a cluster: broadcasts then reach the other nodes, once each. */
  cluster: ClusterLink | undefined;

  add(roomId: string, peerId: string, session: SessionHandle): void {
    let peers = this.#rooms.get(roomId);
    if (!peers) {
      peers = new Map();
      this.#rooms.set(roomId, peers);
    }
    const before = peers.get(peerId);
    if (before instanceof RemotePeer) this.#remote--;
    if (session instanceof RemotePeer) this.#remote++;
    peers.set(peerId, session);
  }

  /** Removes the mapping only when it still points at this session (a reconnect may have replaced it). */
  remove(roomId: string, peerId: string, session: SessionHandle): void {
    const peers = this.#rooms.get(roomId);
    if (!peers || peers.get(peerId) !== session) return;
    peers.delete(peerId);
    if (session instanceof RemotePeer) this.#remote--;
    if (peers.size === 0) this.#rooms.delete(roomId);
  }

  get(roomId: string, peerId: string): SessionHandle | undefined {
    return this.#rooms.get(roomId)?.get(peerId);
  }

  peersOf(roomId: string): ReadonlyMap<string, SessionHandle> {
    return this.#rooms.get(roomId) ?? new Map();
  }

  /** Rooms with at least one peer known here (local or, in a cluster, remote). */
  roomIds(): IterableIterator<string> {
    return this.#rooms.keys();
  }

  /** Called with every broadcast (metrics count mode changes here). */
  onBroadcast: ((message: OutgoingMessage) => void) | undefined;

  /** The room's participants, on every node. */
  countIn(roomId: string): number {
    return this.#rooms.get(roomId)?.size ?? 0;
  }

  /** The room's participants connected to this node. */
  localCountIn(roomId: string): number {
    const peers = this.#rooms.get(roomId);
    if (!peers) return 0;
    let n = 0;
    for (const session of peers.values()) if (!(session instanceof RemotePeer)) n++;
    return n;
  }

  /** Peers connected to this node. */
  get size(): number {
    let n = 0;
    for (const peers of this.#rooms.values()) n += peers.size;
    return n - this.#remote;
  }

  /** The remote stand-ins of one node (a dead node's peers leave with it). */
  remotesOf(nodeId: string): RemotePeer[] {
    const out: RemotePeer[] = [];
    for (const peers of this.#rooms.values()) {
      for (const session of peers.values()) {
        if (session instanceof RemotePeer && session.nodeId === nodeId) out.push(session);
      }
    }
    return out;
  }

  /** The other nodes this node holds peers of. */
  remoteNodes(): Set<string> {
    const nodes = new Set<string>();
    if (this.#remote === 0) return nodes;
    for (const peers of this.#rooms.values()) {
      for (const session of peers.values()) if (session instanceof RemotePeer) nodes.add(session.nodeId);
    }
    return nodes;
  }

  /**
   * Sends to a peer the store lists, wherever it is connected: through this node's registry, or
   * (in a cluster) through the node its record names, which this node may hold no stand-in for.
   */
  sendToStored(roomId: string, peer: { peerId: string; serverId: string }, message: OutgoingMessage): void {
    const handle = this.get(roomId, peer.peerId);
    if (handle) {
      handle.send({ ...message });
      return;
    }
    const cluster = this.cluster;
    if (cluster && peer.serverId !== cluster.nodeId) {
      const frame = JSON.stringify({ ...message, timestamp: Date.now() });
      cluster.send(peer.serverId, 'T', roomId, peer.peerId, frame);
    }
  }

  sendTo(roomId: string, peerId: string, message: OutgoingMessage): boolean {
    const session = this.get(roomId, peerId);
    if (!session) return false;
    session.send(message);
    return true;
  }

  /** Sends to every peer of the room but `exceptPeerId`, serialising once; each other node gets it once. */
  broadcast(roomId: string, message: OutgoingMessage, exceptPeerId?: string): void {
    this.#fanOut('R', roomId, message, exceptPeerId);
  }

  /** peer-joined: other nodes also learn where the newcomer lives. */
  broadcastJoined(roomId: string, peerId: string, message: OutgoingMessage): void {
    this.#fanOut('J', roomId, message, peerId);
  }

  /** peer-left: other nodes also drop it from their directory. */
  broadcastLeft(roomId: string, peerId: string, message: OutgoingMessage): void {
    this.#fanOut('L', roomId, message, peerId);
  }

  /** Tells every other node of the room (and `alsoNode`) something that is not a frame (`M`, `C`). */
  notifyNodes(kind: EnvelopeKind, roomId: string, peerId: string, payload = '', alsoNode?: string): void {
    const cluster = this.cluster;
    if (!cluster) return;
    const nodes = this.#nodesOf(roomId);
    if (alsoNode !== undefined && alsoNode !== cluster.nodeId) nodes.add(alsoNode);
    for (const nodeId of nodes) cluster.send(nodeId, kind, roomId, peerId, payload);
  }

  /** A frame another node broadcast: for this node's own peers of the room only. */
  deliverLocal(roomId: string, frame: string, exceptPeerId: string): void {
    const peers = this.#rooms.get(roomId);
    if (!peers) return;
    for (const [peerId, session] of peers) {
      if (peerId !== exceptPeerId && !(session instanceof RemotePeer)) session.sendRaw(frame);
    }
  }

  /** The other nodes with peers in the room. */
  nodesOf(roomId: string): Set<string> {
    return this.#nodesOf(roomId);
  }

  #nodesOf(roomId: string): Set<string> {
    const nodes = new Set<string>();
    const peers = this.#rooms.get(roomId);
    if (!peers || this.#remote === 0) return nodes;
    for (const session of peers.values()) if (session instanceof RemotePeer) nodes.add(session.nodeId);
    return nodes;
  }

  #fanOut(kind: EnvelopeKind, roomId: string, message: OutgoingMessage, exceptPeerId?: string): void {
    this.onBroadcast?.(message);
    const peers = this.#rooms.get(roomId);
    if (!peers) return;
    if (message.timestamp === undefined) message.timestamp = Date.now();
    const frame = JSON.stringify(message);
    let nodes: Set<string> | undefined;
    for (const [peerId, session] of peers) {
      if (peerId === exceptPeerId) continue;
      if (!(session instanceof RemotePeer)) session.sendRaw(frame);
      else if (nodes) nodes.add(session.nodeId);
      else nodes = new Set([session.nodeId]);
    }
    if (nodes && this.cluster) {
      for (const nodeId of nodes) this.cluster.send(nodeId, kind, roomId, exceptPeerId ?? '', frame);
    }
  }
}
