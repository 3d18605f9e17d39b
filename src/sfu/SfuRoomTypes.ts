import type { types as ms } from 'mediasoup';
import type { EnhancedEventEmitter } from 'mediasoup/extras';
import type { MediaWorkerPoolApi } from '../../workers/MediaWorkerPoolTypes.ts';
import type { SfuConfig } from '../config/Config.ts';
import type { Logger } from '../logger.ts';
import type {
  DtlsParameters,
  IceParameters,
  MediaKind,
  MediaSource,
  ProducerInfo,
  RtpCapabilities,
  RtpParameters,
  SctpStreamParameters,
  ServerMessageOf,
  TransportDirection,
} from '../protocol/index.ts';

/** What SfuRoom needs from the worker pool (a MediaWorkerPool, or a test double). */
export type SfuRouterSource = Pick<
  MediaWorkerPoolApi,
  'createRouter' | 'getWebRtcServer' | 'transportListenInfos'
>;

export interface SfuRoomOptions {
  roomId: string;
  pool: SfuRouterSource;
  sfuConfig: SfuConfig;
  /** The room's logger gets `{ component: 'SfuRoom', roomId }` bound. */
  logger: Logger;
  /** Router codecs; defaults to routerMediaCodecs from mediaCodecs.ts. */
  mediaCodecs?: readonly ms.RouterRtpCodecCapability[];
  /** Bits per second the router may send on a new recv transport before BWE knows better. Default 1 Mbps. */
  initialAvailableOutgoingBitrate?: number;
  /** Cap on what one send transport may push to the router, in bps. Default 4 Mbps (camera + screen). */
  maxIncomingBitrate?: number;
}

/** A server message's fields, without its type and the fields the server adds when sending. */
type Fields<T> = Omit<T, 'type' | 'timestamp' | 'requestId'>;

/** createTransport's answer: what sfu-transport-created carries. */
export type TransportInfo = Fields<ServerMessageOf<'sfu-transport-created'>>;

/**
 * consume's answer: what sfu-consumed carries. `peerId` is the PRODUCING peer (whose media this is);
 * the consumer starts paused, the client resumes it once its local consumer exists.
 */
export type ConsumerInfo = Fields<ServerMessageOf<'sfu-consumed'>>;

export type IceParametersInfo = IceParameters;

/** consumeData's answer: what sfu-data-consumed carries (`peerId` is the producing peer). */
export type DataConsumerInfo = Fields<ServerMessageOf<'sfu-data-consumed'>>;

/** What produceData needs (sfu-produce-data's fields). */
export interface DataProducerRequest {
  transportId: string;
  sctpStreamParameters: SctpStreamParameters;
  label: string;
  protocol: string;
  /** Only this peer may consume it; absent: every other peer of the room. */
  toPeerId?: string | undefined;
}

/** A new data producer: tell `toPeerId`, or everyone but its owner (sfu-new-data-producer). */
export interface DataProducerRef {
  dataProducerId: string;
  peerId: string;
  label: string;
  protocol: string;
  toPeerId: string | undefined;
}

/** A producer event: whose producer it is. */
export interface ProducerRef {
  producerId: string;
  peerId: string;
}

/** A consumer event: `peerId` is the CONSUMING peer, the one to tell. */
export interface ConsumerRef {
  peerId: string;
  consumerId: string;
  producerId: string;
}

/** A transport of a peer: ICE connected, or DTLS failed. */
export interface TransportRef {
  peerId: string;
  transportId: string;
  direction: TransportDirection;
}

/** Why the room's media side ended: close() was called, or the worker/router went away under it. */
export type SfuRoomCloseReason = 'closed' | 'worker-closed' | 'router-closed';

export type SfuRoomEvents = {
  /** A peer started producing; tell everyone else (sfu-new-producer). */
  newproducer: [ProducerInfo];
  /** A producer closed: closeProducer, its transport replaced, or its peer removed. */
  producerclosed: [ProducerRef];
  producerpaused: [ProducerRef];
  producerresumed: [ProducerRef];
  /** A consumer died because its producer (or its transport) closed; tell `peerId`. */
  consumerclosed: [ConsumerRef];
  /** The consumer's producer paused/resumed; tell `peerId`. */
  consumerpaused: [ConsumerRef];
  consumerresumed: [ConsumerRef];
  newdataproducer: [DataProducerRef];
  /** A data consumer died because its data producer closed; tell `peerId` (the consumer). */
  dataconsumerclosed: [{ peerId: string; dataConsumerId: string; dataProducerId: string }];
  /** A transport reached ICE connected for the first time: the client reaches the SFU. */
  transportconnected: [TransportRef];
  /** A transport's DTLS handshake failed. */
  transportfailed: [TransportRef & { reason: string }];
  /** The dominant speaker changed (the router's ActiveSpeakerObserver, over the audio producers). */
  activespeaker: [{ peerId: string }];
  /** The router is gone; the room is unusable. No per-producer events are emitted for this. */
  close: [SfuRoomCloseReason];
};

/** Server-side counters of one consumer (router → consuming client), from consumer.getStats(). */
export interface ConsumerStatsEntry {
  peerId: string;
  consumerId: string;
  producerId: string;
  producerPeerId: string;
  kind: MediaKind;
  source: MediaSource;
  paused: boolean;
  producerPaused: boolean;
  /** RTP packets / bytes the router sent on this consumer (outbound-rtp). */
  packetCount: number;
  byteCount: number;
  score: number;
}

/** Server-side counters of one producer (client → router), from producer.getStats(). */
export interface ProducerStatsEntry {
  peerId: string;
  producerId: string;
  kind: MediaKind;
  source: MediaSource;
  paused: boolean;
  /** RTP packets / bytes the router received on this producer (inbound-rtp, all encodings). */
  packetCount: number;
  byteCount: number;
  score: number;
}

/** The public face of SfuRoom. Every method rejects with ProtocolError only. */
export interface SfuRoomApi extends EnhancedEventEmitter<SfuRoomEvents> {
  readonly roomId: string;
  readonly routerId: string;
  readonly rtpCapabilities: ms.RtpCapabilities;
  readonly closed: boolean;
  readonly peerIds: string[];
  /** Live transports, producers and consumers of the room (metrics). */
  objectCounts(): SfuObjectCounts;
  hasPeer(peerId: string): boolean;
  /** The peer has a recv transport: consumers can be made for it. */
  hasRecvTransport(peerId: string): boolean;
  hasProducer(producerId: string): boolean;
  /** Registers (or re-registers) a peer; returns the other peers' producers to consume. */
  addPeer(peerId: string, rtpCapabilities: RtpCapabilities): ProducerInfo[];
  /** A new send or recv transport; a peer has at most one of each, a new one replaces the old. */
  createTransport(
    peerId: string,
    direction: TransportDirection,
    enableSctp?: boolean,
  ): Promise<TransportInfo>;
  connectTransport(peerId: string, transportId: string, dtlsParameters: DtlsParameters): Promise<void>;
  produce(
    peerId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    source: MediaSource,
    paused?: boolean,
  ): Promise<string>;
  consume(peerId: string, producerId: string, rtpCapabilities?: RtpCapabilities): Promise<ConsumerInfo>;
  resumeConsumer(peerId: string, consumerId: string): Promise<ConsumerRef>;
  pauseConsumer(peerId: string, consumerId: string): Promise<ConsumerRef>;
  pauseProducer(peerId: string, producerId: string): Promise<void>;
  resumeProducer(peerId: string, producerId: string): Promise<void>;
  closeProducer(peerId: string, producerId: string): void;
  restartIce(peerId: string, transportId: string): Promise<IceParametersInfo>;
  /** A data channel on the peer's send transport (which must have SCTP), to the room or one peer. */
  produceData(peerId: string, request: DataProducerRequest): Promise<string>;
  /** A data consumer of a data producer sent to this peer, on its SCTP recv transport. */
  consumeData(peerId: string, dataProducerId: string): Promise<DataConsumerInfo>;
  closeDataProducer(peerId: string, dataProducerId: string): void;
  getProducers(): ProducerInfo[];
  getPeerProducers(peerId: string): ProducerInfo[];
  /**
   * Sends a producer's RTP, as plain RTP (no SRTP), to a local port pair (a recorder): a
   * PlainTransport on 127.0.0.1 and a paused consumer; resume() starts the flow.
   */
  tap(producerId: string, target: { port: number; rtcpPort: number }): Promise<RecordingTap>;
  getConsumerStats(): Promise<ConsumerStatsEntry[]>;
  getProducerStats(): Promise<ProducerStatsEntry[]>;
  /**
   * Evidence that the peer's media flows through the SFU: every transport of the peer that carries
   * a producer or a consumer is ICE-connected and DTLS-connected, and there is at least one such
   * transport when the room has media for it to carry.
   */
  peerMediaConnected(peerId: string): boolean;
  /** Some transport of the peer reached ICE connected: the peer can reach the SFU. */
  peerReachable(peerId: string): boolean;
  /** Ids of the peer's transports that carry media but never connected (for a failed switch). */
  unconnectedTransports(peerId: string): string[];
  /** Closes the peer's transports (and so its producers and consumers). False when unknown. */
  removePeer(peerId: string): boolean;
  /** The router's dump (transport, producer and consumer ids), for tests and diagnostics. */
  dump(): Promise<ms.RouterDump>;
  /** Closes the router and everything on it. Idempotent. */
  close(): void;
}

export interface SfuObjectCounts {
  transports: number;
  producers: number;
  consumers: number;
  dataProducers: number;
  dataConsumers: number;
}

/** One producer's media flowing to a recorder (SfuRoomApi.tap). */
export interface RecordingTap {
  producerId: string;
  peerId: string;
  kind: 'audio' | 'video';
  /** The consumer's RTP parameters: its codec and payload type, for the recorder's SDP. */
  rtpParameters: ms.RtpParameters;
  resume(): Promise<void>;
  requestKeyFrame(): Promise<void>;
  /** Closes the consumer and its transport. */
  close(): void;
}
