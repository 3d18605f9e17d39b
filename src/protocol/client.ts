import { z } from 'zod';
import { ChatText, DisplayName, Id, MediaState } from './common.ts';
import {
  DtlsParameters,
  MediaKind,
  MediaSource,
  RtpCapabilities,
  RtpParameters,
  SctpStreamParameters,
} from './mediasoup.ts';
import {
  IceCandidateInit,
  type ServerMessageOf,
  type ServerMessageType,
  SessionDescription,
} from './server.ts';
import { defineClientMessages } from './table.ts';

/*
 * Client → server messages: JSON text frames, each an object with a `type`. The seed document's
 * messages come first and keep their exact field names; the SFU and lifecycle messages extend it
 * in the same style. Every message may carry `requestId` (echoed on its reply or error) and
 * `timestamp` (ignored: the server stamps its own on everything it sends).
 *
 * Adding a message: one entry here (its fields, reply, route and errors), then its handler where
 * its route says (signaling/handlers.ts, or ConnectionManager's tables for `sfu` and `switch`),
 * which the compiler demands, then the SDK method that sends it. README "Layout" has the map.
 */

export const TransportDirection = z.enum(['send', 'recv']);
export type TransportDirection = z.infer<typeof TransportDirection>;

/** Relays name their target; `fromPeerId` is refused unless it names the sender (the server stamps it). */
const relay = {
  roomId: Id.optional(),
  fromPeerId: Id.optional(),
  toPeerId: Id,
};

export const clientMessages = defineClientMessages({
  // -------------------------------------------------------------- the seed's messages
  'join-room': {
    shape: {
      roomId: Id,
      /** Optional: when absent the server assigns one and returns it in room-joined. */
      peerId: Id.optional(),
      displayName: DisplayName,
      mediaState: MediaState.default({ audio: false, video: false, screen: false }),
      /**
       * A join token (JWT) when the server has auth on; `?token=` on the WebSocket URL does the
       * same. Ignored while auth is off.
       */
      token: z.string().max(8192).optional(),
      /** The room's password, when its host set one (else WRONG_PASSWORD). */
      password: z.string().max(128).optional(),
      /** From an earlier room-joined: takes back the peer a dropped socket left (RESUME_WINDOW_MS). */
      resumeToken: z.string().min(16).max(128).optional(),
    },
    reply: 'room-joined',
    route: 'signaling',
    errors: [
      'ROOM_NOT_FOUND',
      'ROOM_FULL',
      'DUPLICATE_PEER',
      'ALREADY_IN_ROOM',
      'UNAUTHORIZED',
      'ROOM_LIMIT',
    ],
  },
  'leave-room': {
    shape: { roomId: Id.optional(), peerId: Id.optional() },
    reply: 'room-left',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN'],
  },
  offer: {
    shape: { offer: SessionDescription('offer'), ...relay },
    reply: null,
    route: 'signaling',
    /** FORBIDDEN also for an offer that sends media from a peer that may not publish (a viewer). */
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  answer: {
    shape: { answer: SessionDescription('answer'), ...relay },
    reply: null,
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  'ice-candidate': {
    /** null marks the end of candidates. */
    shape: { candidate: IceCandidateInit.nullable(), ...relay },
    reply: null,
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  /**
   * Extension: a file receiver tells the sender how many bytes of `fileId` it holds (sent over the
   * file's `attempt`-th data channel or SFU data producer), and at the end whether the SHA-256
   * matched (`ok`). Relayed to `toPeerId` as is, stamped with the sender; the bytes themselves never
   * pass the signaling server.
   */
  'file-ack': {
    shape: {
      fileId: Id,
      attempt: z.number().int().min(0).max(1000),
      bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      ok: z.boolean().optional(),
      ...relay,
    },
    reply: null,
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'PEER_NOT_FOUND', 'INVALID_MESSAGE'],
  },
  /**
   * Extension, E2EE rooms: a peer's key-exchange message to another (public keys, wrapped room
   * keys). The server relays `payload` as is and never reads it; `fromPeerId` is stamped by it.
   */
  'e2ee-key': {
    shape: { payload: z.string().min(1).max(4096), ...relay },
    reply: null,
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'PEER_NOT_FOUND', 'INVALID_MESSAGE'],
  },
  /** Broadcast to the others; the sender gets the same message back when it gave a requestId. */
  'media-state-changed': {
    shape: { roomId: Id.optional(), peerId: Id.optional(), mediaState: MediaState },
    reply: 'media-state-changed',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },

  // -------------------------------------------------------------- lifecycle extensions
  /** Application-level keepalive for clients that cannot see WebSocket pings. */
  ping: { shape: {}, reply: 'pong', route: 'signaling', errors: [] },

  // -------------------------------------------------------------- chat (README "Chat")
  /** To the room, or privately to `toPeerId`; the server stamps sender, id and time. */
  'chat-message': {
    shape: { text: ChatText, toPeerId: Id.optional(), roomId: Id.optional() },
    reply: 'chat-message',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'PEER_NOT_FOUND', 'RATE_LIMITED'],
  },
  /** The room's kept messages (the last CHAT_HISTORY), oldest first. */
  'chat-history': { shape: {}, reply: 'chat-history', route: 'signaling', errors: ['NOT_IN_ROOM'] },

  // -------------------------------------------------------------- host controls (README "Host controls")
  /** The host locks the room: join-room then gets ROOM_LOCKED (hosts still get in). */
  'lock-room': {
    shape: { locked: z.boolean() },
    reply: 'room-access',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN'],
  },
  /** A password for join-room (`password`), or null for none. Stored hashed, never echoed. */
  'set-room-password': {
    shape: { password: z.string().min(1).max(128).nullable() },
    reply: 'room-access',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN'],
  },
  /** Newcomers wait (a `waiting` push) until a host admits or denies them (`knock` to the hosts). */
  'set-waiting-room': {
    shape: { enabled: z.boolean() },
    reply: 'room-access',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN'],
  },
  'admit-peer': {
    shape: { peerId: Id },
    reply: 'host-action-done',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  'deny-peer': {
    shape: { peerId: Id, reason: z.string().max(200).optional() },
    reply: 'host-action-done',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  /** Removes a peer: it gets `kicked` and its socket is closed; the others get peer-left. */
  'kick-peer': {
    shape: { peerId: Id, reason: z.string().max(200).optional() },
    reply: 'host-action-done',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },
  /** Asks a peer to mute (a `mute-requested` push; the SDK mutes those sources). */
  'mute-peer': {
    shape: {
      peerId: Id,
      kinds: z
        .array(z.enum(['audio', 'video', 'screen']))
        .min(1)
        .max(3),
    },
    reply: 'host-action-done',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'PEER_NOT_FOUND'],
  },

  /**
   * Opens breakout rooms, sub-rooms of this meeting, and sends peers there (`move-to-room`): each
   * room's `peerIds`, or (`assign: 'random'`) every peer but the hosts, dealt round the rooms.
   */
  'open-breakouts': {
    shape: {
      rooms: z
        .array(
          z.object({
            name: z.string().min(1).max(64),
            peerIds: z.array(Id).max(1000).optional(),
          }),
        )
        .min(1)
        .max(20),
      assign: z.enum(['list', 'random']).optional(),
    },
    reply: 'breakouts',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'INVALID_MESSAGE', 'PEER_NOT_FOUND'],
  },
  /** Closes the breakout rooms: everyone in them is sent back to this room. */
  'close-breakouts': {
    shape: {},
    reply: 'breakouts',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN'],
  },
  /** A host's message to every breakout room (and this one): a `breakout-message` push. */
  'breakout-broadcast': {
    shape: { text: z.string().min(1).max(4096) },
    reply: 'breakouts',
    route: 'signaling',
    errors: ['NOT_IN_ROOM', 'FORBIDDEN', 'INVALID_MESSAGE'],
  },

  // -------------------------------------------------------------- SFU (ConnectionManager's operations)
  'sfu-join': {
    shape: { rtpCapabilities: RtpCapabilities },
    reply: 'sfu-joined',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE'],
  },
  'sfu-create-transport': {
    shape: {
      direction: TransportDirection,
      /** Extension: an SCTP association on the transport, for data channels (sfu-produce-data). */
      enableSctp: z.boolean().optional(),
      /**
       * Extension, recv only: the reply also carries a consumer of every producer the other peers
       * have (`consumers`), saving the sfu-consume round trip per producer when joining the SFU.
       */
      consumeProducers: z.boolean().optional(),
    },
    reply: 'sfu-transport-created',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PEER_NOT_FOUND', 'MEDIA_ERROR'],
  },
  'sfu-connect-transport': {
    shape: { transportId: Id, dtlsParameters: DtlsParameters },
    reply: 'sfu-transport-connected',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'TRANSPORT_NOT_FOUND', 'FORBIDDEN', 'MEDIA_ERROR'],
  },
  'sfu-produce': {
    shape: {
      transportId: Id,
      kind: MediaKind,
      rtpParameters: RtpParameters,
      appData: z.object({ source: MediaSource }),
      paused: z.boolean().optional(),
    },
    reply: 'sfu-produced',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'TRANSPORT_NOT_FOUND', 'FORBIDDEN', 'MEDIA_ERROR'],
  },
  'sfu-consume': {
    shape: {
      producerId: Id,
      /** Defaults to the capabilities given in sfu-join. */
      rtpCapabilities: RtpCapabilities.optional(),
    },
    reply: 'sfu-consumed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'TRANSPORT_NOT_FOUND', 'CANNOT_CONSUME', 'MEDIA_ERROR'],
  },
  'sfu-resume-consumer': {
    shape: { consumerId: Id },
    reply: 'sfu-consumer-resumed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'CONSUMER_NOT_FOUND', 'FORBIDDEN'],
  },
  'sfu-pause-consumer': {
    shape: { consumerId: Id },
    reply: 'sfu-consumer-paused',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'CONSUMER_NOT_FOUND', 'FORBIDDEN'],
  },
  'sfu-pause-producer': {
    shape: { producerId: Id },
    reply: 'sfu-producer-paused',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'FORBIDDEN'],
  },
  'sfu-resume-producer': {
    shape: { producerId: Id },
    reply: 'sfu-producer-resumed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'FORBIDDEN'],
  },
  'sfu-close-producer': {
    shape: { producerId: Id },
    reply: 'sfu-producer-closed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'FORBIDDEN'],
  },
  /**
   * Extension: a data channel to the room (every other SFU peer) or to `toPeerId` only, over the
   * send transport's SCTP association. Those it goes to get `sfu-new-data-producer`.
   */
  'sfu-produce-data': {
    shape: {
      transportId: Id,
      sctpStreamParameters: SctpStreamParameters,
      label: z.string().max(256).default(''),
      protocol: z.string().max(64).default(''),
      toPeerId: Id.optional(),
    },
    reply: 'sfu-data-produced',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'TRANSPORT_NOT_FOUND', 'PEER_NOT_FOUND', 'FORBIDDEN', 'MEDIA_ERROR'],
  },
  /** Extension: a data consumer of a data producer this peer was told of (on its recv transport). */
  'sfu-consume-data': {
    shape: { dataProducerId: Id },
    reply: 'sfu-data-consumed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'TRANSPORT_NOT_FOUND', 'FORBIDDEN', 'MEDIA_ERROR'],
  },
  'sfu-close-data-producer': {
    shape: { dataProducerId: Id },
    reply: 'sfu-data-producer-closed',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'PRODUCER_NOT_FOUND', 'FORBIDDEN'],
  },
  'sfu-restart-ice': {
    shape: { transportId: Id },
    reply: 'sfu-ice-restarted',
    route: 'sfu',
    errors: ['SFU_NOT_ACTIVE', 'TRANSPORT_NOT_FOUND', 'FORBIDDEN'],
  },

  // -------------------------------------------------------------- the mode switch (ConnectionManager)
  /**
   * A client's SFU transport failed (ICE or DTLS), or never connected: the server aborts an upgrade
   * at once instead of waiting for the switch timeout, and counts it for /ready.
   */
  'sfu-transport-failed': {
    shape: {
      transportId: Id.optional(),
      reason: z.enum(['ice-failed', 'dtls-failed', 'connect-timeout', 'media-timeout']),
    },
    reply: null,
    route: 'switch',
    errors: [],
  },
  /** The sender's SFU media is flowing: it may drop its P2P connections once the room says so. */
  'sfu-ready': { shape: {}, reply: null, route: 'switch', errors: [] },
  /** The sender's P2P mesh is flowing again during a downgrade. */
  'p2p-ready': { shape: {}, reply: null, route: 'switch', errors: [] },
  /**
   * The sender's own microphone level (0 silent … 1 loudest), a few times a second while it speaks:
   * in P2P the server has no media to measure, so the room's active speaker comes from these. In
   * SFU modes the router measures (ActiveSpeakerObserver) and reports are ignored.
   */
  'audio-level': { shape: { level: z.number().min(0).max(1) }, reply: null, route: 'switch', errors: [] },
});

type Table = typeof clientMessages;
export type ClientMessageType = keyof Table;
export type ClientMessageOf<T extends ClientMessageType> = z.output<Table[T]['schema']>;
export type ClientMessage = { [T in ClientMessageType]: ClientMessageOf<T> }[ClientMessageType];
/** What a client writes (before defaults apply: join-room's mediaState may be left out). */
export type ClientMessageInput<T extends ClientMessageType> = z.input<Table[T]['schema']>;

/** The client message types a route handles on the server. */
export type RoutedTo<R extends Table[ClientMessageType]['route']> = {
  [T in ClientMessageType]: Table[T]['route'] extends R ? T : never;
}[ClientMessageType];
export type SignalingMessageType = RoutedTo<'signaling'>;
export type SfuOperationType = RoutedTo<'sfu'>;
export type SwitchMessageType = RoutedTo<'switch'>;

/** The reply's type of a client message (null when it has none). */
export type ReplyTypeOf<T extends ClientMessageType> = Table[T]['reply'];
/** The client messages that are answered. */
export type RequestType = {
  [T in ClientMessageType]: ReplyTypeOf<T> extends null ? never : T;
}[ClientMessageType];
export type ReplyOf<T extends RequestType> = ServerMessageOf<NonNullable<ReplyTypeOf<T>>>;

export function isClientMessageType(type: string): type is ClientMessageType {
  return Object.hasOwn(clientMessages, type);
}

/** Narrows a message to those its route takes (the server dispatches on these). */
export function isSignalingMessage(message: ClientMessage): message is ClientMessageOf<SignalingMessageType> {
  return clientMessages[message.type].route === 'signaling';
}
export function isSwitchMessage(message: ClientMessage): message is ClientMessageOf<SwitchMessageType> {
  return clientMessages[message.type].route === 'switch';
}

/** A reply as its handler hands it over: the server adds `timestamp` and `requestId` when sending. */
export type ReplyBody<T extends ClientMessageType> = T extends ClientMessageType
  ? ReplyTypeOf<T> extends ServerMessageType
    ? Omit<ServerMessageOf<ReplyTypeOf<T>>, 'timestamp' | 'requestId'>
    : never
  : never;

/** Validates a client message against the table entry its `type` names. */
export const ClientMessage = {
  safeParse(value: unknown) {
    const type = typeof value === 'object' && value !== null && 'type' in value ? value.type : undefined;
    if (typeof type !== 'string' || !isClientMessageType(type)) {
      return { success: false as const, error: undefined };
    }
    return clientMessages[type].schema.safeParse(value);
  },
  parse(value: unknown): ClientMessage {
    const result = ClientMessage.safeParse(value);
    if (!result.success) throw result.error ?? new Error('not a client message');
    return result.data;
  },
};
