import type { ConnectionMode, OutgoingMessage, ProducerInfo } from '../protocol/index.ts';
import type { ClientMessageOf } from '../protocol/messages.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';

/** How the SFU layer reaches peers without knowing about sockets (PeerRegistry implements it). */
export interface RoomMessenger {
  sendTo(roomId: string, peerId: string, message: OutgoingMessage): boolean;
  broadcast(roomId: string, message: OutgoingMessage, exceptPeerId?: string): void;
}

/** The SFU messages a client can send, all handled by the ConnectionManager. */
export type SfuClientMessage = ClientMessageOf<
  | 'sfu-join'
  | 'sfu-create-transport'
  | 'sfu-connect-transport'
  | 'sfu-produce'
  | 'sfu-consume'
  | 'sfu-resume-consumer'
  | 'sfu-pause-consumer'
  | 'sfu-pause-producer'
  | 'sfu-resume-producer'
  | 'sfu-close-producer'
  | 'sfu-restart-ice'
  | 'sfu-ready'
  | 'p2p-ready'
>;

export interface SfuStatus {
  enabled: boolean;
  available: boolean;
  reason?: string;
  workers: number;
  routers: number;
}

/** What signaling and REST need from the per-room mode state machine. */
export interface RoomMediaController {
  modeOf(roomId: string): ConnectionMode;
  /** The room's router capabilities; for a P2P room, those its router would have (undefined without SFU). */
  routerRtpCapabilities(roomId: string): unknown;
  /**
   * Called before the joiner gets room-joined, with the count including it: a transition that this
   * join causes starts here (so room-joined already carries the new mode and router capabilities).
   */
  peerJoining(room: RoomRecord, peerId: string, participantCount: number): Promise<void>;
  /** Called after the joiner got room-joined, before the others get peer-joined: announces a mode change. */
  peerJoined(room: RoomRecord, peerId: string, participantCount: number): void;
  /** Called after the others got peer-left. */
  peerLeft(roomId: string, peerId: string, participantCount: number): void;
  /** The room is gone (deleted or emptied): release its router at once. */
  roomClosed(roomId: string): void;
  /** Handles one SFU request of a peer; returns the reply (requestId is added by the caller). */
  handle(roomId: string, peerId: string, message: SfuClientMessage): Promise<OutgoingMessage | undefined>;
  producersOf(roomId: string, peerId: string): ProducerInfo[];
  status(): SfuStatus;
  close(): Promise<void>;
}
