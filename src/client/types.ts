import type {
  BreakoutRoom,
  ChatMessage,
  ConnectionMode,
  ErrorCode,
  IceServer,
  MediaSource,
  MediaState,
  PeerInfo,
  RoomModePolicy,
} from '../protocol/index.ts';

export type { ConnectionMode, IceServer, MediaSource, MediaState, PeerInfo, RoomModePolicy };

/** Which way a remote track reaches us. */
export type MediaPath = 'p2p' | 'sfu';

export type MediaKind = 'audio' | 'video';

/** The SDK's own error codes, beside the server's protocol codes. */
export type ClientErrorCode =
  | ErrorCode
  | 'CONNECTION_FAILED'
  | 'REQUEST_TIMEOUT'
  | 'NEGOTIATION_FAILED'
  | 'SFU_FAILED'
  | 'MEDIA_DEVICE_ERROR'
  | 'E2EE_UNSUPPORTED';

export class OpenCallError extends Error {
  readonly code: ClientErrorCode;
  readonly requestId: string | number | undefined;
  readonly relatedType: string | undefined;

  constructor(
    code: ClientErrorCode,
    message: string,
    extra: { requestId?: string | number; relatedType?: string } = {},
  ) {
    super(message);
    this.name = 'OpenCallError';
    this.code = code;
    this.requestId = extra.requestId;
    this.relatedType = extra.relatedType;
  }
}

export interface ReconnectOptions {
  /** Give up after this many failed attempts in a row (default Infinity). */
  maxAttempts?: number;
  /** First retry delay in ms (default 500); doubles each attempt, with jitter. */
  baseDelayMs?: number;
  /** Upper bound of the delay in ms (default 10 000). */
  maxDelayMs?: number;
}

export interface OpenCallClientOptions {
  /** Reconnect when the WebSocket drops unexpectedly (default on). `false` turns it off. */
  reconnect?: ReconnectOptions | false;
  /** How long a request waits for its reply, in ms (default 15 000). */
  requestTimeoutMs?: number;
  /**
   * How long a switch to the SFU waits for a first SFU transport to connect before the client
   * reports the SFU as unreachable (sfu-transport-failed), in ms (default 8 000). The client never
   * swaps on a timer: the server aborts a switch that carries no media (by SFU_SWITCH_TIMEOUT_MS)
   * and the room stays peer-to-peer.
   */
  switchTimeoutMs?: number;
  /** How long the polite side of a pair waits for the other's offer before offering itself (default 1 500 ms). */
  politeOfferDelayMs?: number;
  /** An application-level ping is sent this often, in ms (default 15 000; 0 disables it). */
  keepaliveIntervalMs?: number;
  /** Extra RTCConfiguration for the P2P connections (iceServers come from the server unless given here). */
  rtcConfiguration?: RTCConfiguration;
  /** Logs protocol traffic and decisions to the console. */
  debug?: boolean;
  /** WebSocket constructor to use (tests, or non-browser runtimes). */
  WebSocket?: typeof WebSocket;
}

export interface ConnectOptions {
  roomId: string;
  /** Ask for this id; the server assigns one when absent. Reconnects reuse the assigned id. */
  peerId?: string;
  displayName: string;
  token?: string;
  /** The room's password, when its host set one. */
  password?: string;
  /** Defaults to what is published: audio/video true when a mic/camera track is published and enabled. */
  mediaState?: Partial<MediaState>;
}

/** What connect() resolves with: the room as the server described it on join. */
export interface RoomInfo {
  roomId: string;
  peerId: string;
  peers: PeerInfo[];
  iceServers: IceServer[];
  connectionMode: ConnectionMode;
}

export interface RemoteTrackEvent {
  peerId: string;
  track: MediaStreamTrack;
  /** A stream holding just this track, handy for `video.srcObject`. */
  stream: MediaStream;
  source: MediaSource;
  kind: MediaKind;
}

/** A remote track the app has: OpenCallClient.remoteTracks. */
export interface RemoteTrackInfo {
  peerId: string;
  source: MediaSource;
  kind: MediaKind;
  track: MediaStreamTrack;
}

export interface RemoteTrackRemovedEvent {
  peerId: string;
  track: MediaStreamTrack;
  source: MediaSource;
  kind: MediaKind;
}

export interface LocalTrackEvent {
  track: MediaStreamTrack;
  stream: MediaStream;
  source: MediaSource;
  kind: MediaKind;
}

export interface RemoteTrackStats {
  peerId: string;
  source: MediaSource;
  kind: MediaKind;
  path: MediaPath;
  trackId: string;
  /** True when this is the track the app was given (the other path's twin exists only while switching). */
  active: boolean;
  bytesReceived: number;
  packetsReceived: number;
  framesDecoded: number;
}

export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface OpenCallEvents {
  'peer-joined': PeerInfo;
  'peer-left': { peerId: string; displayName: string };
  track: RemoteTrackEvent;
  'track-removed': RemoteTrackRemovedEvent;
  'local-track': LocalTrackEvent;
  'local-track-removed': LocalTrackEvent;
  'mode-changed': { mode: ConnectionMode; previousMode: ConnectionMode };
  'media-state-changed': { peerId: string; mediaState: MediaState };
  /** A P2P<->SFU switch completed: every remote track now comes over `path`. */
  ready: { mode: ConnectionMode; path: MediaPath };
  error: OpenCallError;
  reconnecting: { attempt: number; delayMs: number };
  reconnected: RoomInfo;
  closed: { reason: string };
  /** A server message this SDK does not know (a newer server); `message` is it as received. */
  unknownMessage: { type: string; message: unknown };
  'state-changed': { state: ClientState };
  /** A chat message to the room or to us (client.chat). */
  chat: { message: ChatMessage };
  /** The room's access settings changed (or our change was applied). */
  'room-access': { locked: boolean; hasPassword: boolean; waitingRoom: boolean };
  /** We are held in the room's waiting room; connect() resolves once a host admits us. */
  waiting: { roomId: string; peerId: string };
  /** Hosts: someone waits to be admitted (client.host.admit / deny). */
  knock: { peerId: string; displayName: string };
  'knock-ended': { peerId: string; outcome: 'admitted' | 'denied' | 'left' };
  /** A host removed us; 'closed' follows. */
  kicked: { reason: string };
  /** A host asks us to mute; the SDK has already muted these. */
  'mute-requested': { byPeerId: string; kinds: Array<'audio' | 'video' | 'screen'> };
  /** The room is being recorded (the demo shows an indicator). */
  'recording-started': { recordingId: string; startedAt: string };
  /** The recording ended; `path` is the file on the server. */
  'recording-stopped': { recordingId: string; path: string; sizeBytes: number; durationS: number };
  /** End-to-end encryption: whether we hold the room key, and its id (it changes when a peer leaves). */
  e2ee: { active: boolean; keyId: number | undefined };
  /** A peer is sending us a file; `file-received` follows when it is complete and checked. */
  'file-offer': { fromPeerId: string; fileId: string; name: string; size: number };
  /**
   * Bytes of a file received (`in`), or acknowledged by a receiver (`out`), so far; `path` is the
   * way the latest bytes went (a transfer under way when the room switches goes on over the other).
   */
  'file-progress': {
    peerId: string;
    fileId: string;
    direction: 'in' | 'out';
    bytes: number;
    size: number;
    path: MediaPath;
  };
  /** A file arrived whole and its SHA-256 matches the sender's. */
  'file-received': {
    fromPeerId: string;
    fileId: string;
    name: string;
    size: number;
    file: Blob;
    sha256: string;
  };
  /** The room's active speaker changed (the SFU measures it; in P2P the peers report their levels). */
  'active-speaker': { peerId: string };
  /** The meeting's breakout rooms changed (empty: closed). */
  breakouts: { roomId: string; breakouts: BreakoutRoom[] };
  /** We were sent to another room of the meeting and are joining it (same name and media state). */
  moving: { roomId: string; fromRoomId: string; name?: string | undefined; reason: string };
  /** We are in that room now (`room` as connect() returns it). */
  moved: { room: RoomInfo; fromRoomId: string; name?: string | undefined };
  /** A host's message to all the breakout rooms of the meeting. */
  'breakout-message': { fromPeerId: string; text: string; sentAt: number };
}
