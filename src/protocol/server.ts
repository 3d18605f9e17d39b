import { z } from 'zod';
import {
  BreakoutRoom,
  ChatMessage,
  ConnectionMode,
  Encryption,
  IceServer,
  MediaState,
  PeerInfo,
  PeerRole,
  RoomModePolicy,
} from './common.ts';
import { ErrorCode } from './errors.ts';
import {
  ConsumerRtpParameters,
  DtlsParameters,
  IceCandidate,
  IceParameters,
  MediaKind,
  MediaSource,
  RouterRtpCapabilities,
  SctpParameters,
  SctpStreamParameters,
} from './mediasoup.ts';
import { defineServerMessages } from './table.ts';

/*
 * Server → client messages. Every one carries the server's `timestamp`; a reply carries the
 * request's `requestId`. `delivery` says whether a client meets it as a reply, as a push, or both:
 * the SDK's push dispatch must handle every `push` and `both` type (a compile error otherwise).
 */

export const SessionDescription = <T extends 'offer' | 'answer'>(type: T) =>
  z.object({ type: z.literal(type), sdp: z.string().min(1) });

export const IceCandidateInit = z.object({
  candidate: z.string(),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(65535).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
export type IceCandidateInit = z.infer<typeof IceCandidateInit>;

export const ProducerInfo = z.object({
  producerId: z.string(),
  peerId: z.string(),
  kind: MediaKind,
  source: MediaSource,
  paused: z.boolean(),
});
export type ProducerInfo = z.infer<typeof ProducerInfo>;

const relayed = { roomId: z.string(), fromPeerId: z.string(), toPeerId: z.string() };

/** A consumer the server made (sfu-consumed's fields; also in sfu-transport-created's `consumers`). */
const ConsumerMade = z.object({
  consumerId: z.string(),
  producerId: z.string(),
  /** The producing peer: whose media this is. */
  peerId: z.string(),
  kind: MediaKind,
  source: MediaSource,
  rtpParameters: ConsumerRtpParameters,
  /** Consumers start paused; send sfu-resume-consumer once the client-side consumer exists. */
  paused: z.boolean(),
  producerPaused: z.boolean(),
});
const consumerRef = { consumerId: z.string(), producerId: z.string() };
const producerRef = { producerId: z.string(), peerId: z.string() };

export const serverMessages = defineServerMessages({
  // -------------------------------------------------------------- the seed's messages
  'room-joined': {
    delivery: 'reply',
    shape: {
      roomId: z.string(),
      peerId: z.string(),
      peers: z.array(PeerInfo),
      iceServers: z.array(IceServer),
      /** Extension: the room's current mode, and the router's capabilities whenever the server has an SFU. */
      connectionMode: ConnectionMode,
      routerRtpCapabilities: RouterRtpCapabilities.optional(),
      /** Extension: what the room is meant to be; an `sfu` room never falls back to peer-to-peer. */
      roomMode: RoomModePolicy.optional(),
      /** Extension: `e2ee` when media must be end-to-end encrypted by the peers (frame transforms). */
      encryption: Encryption.optional(),
      /**
       * Extension: presented in a later join-room (`resumeToken`) after the socket dropped, it gives
       * this peer back within RESUME_WINDOW_MS: same peerId, media state, SFU transports, and the
       * messages sent to it meanwhile; the others never see it leave. Keep it secret.
       */
      resumeToken: z.string().optional(),
      /** Extension: true when this join took back a dropped peer (nothing was reset). */
      resumed: z.boolean().optional(),
      /** Extension, with auth on: what the token allows. */
      role: PeerRole.optional(),
      canPublish: z.boolean().optional(),
    },
  },
  /**
   * Extension: fresh ICE servers (with TURN_SECRET, new ephemeral TURN credentials), sent before the
   * ones of room-joined expire. Use them for new connections and set them on open ones.
   */
  'ice-servers-updated': { delivery: 'push', shape: { iceServers: z.array(IceServer) } },
  'peer-joined': {
    delivery: 'push',
    shape: { roomId: z.string(), peerId: z.string(), displayName: z.string(), mediaState: MediaState },
  },
  'peer-left': { delivery: 'push', shape: { roomId: z.string(), peerId: z.string() } },
  /** Pushed to the others; echoed to the sender as its acknowledgement when it gave a requestId. */
  'media-state-changed': {
    delivery: 'both',
    shape: { roomId: z.string(), peerId: z.string(), mediaState: MediaState },
  },
  offer: { delivery: 'push', shape: { offer: SessionDescription('offer'), ...relayed } },
  answer: { delivery: 'push', shape: { answer: SessionDescription('answer'), ...relayed } },
  /** Extension: a key-exchange message of an E2EE room, relayed opaquely (client e2ee-key). */
  'e2ee-key': { delivery: 'push', shape: { payload: z.string(), ...relayed } },
  /** Extension: a file receiver's progress / verdict (client file-ack), stamped with its sender. */
  'file-ack': {
    delivery: 'push',
    shape: {
      fileId: z.string(),
      attempt: z.number(),
      bytes: z.number(),
      ok: z.boolean().optional(),
      ...relayed,
    },
  },
  'ice-candidate': {
    delivery: 'push',
    /** null marks the end of candidates. */
    shape: { candidate: IceCandidateInit.nullable(), ...relayed },
  },
  error: {
    delivery: 'both',
    shape: {
      error: z.string(),
      code: ErrorCode,
      /** Extension: the type of the message that caused it, and zod issues for INVALID_MESSAGE. */
      relatedType: z.string().optional(),
      details: z.unknown().optional(),
    },
  },

  // -------------------------------------------------------------- lifecycle extensions
  'room-left': { delivery: 'reply', shape: { roomId: z.string() } },
  'room-closed': { delivery: 'push', shape: { roomId: z.string(), reason: z.string() } },
  'server-shutdown': { delivery: 'push', shape: { reason: z.string() } },

  // -------------------------------------------------------------- chat
  /** Pushed to its recipients; echoed to the sender as its acknowledgement. */
  'chat-message': { delivery: 'both', shape: { message: ChatMessage } },
  'chat-history': { delivery: 'reply', shape: { roomId: z.string(), messages: z.array(ChatMessage) } },

  // -------------------------------------------------------------- host controls
  /** The room's access settings: the reply to a host's change, and pushed to everyone in the room. */
  'room-access': {
    delivery: 'both',
    shape: { roomId: z.string(), locked: z.boolean(), hasPassword: z.boolean(), waitingRoom: z.boolean() },
  },
  'host-action-done': {
    delivery: 'reply',
    shape: { action: z.enum(['admit', 'deny', 'kick', 'mute']), peerId: z.string() },
  },
  /** The room is being recorded (POST /api/rooms/:roomId/recordings). */
  'recording-started': {
    delivery: 'push',
    shape: { roomId: z.string(), recordingId: z.string(), startedAt: z.string() },
  },
  /** The recording ended: its file on the server, its size and duration. */
  'recording-stopped': {
    delivery: 'push',
    shape: {
      roomId: z.string(),
      recordingId: z.string(),
      path: z.string(),
      sizeBytes: z.number(),
      durationS: z.number(),
    },
  },
  /** Who is speaking: the loudest voice of the room, announced at most every 500 ms when it changes. */
  'active-speaker': { delivery: 'push', shape: { roomId: z.string(), peerId: z.string() } },
  /** The meeting's breakout rooms: the reply to a host's breakout action, and pushed to the room. */
  breakouts: {
    delivery: 'both',
    shape: { roomId: z.string(), breakouts: z.array(BreakoutRoom) },
  },
  /**
   * Go to another room of the meeting (a breakout room, or back to the main one): the SDK leaves
   * and joins `roomId` with the same name and media state.
   */
  'move-to-room': {
    delivery: 'push',
    shape: { roomId: z.string(), fromRoomId: z.string(), name: z.string().optional(), reason: z.string() },
  },
  /** A host's message to all the breakout rooms of a meeting. */
  'breakout-message': {
    delivery: 'push',
    shape: { roomId: z.string(), fromPeerId: z.string(), text: z.string(), sentAt: z.number() },
  },
  /** To a newcomer held in the waiting room; room-joined (or a FORBIDDEN error) follows. */
  waiting: { delivery: 'push', shape: { roomId: z.string(), peerId: z.string() } },
  /** To the hosts: someone waits to be admitted. */
  knock: { delivery: 'push', shape: { roomId: z.string(), peerId: z.string(), displayName: z.string() } },
  /** To the hosts: a knock is settled (admitted, denied, or the guest left). */
  'knock-ended': {
    delivery: 'push',
    shape: { roomId: z.string(), peerId: z.string(), outcome: z.enum(['admitted', 'denied', 'left']) },
  },
  /** To a peer the host removed; its socket closes next. */
  kicked: { delivery: 'push', shape: { roomId: z.string(), reason: z.string() } },
  /** To a peer the host asks to mute these sources. */
  'mute-requested': {
    delivery: 'push',
    shape: { roomId: z.string(), byPeerId: z.string(), kinds: z.array(z.enum(['audio', 'video', 'screen'])) },
  },
  pong: { delivery: 'reply', shape: {} },
  'mode-changed': {
    delivery: 'push',
    shape: {
      roomId: z.string(),
      mode: ConnectionMode,
      previousMode: ConnectionMode,
      /** Present whenever the room has a router (upgrading, sfu, downgrading). */
      routerRtpCapabilities: RouterRtpCapabilities.optional(),
      reason: z.string().optional(),
    },
  },

  // -------------------------------------------------------------- SFU
  /**
   * The room's router was replaced (its media worker died): drop every SFU transport, producer and
   * consumer, and build them again against these capabilities. The room's mode does not change.
   */
  'sfu-restart': {
    delivery: 'push',
    shape: { roomId: z.string(), routerRtpCapabilities: RouterRtpCapabilities, reason: z.string() },
  },
  /**
   * Extension (SFU_PREWARM): the P2P room is one peer short of the threshold and has its router.
   * `active: true`: build the SFU session now (sfu-join, both transports, producers created
   * paused), keep media on P2P; at `upgrading` resume the producers. `active: false`: the router is
   * gone again (the room shrank, or stayed below the threshold too long): drop that session.
   */
  'sfu-prewarm': {
    delivery: 'push',
    shape: {
      roomId: z.string(),
      active: z.boolean(),
      routerRtpCapabilities: RouterRtpCapabilities.optional(),
    },
  },
  'sfu-joined': { delivery: 'reply', shape: { producers: z.array(ProducerInfo) } },
  'sfu-transport-created': {
    delivery: 'reply',
    shape: {
      transportId: z.string(),
      direction: z.enum(['send', 'recv']),
      iceParameters: IceParameters,
      iceCandidates: z.array(IceCandidate),
      dtlsParameters: DtlsParameters,
      /** Present when the client gave sctpCapabilities: the transport carries data channels. */
      sctpParameters: SctpParameters.optional(),
      /**
       * Extension: on a recv transport asked for with `consumeProducers`, a consumer (paused) of
       * every producer of the other peers, as sfu-consume would have answered for each.
       */
      consumers: z.array(ConsumerMade).optional(),
    },
  },
  'sfu-transport-connected': { delivery: 'reply', shape: { transportId: z.string() } },
  'sfu-produced': { delivery: 'reply', shape: { producerId: z.string() } },
  'sfu-consumed': { delivery: 'reply', shape: ConsumerMade.shape },
  'sfu-new-producer': {
    delivery: 'push',
    shape: {
      ...ProducerInfo.shape,
      /**
       * The consumer the server made for this peer already (on its recv transport, paused), when it
       * has one: the client skips sfu-consume (which would answer with this same consumer) and
       * sends sfu-resume-consumer once its side exists. One round trip less per peer when someone
       * starts producing, the step a switch to the SFU waits for.
       */
      consumer: z
        .object({
          consumerId: z.string(),
          rtpParameters: ConsumerRtpParameters,
          paused: z.boolean(),
          producerPaused: z.boolean(),
        })
        .optional(),
    },
  },
  'sfu-data-produced': { delivery: 'reply', shape: { dataProducerId: z.string() } },
  /** A data producer this peer may consume (its owner sent it to the room, or to this peer). */
  'sfu-new-data-producer': {
    delivery: 'push',
    shape: { dataProducerId: z.string(), peerId: z.string(), label: z.string(), protocol: z.string() },
  },
  'sfu-data-consumed': {
    delivery: 'reply',
    shape: {
      dataConsumerId: z.string(),
      dataProducerId: z.string(),
      /** The producing peer. */
      peerId: z.string(),
      sctpStreamParameters: SctpStreamParameters,
      label: z.string(),
      protocol: z.string(),
    },
  },
  /** The data producer behind it closed (or its transport): the data consumer is gone. */
  'sfu-data-consumer-closed': {
    delivery: 'push',
    shape: { dataConsumerId: z.string(), dataProducerId: z.string() },
  },
  'sfu-data-producer-closed': { delivery: 'reply', shape: { dataProducerId: z.string() } },
  /** Replies to sfu-resume/pause-consumer, and pushed when the producer behind it resumes/pauses. */
  'sfu-consumer-resumed': { delivery: 'both', shape: consumerRef },
  'sfu-consumer-paused': { delivery: 'both', shape: consumerRef },
  'sfu-consumer-closed': { delivery: 'push', shape: consumerRef },
  /** Replies to the producer's own requests, and pushed to the other peers. */
  'sfu-producer-paused': { delivery: 'both', shape: producerRef },
  'sfu-producer-resumed': { delivery: 'both', shape: producerRef },
  'sfu-producer-closed': { delivery: 'both', shape: producerRef },
  'sfu-ice-restarted': {
    delivery: 'reply',
    shape: { transportId: z.string(), iceParameters: IceParameters },
  },
});

type Table = typeof serverMessages;
export type ServerMessageType = keyof Table;
export type ServerMessageOf<T extends ServerMessageType> = z.output<Table[T]['schema']>;
export type ServerMessage = { [T in ServerMessageType]: ServerMessageOf<T> }[ServerMessageType];
/** The types a client meets as pushes (not only as replies): its dispatch handles each of them. */
export type ServerPushType = {
  [T in ServerMessageType]: Table[T]['delivery'] extends 'reply' ? never : T;
}[ServerMessageType];

/** The types a client meets only as replies. */
export type ServerReplyOnlyType = {
  [T in ServerMessageType]: Table[T]['delivery'] extends 'reply' ? T : never;
}[ServerMessageType];

/** What the server hands to `send`: it adds `timestamp` (and `requestId` on replies) itself. */
export type OutgoingOf<T extends ServerMessageType> = T extends ServerMessageType
  ? Omit<ServerMessageOf<T>, 'timestamp'> & { timestamp?: number }
  : never;
export type OutgoingMessage = { [T in ServerMessageType]: OutgoingOf<T> }[ServerMessageType];

export function isServerMessageType(type: string): type is ServerMessageType {
  return Object.hasOwn(serverMessages, type);
}

/** Validates a server message (tests, and clients that want to). */
export const ServerMessage = {
  safeParse(value: unknown) {
    const type = typeof value === 'object' && value !== null && 'type' in value ? value.type : undefined;
    if (typeof type !== 'string' || !isServerMessageType(type)) {
      return { success: false as const, error: undefined };
    }
    return serverMessages[type].schema.safeParse(value);
  },
};
