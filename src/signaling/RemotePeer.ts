import type { ClusterLink } from '../cluster/ClusterBusTypes.ts';
import type { ErrorCode, OutgoingMessage } from '../protocol/index.ts';
import type { ErrorExtra, SessionHandle } from './SessionTypes.ts';

/**
 * A peer of the room whose socket lives on another node of the cluster. It stands in this node's
 * registry like a local session, so relays and broadcasts reach it (over that node's channel).
 */
export class RemotePeer implements SessionHandle {
  readonly roomId: string;
  readonly peerId: string;
  readonly nodeId: string;
  readonly isOpen = true;
  readonly #link: ClusterLink;

  constructor(link: ClusterLink, nodeId: string, roomId: string, peerId: string) {
    this.#link = link;
    this.nodeId = nodeId;
    this.roomId = roomId;
    this.peerId = peerId;
  }

  get id(): string {
    return `${this.nodeId}/${this.peerId}`;
  }

  send(message: OutgoingMessage): void {
    if (message.timestamp === undefined) message.timestamp = Date.now();
    this.sendRaw(JSON.stringify(message));
  }

  sendRaw(frame: string): void {
    this.#link.send(this.nodeId, 'T', this.roomId, this.peerId, frame);
  }

  sendError(_code: ErrorCode, _error?: string, _extra?: ErrorExtra): void {
    // Errors answer the sender's own requests; a remote peer's requests are answered by its node.
  }

  /** Asks its node to remove it (a host's kick-peer). */
  kick(reason: string): void {
    this.#link.send(this.nodeId, 'K', this.roomId, this.peerId, reason);
  }
}
