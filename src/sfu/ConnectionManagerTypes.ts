import type {
  AdvertisedCandidate,
  PoolHealth,
  PoolStatus,
  WorkerResourceUsageEntry,
} from '../../workers/MediaWorkerPoolTypes.ts';
import type {
  ClientMessageOf,
  ConnectionMode,
  OutgoingMessage,
  ProducerInfo,
  ReplyBody,
  RoomModePolicy,
  RouterRtpCapabilities,
  SfuOperationType,
  SwitchMessageType,
} from '../protocol/index.ts';
import type { RoomRecord } from '../rooms/RoomTypes.ts';
import type { ReachabilitySummary } from './ReachabilityLog.ts';
import type { RecordingStarted, RecordingStopped } from './recording/RoomRecorder.ts';
import type { SfuObjectCounts, SfuRoomApi } from './SfuRoomTypes.ts';

/** How the SFU layer reaches peers without knowing about sockets (PeerRegistry implements it). */
export interface RoomMessenger {
  sendTo(roomId: string, peerId: string, message: OutgoingMessage): boolean;
  broadcast(roomId: string, message: OutgoingMessage, exceptPeerId?: string): void;
}

/** The client messages the ConnectionManager handles: SFU operations and the switch's reports. */
export type MediaMessageType = SfuOperationType | SwitchMessageType;
export type MediaMessage = ClientMessageOf<MediaMessageType>;

/** One SFU operation: a request of a peer in a room that has a router, and its reply. */
export type SfuOperation<T extends SfuOperationType> = (
  sfu: SfuRoomApi,
  peerId: string,
  message: ClientMessageOf<T>,
) => ReplyBody<T> | Promise<ReplyBody<T>>;

/** One operation per message routed to `sfu` in the protocol: a missing one does not compile. */
export type SfuOperationTable = { [T in SfuOperationType]: SfuOperation<T> };

export interface SfuStatus {
  enabled: boolean;
  /** available: every worker runs; degraded: some do; unavailable: none (or the SFU is off). */
  health: PoolHealth;
  available: boolean;
  reason?: string;
  workers: { up: number; total: number };
  /** Worker slots that are down, with why. */
  down: PoolStatus['down'];
  /** The addresses and ports clients are given for ICE. */
  candidates: AdvertisedCandidate[];
  /** How they were chosen: local-addresses, announced (ANNOUNCED_IP), stun, stun-fallback, listen-ip. */
  addressSource: PoolStatus['addressSource'] | 'none';
  routers: number;
  /** Client transports that connected and failed over the last 10 minutes. */
  clientReachability: ReachabilitySummary;
}

/**
 * What a join changes, for the signaling layer to send in this order: room-joined (with `mode`
 * and the router capabilities), then `toJoiner`, then `toOthers` (a mode-changed the join caused),
 * then peer-joined. So the others know the room's new mode before they hear of the newcomer.
 */
export interface JoinEffects {
  mode: ConnectionMode;
  roomMode: RoomModePolicy;
  routerRtpCapabilities: RouterRtpCapabilities | undefined;
  toJoiner: OutgoingMessage[];
  toOthers: OutgoingMessage[];
}

/** What signaling and REST need from the per-room mode state machine. */
export interface RoomMediaController {
  modeOf(roomId: string): ConnectionMode;
  /**
   * The room's router capabilities; for a P2P room, or without a room, those every router of this
   * server gets (undefined without SFU).
   */
  routerRtpCapabilities(roomId?: string): RouterRtpCapabilities | undefined;
  /**
   * A peer joins, `participantCount` including it. A transition this join causes starts here;
   * the caller sends what it returns (see JoinEffects for the order).
   */
  peerJoining(
    room: RoomRecord,
    peerId: string,
    participantCount: number,
    /** In a cluster: the node the store says runs the room's media (read with the join). */
    mediaNode?: string,
  ): Promise<JoinEffects>;
  /** Called after the others got peer-left. */
  peerLeft(roomId: string, peerId: string, participantCount: number): void;
  /** The room is gone (deleted or emptied): release its router at once. */
  roomClosed(roomId: string): void;
  /** Handles one SFU request or switch report of a peer; returns the reply (the caller adds requestId). */
  handle(
    roomId: string,
    peerId: string,
    message: MediaMessage,
  ): Promise<ReplyBody<MediaMessageType> | undefined>;
  producersOf(roomId: string, peerId: string): ProducerInfo[];
  status(): SfuStatus;
  /** Totals over the rooms on the SFU, and each running worker's resource usage (metrics). */
  sfuObjectCounts(): SfuObjectCounts;
  workerUsage(): Promise<WorkerResourceUsageEntry[]>;
  /**
   * The process is going down: from now on a worker that exits is not a crash (no rebuild, no
   * fallback, no message), so clients hear server-shutdown first. Synchronous, idempotent.
   */
  beginShutdown(): void;
  /**
   * Starts recording the room (moving it to the SFU for the recording's duration if it is P2P);
   * RECORDING_UNAVAILABLE with the reason when it cannot (E2EE, no ffmpeg, no SFU, nobody sends).
   */
  startRecording(room: RoomRecord): Promise<RecordingStarted>;
  /** Stops it; undefined when the room has no such recording. */
  stopRecording(roomId: string, recordingId: string): Promise<RecordingStopped | undefined>;
  /** A cluster node leaving on purpose hands the rooms whose media it runs to other nodes. */
  handOver?(): Promise<void>;
  /** A cluster node starting hands back the rooms a previous life of it ran. */
  releaseLeftoverPins?(): Promise<number>;
  close(): Promise<void>;
}
