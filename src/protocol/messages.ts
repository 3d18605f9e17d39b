import { z } from 'zod';
import {
  ConnectionMode,
  DisplayName,
  IceServer,
  Id,
  MediaState,
  PeerInfo,
  RequestId,
  RoomModePolicy,
} from './common.ts';
import { ErrorCode } from './errors.ts';
import {
  DtlsParameters,
  IceCandidate,
  IceParameters,
  MediaKind,
  MediaSource,
  RtpCapabilities,
  RtpParameters,
} from './mediasoup.ts';

/*
 * The wire protocol: JSON text frames, each an object with a `type`. One discriminated union per
 * direction. The seed document's messages come first and keep their exact field names; the SFU and
 * lifecycle messages extend it in the same style.
 *
 * Every client message may carry `requestId` (echoed on the reply or error) and `timestamp`
 * (ignored: the server stamps its own on everything it sends).
 */

const ClientBase = {
  requestId: RequestId.optional(),
  timestamp: z.number().optional(),
};

const SessionDescription = <T extends 'offer' | 'answer'>(type: T) =>
  z.object({ type: z.literal(type), sdp: z.string().min(1) });

export const IceCandidateInit = z.object({
  candidate: z.string(),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(65535).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
export type IceCandidateInit = z.infer<typeof IceCandidateInit>;

// ---------------------------------------------------------------- client -> server: seed messages

export const JoinRoom = z.object({
  type: z.literal('join-room'),
  roomId: Id,
  /** Optional: when absent the server assigns one and returns it in room-joined. */
  peerId: Id.optional(),
  displayName: DisplayName,
  mediaState: MediaState.default({ audio: false, video: false, screen: false }),
  /** Reserved for token auth (ADMIN/JWT); accepted and ignored when auth is off. */
  token: z.string().max(4096).optional(),
  ...ClientBase,
});

export const LeaveRoom = z.object({
  type: z.literal('leave-room'),
  roomId: Id.optional(),
  peerId: Id.optional(),
  ...ClientBase,
});

const RelayBase = {
  roomId: Id.optional(),
  /** Ignored when it names the sender; FORBIDDEN when it names anyone else. The server stamps it. */
  fromPeerId: Id.optional(),
  toPeerId: Id,
  ...ClientBase,
};

export const Offer = z.object({ type: z.literal('offer'), offer: SessionDescription('offer'), ...RelayBase });
export const Answer = z.object({
  type: z.literal('answer'),
  answer: SessionDescription('answer'),
  ...RelayBase,
});
export const IceCandidateMessage = z.object({
  type: z.literal('ice-candidate'),
  /** null marks the end of candidates. */
  candidate: IceCandidateInit.nullable(),
  ...RelayBase,
});

export const MediaStateChanged = z.object({
  type: z.literal('media-state-changed'),
  roomId: Id.optional(),
  peerId: Id.optional(),
  mediaState: MediaState,
  ...ClientBase,
});

/** Application-level keepalive for clients that cannot see WebSocket pings. */
export const Ping = z.object({ type: z.literal('ping'), ...ClientBase });

// ---------------------------------------------------------------- client -> server: SFU messages

export const TransportDirection = z.enum(['send', 'recv']);
export type TransportDirection = z.infer<typeof TransportDirection>;

export const SfuJoin = z.object({
  type: z.literal('sfu-join'),
  rtpCapabilities: RtpCapabilities,
  ...ClientBase,
});
export const SfuCreateTransport = z.object({
  type: z.literal('sfu-create-transport'),
  direction: TransportDirection,
  ...ClientBase,
});
export const SfuConnectTransport = z.object({
  type: z.literal('sfu-connect-transport'),
  transportId: Id,
  dtlsParameters: DtlsParameters,
  ...ClientBase,
});
export const SfuProduce = z.object({
  type: z.literal('sfu-produce'),
  transportId: Id,
  kind: MediaKind,
  rtpParameters: RtpParameters,
  appData: z.object({ source: MediaSource }),
  paused: z.boolean().optional(),
  ...ClientBase,
});
export const SfuConsume = z.object({
  type: z.literal('sfu-consume'),
  producerId: Id,
  /** Defaults to the capabilities given in sfu-join. */
  rtpCapabilities: RtpCapabilities.optional(),
  ...ClientBase,
});
const ConsumerRef = { consumerId: Id, ...ClientBase };
const ProducerRef = { producerId: Id, ...ClientBase };
export const SfuResumeConsumer = z.object({ type: z.literal('sfu-resume-consumer'), ...ConsumerRef });
export const SfuPauseConsumer = z.object({ type: z.literal('sfu-pause-consumer'), ...ConsumerRef });
export const SfuPauseProducer = z.object({ type: z.literal('sfu-pause-producer'), ...ProducerRef });
export const SfuResumeProducer = z.object({ type: z.literal('sfu-resume-producer'), ...ProducerRef });
export const SfuCloseProducer = z.object({ type: z.literal('sfu-close-producer'), ...ProducerRef });
export const SfuRestartIce = z.object({
  type: z.literal('sfu-restart-ice'),
  transportId: Id,
  ...ClientBase,
});
/**
 * A client's SFU transport failed (ICE or DTLS), or never carried media: the server aborts an
 * upgrade at once instead of waiting for the switch timeout, and counts it for /ready.
 */
export const SfuTransportFailed = z.object({
  type: z.literal('sfu-transport-failed'),
  transportId: Id.optional(),
  reason: z.enum(['ice-failed', 'dtls-failed', 'connect-timeout', 'media-timeout']),
  ...ClientBase,
});
/** The sender's SFU media is flowing: it may drop its P2P connections once the room says so. */
export const SfuReady = z.object({ type: z.literal('sfu-ready'), ...ClientBase });
/** The sender's P2P mesh is flowing again during a downgrade. */
export const P2pReady = z.object({ type: z.literal('p2p-ready'), ...ClientBase });

export const ClientMessage = z.discriminatedUnion('type', [
  JoinRoom,
  LeaveRoom,
  Offer,
  Answer,
  IceCandidateMessage,
  MediaStateChanged,
  Ping,
  SfuJoin,
  SfuCreateTransport,
  SfuConnectTransport,
  SfuProduce,
  SfuConsume,
  SfuResumeConsumer,
  SfuPauseConsumer,
  SfuPauseProducer,
  SfuResumeProducer,
  SfuCloseProducer,
  SfuRestartIce,
  SfuTransportFailed,
  SfuReady,
  P2pReady,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ClientMessageType = ClientMessage['type'];
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;
export const clientMessageTypes: ReadonlySet<string> = new Set(
  ClientMessage.options.map((o) => o.shape.type.value),
);

// ---------------------------------------------------------------- server -> client

const ServerBase = {
  timestamp: z.number(),
  requestId: RequestId.optional(),
};

export const ProducerInfo = z.object({
  producerId: z.string(),
  peerId: z.string(),
  kind: MediaKind,
  source: MediaSource,
  paused: z.boolean(),
});
export type ProducerInfo = z.infer<typeof ProducerInfo>;

export const RoomJoined = z.object({
  type: z.literal('room-joined'),
  roomId: z.string(),
  peerId: z.string(),
  peers: z.array(PeerInfo),
  iceServers: z.array(IceServer),
  /** Extension: the room's current mode, and the router's capabilities when it is not p2p. */
  connectionMode: ConnectionMode,
  routerRtpCapabilities: z.unknown().optional(),
  /** Extension: what the room is meant to be; a `sfu` room never falls back to peer-to-peer. */
  roomMode: RoomModePolicy.optional(),
  ...ServerBase,
});
export const PeerJoined = z.object({
  type: z.literal('peer-joined'),
  roomId: z.string(),
  peerId: z.string(),
  displayName: z.string(),
  mediaState: MediaState,
  ...ServerBase,
});
export const PeerLeft = z.object({
  type: z.literal('peer-left'),
  roomId: z.string(),
  peerId: z.string(),
  ...ServerBase,
});
export const RoomLeft = z.object({ type: z.literal('room-left'), roomId: z.string(), ...ServerBase });
export const ServerMediaStateChanged = z.object({
  type: z.literal('media-state-changed'),
  roomId: z.string(),
  peerId: z.string(),
  mediaState: MediaState,
  ...ServerBase,
});
const ServerRelayBase = { roomId: z.string(), fromPeerId: z.string(), toPeerId: z.string(), ...ServerBase };
export const ServerOffer = z.object({
  type: z.literal('offer'),
  offer: SessionDescription('offer'),
  ...ServerRelayBase,
});
export const ServerAnswer = z.object({
  type: z.literal('answer'),
  answer: SessionDescription('answer'),
  ...ServerRelayBase,
});
export const ServerIceCandidate = z.object({
  type: z.literal('ice-candidate'),
  candidate: IceCandidateInit.nullable(),
  ...ServerRelayBase,
});
export const ErrorMessage = z.object({
  type: z.literal('error'),
  error: z.string(),
  code: ErrorCode,
  /** Extension: the type of the message that caused it, and zod issues for INVALID_MESSAGE. */
  relatedType: z.string().optional(),
  details: z.unknown().optional(),
  ...ServerBase,
});
export const RoomClosed = z.object({
  type: z.literal('room-closed'),
  roomId: z.string(),
  reason: z.string(),
  ...ServerBase,
});
export const ServerShutdown = z.object({
  type: z.literal('server-shutdown'),
  reason: z.string(),
  ...ServerBase,
});
export const Pong = z.object({ type: z.literal('pong'), ...ServerBase });

export const ModeChanged = z.object({
  type: z.literal('mode-changed'),
  roomId: z.string(),
  mode: ConnectionMode,
  previousMode: ConnectionMode,
  /** Present whenever the room has a router (upgrading, sfu, downgrading). */
  routerRtpCapabilities: z.unknown().optional(),
  reason: z.string().optional(),
  ...ServerBase,
});

/**
 * The room's router was replaced (its media worker died): drop every SFU transport, producer and
 * consumer, and build them again against these capabilities. The room's mode does not change.
 */
export const SfuRestart = z.object({
  type: z.literal('sfu-restart'),
  roomId: z.string(),
  routerRtpCapabilities: z.unknown(),
  reason: z.string(),
  ...ServerBase,
});

export const SfuJoined = z.object({
  type: z.literal('sfu-joined'),
  producers: z.array(ProducerInfo),
  ...ServerBase,
});
export const SfuTransportCreated = z.object({
  type: z.literal('sfu-transport-created'),
  transportId: z.string(),
  direction: TransportDirection,
  iceParameters: IceParameters,
  iceCandidates: z.array(IceCandidate),
  dtlsParameters: z.unknown(),
  ...ServerBase,
});
export const SfuTransportConnected = z.object({
  type: z.literal('sfu-transport-connected'),
  transportId: z.string(),
  ...ServerBase,
});
export const SfuProduced = z.object({
  type: z.literal('sfu-produced'),
  producerId: z.string(),
  ...ServerBase,
});
export const SfuConsumed = z.object({
  type: z.literal('sfu-consumed'),
  consumerId: z.string(),
  producerId: z.string(),
  peerId: z.string(),
  kind: MediaKind,
  source: MediaSource,
  rtpParameters: z.unknown(),
  /** Consumers start paused; send sfu-resume-consumer once the client-side consumer exists. */
  paused: z.boolean(),
  producerPaused: z.boolean(),
  ...ServerBase,
});
export const SfuNewProducer = z.object({
  type: z.literal('sfu-new-producer'),
  ...ProducerInfo.shape,
  ...ServerBase,
});
const ServerConsumerRef = { consumerId: z.string(), producerId: z.string(), ...ServerBase };
const ServerProducerRef = { producerId: z.string(), peerId: z.string(), ...ServerBase };
export const SfuConsumerResumed = z.object({ type: z.literal('sfu-consumer-resumed'), ...ServerConsumerRef });
export const SfuConsumerPaused = z.object({ type: z.literal('sfu-consumer-paused'), ...ServerConsumerRef });
export const SfuConsumerClosed = z.object({ type: z.literal('sfu-consumer-closed'), ...ServerConsumerRef });
export const SfuProducerPaused = z.object({ type: z.literal('sfu-producer-paused'), ...ServerProducerRef });
export const SfuProducerResumed = z.object({ type: z.literal('sfu-producer-resumed'), ...ServerProducerRef });
export const SfuProducerClosed = z.object({ type: z.literal('sfu-producer-closed'), ...ServerProducerRef });
export const SfuIceRestarted = z.object({
  type: z.literal('sfu-ice-restarted'),
  transportId: z.string(),
  iceParameters: IceParameters,
  ...ServerBase,
});

export const ServerMessage = z.discriminatedUnion('type', [
  RoomJoined,
  PeerJoined,
  PeerLeft,
  RoomLeft,
  ServerMediaStateChanged,
  ServerOffer,
  ServerAnswer,
  ServerIceCandidate,
  ErrorMessage,
  RoomClosed,
  ServerShutdown,
  Pong,
  ModeChanged,
  SfuRestart,
  SfuJoined,
  SfuTransportCreated,
  SfuTransportConnected,
  SfuProduced,
  SfuConsumed,
  SfuNewProducer,
  SfuConsumerResumed,
  SfuConsumerPaused,
  SfuConsumerClosed,
  SfuProducerPaused,
  SfuProducerResumed,
  SfuProducerClosed,
  SfuIceRestarted,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type ServerMessageType = ServerMessage['type'];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;
/** What a handler hands to `send`: the server adds `timestamp` (and `requestId` on replies). */
export type OutgoingMessage = ServerMessage extends infer M
  ? M extends ServerMessage
    ? Omit<M, 'timestamp'> & { timestamp?: number }
    : never
  : never;
