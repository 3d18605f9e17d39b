/**
 * What travels between the nodes of a cluster, on one Redis pub/sub channel per node. Ordering per
 * sender→receiver follows from Redis: one publishing connection per node, one channel per receiver.
 *
 * - `T` a frame for one peer of the receiving node (`peerId` is the target);
 * - `R` a frame for the receiving node's peers of a room (`peerId` is the one to skip, or empty);
 * - `J` / `L` peer-joined / peer-left: the receiver updates its directory, then delivers like `R`;
 * - `M` the peer now lives on the sending node (a resume there): no frame, nobody is told;
 * - `C` the room was closed (deleted through REST);
 * - `K` kick this peer of yours (`payload` is the reason);
 * - `P` a ping the node sends itself, to measure pub/sub lag;
 * - `Q` / `A` a request to the node that runs a room's media, and its answer (ClusterMedia);
 * - `O` the node that ran the room's media is leaving: pin it elsewhere now;
 * - `N` the sending node runs the room's media from now on (sent before its sfu-restart);
 * - `W` a host's decision for a guest waiting on the receiving node (admit or deny).
 */
export type EnvelopeKind = 'T' | 'R' | 'J' | 'L' | 'M' | 'C' | 'K' | 'P' | 'Q' | 'A' | 'O' | 'N' | 'W';

export interface Envelope {
  /** The node that sent it. */
  origin: string;
  kind: EnvelopeKind;
  roomId: string;
  peerId: string;
  /** Epoch ms at publish. */
  sentAt: number;
  payload: string;
}

export interface ClusterBusEvents {
  envelope: [envelope: Envelope];
  /**
   * A node stopped heartbeating. `cleaner` is true on exactly one live node: that one removes the
   * dead node's peers from the store; every node drops them from its own directory.
   */
  nodedead: [nodeId: string, cleaner: boolean];
}

/** What the signaling layer needs to reach other nodes (ClusterBus implements it). */
export interface ClusterLink {
  readonly nodeId: string;
  send(nodeId: string, kind: EnvelopeKind, roomId: string, peerId: string, payload: string): void;
}
