import type {
  ConnectionMode,
  MediaState,
  PeerInfo,
  ServerMessage,
  ServerMessageOf,
} from '../protocol/index.ts';
import { loadDevice } from './deviceCache.ts';
import { Emitter } from './Emitter.ts';
import { ModeSwitcher } from './ModeSwitcher.ts';
import { P2PMesh, type P2PTrack } from './P2PMesh.ts';
import { SfuSession, type SfuTrack } from './SfuSession.ts';
import { Signaling } from './Signaling.ts';
import { mediaStateFlag } from './sources.ts';
import { TrackRegistry } from './TrackRegistry.ts';
import {
  type ClientState,
  type ConnectOptions,
  type LocalTrackEvent,
  type MediaKind,
  type MediaPath,
  type MediaSource,
  type OpenCallClientOptions,
  OpenCallError,
  type OpenCallEvents,
  type RemoteTrackStats,
  type RoomInfo,
} from './types.ts';

type RemoteTrack = P2PTrack | SfuTrack;

/** Join errors after which reconnecting cannot help. */
const FATAL_JOIN_CODES = new Set([
  'ROOM_NOT_FOUND',
  'ROOM_FULL',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'INVALID_MESSAGE',
]);
/** Errors about messages whose outcome no longer matters (a race with a mode change). */
const QUIET_RELATED_TYPES = new Set(['sfu-ready', 'p2p-ready', 'ping']);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The browser SDK. One client is one participant in one room at a time.
 *
 * ```ts
 * const client = new OpenCallClient();
 * client.on('track', ({ peerId, source, stream }) => attach(peerId, source, stream));
 * client.on('track-removed', ({ peerId, source, track }) => detach(peerId, source, track));
 * client.publish(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
 * await client.connect('wss://example.com/ws', { roomId: 'standup', displayName: 'Ada' });
 * ```
 *
 * The app never needs to know whether the room runs peer-to-peer or through the SFU: when the room
 * switches, the client gets the new path's track of each remote source flowing first, then emits
 * 'track' for it, then 'track-removed' for the old one.
 */
export class OpenCallClient extends Emitter<OpenCallEvents> {
  readonly #options: Required<
    Pick<
      OpenCallClientOptions,
      'requestTimeoutMs' | 'switchTimeoutMs' | 'politeOfferDelayMs' | 'keepaliveIntervalMs'
    >
  > &
    OpenCallClientOptions;
  readonly #signaling: Signaling;
  readonly #switcher: ModeSwitcher;
  readonly #registry: TrackRegistry<RemoteTrack>;
  readonly #appStreams = new WeakMap<RemoteTrack, MediaStream>();
  readonly #peers = new Map<string, PeerInfo>();
  readonly #local = new Map<MediaSource, MediaStreamTrack>();
  readonly #localStreams = new Map<MediaSource, MediaStream>();
  #mediaState: MediaState = { audio: false, video: false, screen: false };
  #screenStream: MediaStream | undefined;
  #ownsScreenStream = false;
  #mesh: P2PMesh | undefined;
  #sfu: SfuSession | undefined;
  #state: ClientState = 'idle';
  #url: string | undefined;
  #join: ConnectOptions | undefined;
  #roomId: string | undefined;
  #peerId: string | undefined;
  #iceServers: RTCIceServer[] = [];
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #reconnectAttempt = 0;
  /** Bumped when a session ends, so a reconnect loop of an older one stops. */
  #session = 0;

  constructor(options: OpenCallClientOptions = {}) {
    super();
    this.#options = {
      requestTimeoutMs: 15_000,
      switchTimeoutMs: 8_000,
      politeOfferDelayMs: 1_500,
      keepaliveIntervalMs: 15_000,
      ...options,
    };
    this.#signaling = new Signaling(
      {
        onMessage: (message) => this.#onMessage(message),
        onClose: (info) => this.#onSocketClose(info),
        ...(options.debug ? { onDebug: (dir, msg) => console.debug(`[opencall] ${dir}`, msg) } : {}),
      },
      {
        requestTimeoutMs: this.#options.requestTimeoutMs,
        ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      },
    );
    this.#registry = new TrackRegistry<RemoteTrack>(
      (t) => this.#emitTrack(t),
      (t) => this.emit('track-removed', { peerId: t.peerId, track: t.track, source: t.source, kind: t.kind }),
    );
    this.#switcher = new ModeSwitcher({
      startSfu: (caps) => this.#startSfu(caps),
      stopSfu: () => this.#stopSfu(),
      restartSfu: (caps) => this.#restartSfu(caps),
      sfuReachable: () => this.#sfu?.anyTransportConnected === true,
      openMesh: (options) => this.#openMesh(options),
      closeMesh: () => this.#mesh?.closeAll(),
      setPreferredPath: (path) => this.#registry.setPreferred(path),
      waitForPath: (path, isCurrent) => this.#waitForPath(path, isCurrent),
      sendReady: (path) => this.#sendReady(path),
      modeChanged: (mode, previousMode) => {
        // The old path only has to hold until the new one flows: spend less CPU on it meanwhile.
        this.#mesh?.setCameraReduced(mode === 'upgrading');
        this.emit('mode-changed', { mode, previousMode });
      },
      switched: (mode, path) => {
        this.#log('switched to', path, 'in mode', mode);
        this.emit('ready', { mode, path });
      },
      error: (error) => this.#emitError(error, 'SFU_FAILED'),
    });
  }

  // ------------------------------------------------------------------ state for apps and tests

  get state(): ClientState {
    return this.#state;
  }

  /** The room's connection mode as the server last announced it. */
  get mode(): ConnectionMode {
    return this.#switcher.mode;
  }

  /** Which path the remote tracks the app has come over. */
  get mediaPath(): MediaPath {
    return this.#switcher.preferredPath;
  }

  get roomId(): string | undefined {
    return this.#roomId;
  }

  get peerId(): string | undefined {
    return this.#peerId;
  }

  /** The other participants (not us), in join order. */
  get peers(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => ({ ...p, mediaState: { ...p.mediaState } }));
  }

  get mediaState(): MediaState {
    return { ...this.#mediaState };
  }

  /** Open RTCPeerConnections of the P2P mesh. */
  get p2pConnectionCount(): number {
    return this.#mesh?.connectionCount ?? 0;
  }

  /** Whether an SFU session (device, transports) is up. */
  get sfuActive(): boolean {
    return this.#sfu !== undefined && !this.#sfu.closed;
  }

  /** Our published tracks by source. */
  get localTracks(): Partial<Record<MediaSource, MediaStreamTrack>> {
    return Object.fromEntries(this.#local);
  }

  /** The remote tracks the app currently has, one per (peer, source). */
  get remoteTracks(): Array<{
    peerId: string;
    source: MediaSource;
    kind: MediaKind;
    track: MediaStreamTrack;
  }> {
    return this.#registry
      .shown()
      .map((t) => ({ peerId: t.peerId, source: t.source, kind: t.kind, track: t.track }));
  }

  /**
   * Receive statistics of every remote track, on both paths while a switch is under way:
   * `active` marks the one the app was given.
   */
  async getStats(): Promise<RemoteTrackStats[]> {
    const all = this.#registry.candidates();
    return Promise.all(
      all.map(async (t) => {
        const s = await readInbound(t);
        return {
          peerId: t.peerId,
          source: t.source,
          kind: t.kind,
          path: t.path,
          trackId: t.track.id,
          active: this.#registry.isShown(t),
          bytesReceived: s.bytesReceived,
          packetsReceived: s.packetsReceived,
          framesDecoded: s.framesDecoded,
        };
      }),
    );
  }

  // ------------------------------------------------------------------ connection

  /** Connects to `url` (ws:// or wss://, the server's /ws) and joins the room. */
  async connect(url: string, options: ConnectOptions): Promise<RoomInfo> {
    if (this.#state !== 'idle' && this.#state !== 'closed') {
      throw new OpenCallError('ALREADY_IN_ROOM', `Cannot connect while ${this.#state}`);
    }
    this.#url = url;
    this.#join = { ...options };
    this.#peerId = options.peerId;
    this.#roomId = options.roomId;
    if (options.mediaState) this.#applyMediaState(options.mediaState);
    const session = ++this.#session;
    this.#setState('connecting');
    try {
      await this.#signaling.open(url);
      const info = await this.#joinRoom();
      if (session !== this.#session) throw new OpenCallError('CONNECTION_FAILED', 'Closed while connecting');
      this.#setState('connected');
      this.#startKeepalive();
      return info;
    } catch (err) {
      if (session === this.#session) this.#teardown('connect failed', false);
      throw err;
    }
  }

  /** Leaves the room politely (leave-room) and closes everything. */
  async leave(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'closed') return;
    if (this.#signaling.isOpen && this.#state === 'connected') {
      await this.#signaling.request({ type: 'leave-room' }, 'room-left', 3000).catch(() => undefined);
    }
    this.#teardown('left');
  }

  /** Closes everything at once (the server notices the socket closing). */
  close(): void {
    if (this.#state === 'idle' || this.#state === 'closed') return;
    this.#teardown('closed');
  }

  // ------------------------------------------------------------------ local media

  /** Publishes a stream's first audio track (as mic) and first video track (as camera). */
  publish(stream: MediaStream): void {
    const audio = stream.getAudioTracks()[0] ?? null;
    const video = stream.getVideoTracks()[0] ?? null;
    // State first: the SFU producer is created paused or not from it.
    this.#mediaState.audio = audio?.enabled === true;
    this.#mediaState.video = video?.enabled === true;
    this.#setLocal('mic', audio);
    this.#setLocal('camera', video);
    this.#sfu?.setPaused('mic', this.#isPaused('mic'));
    this.#sfu?.setPaused('camera', this.#isPaused('camera'));
    this.#sendMediaState();
  }

  /** Publishes one track under a source (e.g. a second camera as 'camera'); null unpublishes it. */
  publishTrack(track: MediaStreamTrack | null, source: MediaSource): void {
    if (source !== 'screen-audio') this.#mediaState[mediaStateFlag(source)] = track?.enabled === true;
    this.#setLocal(source, track);
    this.#sfu?.setPaused(source, this.#isPaused(source));
    this.#sendMediaState();
  }

  /** Stops publishing mic and camera (the tracks are not stopped: they belong to the app). */
  unpublish(): void {
    this.#setLocal('mic', null);
    this.#setLocal('camera', null);
    this.#mediaState.audio = false;
    this.#mediaState.video = false;
    this.#sendMediaState();
  }

  /**
   * Mutes/unmutes mic and camera (track.enabled, and the SFU producers paused) and starts or stops
   * the screen share; tells the room. Returns the resulting state.
   */
  async setMediaState(state: Partial<MediaState>): Promise<MediaState> {
    this.#applyMediaState(state);
    if (state.screen === true && !this.#local.has('screen')) await this.startScreenShare();
    else if (state.screen === false && this.#local.has('screen')) this.stopScreenShare();
    else this.#sendMediaState();
    return this.mediaState;
  }

  /**
   * Shares the screen (getDisplayMedia, or the given stream) under source 'screen' (and
   * 'screen-audio' when it has audio). Resolves with the stream, for a local preview.
   */
  async startScreenShare(options: { audio?: boolean; stream?: MediaStream } = {}): Promise<MediaStream> {
    if (this.#screenStream) this.stopScreenShare();
    let stream = options.stream;
    if (!stream) {
      try {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: options.audio ?? false });
      } catch (err) {
        throw new OpenCallError(
          'MEDIA_DEVICE_ERROR',
          `Screen share failed: ${err instanceof Error ? err.message : err}`,
        );
      }
      this.#ownsScreenStream = true;
    } else {
      this.#ownsScreenStream = false;
    }
    const video = stream.getVideoTracks()[0];
    if (!video) throw new OpenCallError('MEDIA_DEVICE_ERROR', 'The screen share has no video track');
    if ('contentHint' in video) video.contentHint = 'detail';
    this.#screenStream = stream;
    video.addEventListener('ended', () => {
      if (this.#screenStream === stream) this.stopScreenShare();
    });
    this.#setLocal('screen', video);
    const audio = stream.getAudioTracks()[0];
    if (audio) this.#setLocal('screen-audio', audio);
    this.#mediaState.screen = true;
    this.#sendMediaState();
    return stream;
  }

  stopScreenShare(): void {
    const stream = this.#screenStream;
    this.#screenStream = undefined;
    this.#setLocal('screen', null);
    this.#setLocal('screen-audio', null);
    if (stream && this.#ownsScreenStream) for (const t of stream.getTracks()) t.stop();
    if (this.#mediaState.screen) {
      this.#mediaState.screen = false;
      this.#sendMediaState();
    }
  }

  // ------------------------------------------------------------------ internals: join, reconnect

  async #joinRoom(): Promise<RoomInfo> {
    const join = this.#join;
    if (!join) throw new OpenCallError('NOT_IN_ROOM', 'No room to join');
    const reply = await this.#signaling.request(
      {
        type: 'join-room',
        roomId: join.roomId,
        ...(this.#peerId !== undefined ? { peerId: this.#peerId } : {}),
        displayName: join.displayName,
        mediaState: this.mediaState,
        ...(join.token !== undefined ? { token: join.token } : {}),
      },
      'room-joined',
    );
    const rejoin = this.#peerId === reply.peerId && this.#mesh !== undefined;
    this.#peerId = reply.peerId;
    this.#roomId = reply.roomId;
    this.#iceServers = reply.iceServers as RTCIceServer[];

    // A fresh start for media: whatever ran before a reconnect is stale on the other side too.
    this.#switcher.reset();
    this.#mesh?.destroy();
    this.#stopSfu();
    this.#registry.clear();
    this.#mesh = this.#createMesh(reply.peerId);

    this.#syncPeers(reply.peers, rejoin);
    // Load the mediasoup Device now, while nothing waits for it: a later switch to the SFU needs it.
    if (reply.routerRtpCapabilities !== undefined) {
      loadDevice(reply.routerRtpCapabilities).catch((err) => this.#log('device preload failed:', err));
    }
    this.#switcher.joined(reply.connectionMode, reply.routerRtpCapabilities, reply.roomMode ?? 'auto');
    return {
      roomId: reply.roomId,
      peerId: reply.peerId,
      peers: this.peers,
      iceServers: reply.iceServers,
      connectionMode: reply.connectionMode,
    };
  }

  /** Applies the room's peer list; on a rejoin, reports only the differences. */
  #syncPeers(peers: PeerInfo[], rejoin: boolean): void {
    const fresh = new Map(peers.filter((p) => p.peerId !== this.#peerId).map((p) => [p.peerId, p]));
    if (rejoin) {
      for (const [peerId, old] of [...this.#peers]) {
        if (!fresh.has(peerId)) {
          this.#peers.delete(peerId);
          this.emit('peer-left', { peerId, displayName: old.displayName });
        }
      }
    } else {
      this.#peers.clear();
    }
    for (const [peerId, info] of fresh) {
      const known = this.#peers.get(peerId);
      this.#peers.set(peerId, { ...info, mediaState: { ...info.mediaState } });
      if (!known) this.emit('peer-joined', { ...info, mediaState: { ...info.mediaState } });
      else if (JSON.stringify(known.mediaState) !== JSON.stringify(info.mediaState)) {
        this.emit('media-state-changed', { peerId, mediaState: { ...info.mediaState } });
      }
    }
  }

  #onSocketClose(info: { code: number; reason: string; expected: boolean }): void {
    this.#stopKeepalive();
    if (info.expected || this.#state === 'closed' || this.#state === 'idle') return;
    if (this.#state === 'connecting') return; // connect() reports it
    if (this.#options.reconnect === false || !this.#join || !this.#url) {
      this.#teardown(`connection lost (${info.code})`);
      return;
    }
    if (this.#state === 'reconnecting') return;
    this.#setState('reconnecting');
    this.#reconnectAttempt = 0;
    void this.#reconnectLoop(this.#session);
  }

  async #reconnectLoop(session: number): Promise<void> {
    const opts = this.#options.reconnect === false ? {} : (this.#options.reconnect ?? {});
    const maxAttempts = opts.maxAttempts ?? Number.POSITIVE_INFINITY;
    const base = opts.baseDelayMs ?? 500;
    const max = opts.maxDelayMs ?? 10_000;
    while (session === this.#session && this.#state === 'reconnecting') {
      this.#reconnectAttempt++;
      if (this.#reconnectAttempt > maxAttempts) {
        this.#teardown('reconnect failed');
        return;
      }
      const exp = Math.min(max, base * 2 ** (this.#reconnectAttempt - 1));
      const delayMs = Math.round(exp * (0.8 + Math.random() * 0.4));
      this.emit('reconnecting', { attempt: this.#reconnectAttempt, delayMs });
      await sleep(delayMs);
      if (session !== this.#session || this.#state !== 'reconnecting') return;
      try {
        await this.#signaling.open(this.#url as string);
        const info = await this.#joinRoom();
        if (session !== this.#session) return;
        this.#reconnectAttempt = 0;
        this.#setState('connected');
        this.#startKeepalive();
        this.emit('reconnected', info);
        return;
      } catch (err) {
        if (session !== this.#session) return;
        const code = (err as { code?: string }).code;
        this.#log('reconnect attempt', this.#reconnectAttempt, 'failed:', err);
        if (code !== undefined && FATAL_JOIN_CODES.has(code)) {
          this.#emitError(err, 'CONNECTION_FAILED');
          this.#teardown(`rejoin refused (${code})`);
          return;
        }
        // Make sure a half-open socket does not linger into the next attempt.
        if (this.#signaling.isOpen) this.#signaling.close(1000, 'rejoin failed');
      }
    }
  }

  #startKeepalive(): void {
    this.#stopKeepalive();
    const every = this.#options.keepaliveIntervalMs;
    if (!every) return;
    // A ping per interval; the connection counts as dead when a ping got no traffic at all back
    // within max(interval, 10 s). Judged from the ping's own age, so a background tab whose timers
    // the browser throttles does not mistake its own slowness for a dead server.
    let pingSentAt: number | undefined;
    this.#keepalive = setInterval(() => {
      if (!this.#signaling.isOpen) return;
      const now = Date.now();
      const lastHeard = now - this.#signaling.idleMs;
      if (pingSentAt !== undefined && lastHeard < pingSentAt && now - pingSentAt > Math.max(every, 10_000)) {
        this.#log('no reply to ping for', now - pingSentAt, 'ms: reconnecting');
        pingSentAt = undefined;
        this.#signaling.drop();
        return;
      }
      if (pingSentAt === undefined || lastHeard >= pingSentAt) {
        pingSentAt = now;
        this.#signaling.send({ type: 'ping' });
      }
    }, every);
  }

  #stopKeepalive(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }

  #teardown(reason: string, emitClosed = true): void {
    this.#session++;
    this.#stopKeepalive();
    this.#switcher.reset();
    this.#mesh?.destroy();
    this.#mesh = undefined;
    this.#stopSfu();
    this.#registry.clear();
    this.#peers.clear();
    if (this.#screenStream) {
      // The screen share ends with the call when we started it; an app-given stream stays published.
      if (this.#ownsScreenStream) {
        for (const t of this.#screenStream.getTracks()) t.stop();
        this.#screenStream = undefined;
        this.#setLocal('screen', null);
        this.#setLocal('screen-audio', null);
        this.#mediaState.screen = false;
      }
    }
    this.#signaling.close(1000, reason);
    this.#setState('closed');
    if (emitClosed) this.emit('closed', { reason });
  }

  #setState(state: ClientState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state-changed', { state });
  }

  // ------------------------------------------------------------------ internals: messages

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'peer-joined':
        this.#onPeerJoined(message);
        break;
      case 'peer-left':
        this.#onPeerLeft(message.peerId);
        break;
      case 'media-state-changed':
        this.#onRemoteMediaState(message.peerId, message.mediaState);
        break;
      case 'offer':
        void this.#mesh?.handleDescription(message.fromPeerId, message.offer);
        break;
      case 'answer':
        void this.#mesh?.handleDescription(message.fromPeerId, message.answer);
        break;
      case 'ice-candidate':
        void this.#mesh?.handleCandidate(message.fromPeerId, message.candidate);
        break;
      case 'mode-changed':
        this.#log('mode', message.previousMode, '->', message.mode, message.reason ?? '');
        this.#switcher.changed(message.mode, message.previousMode, message.routerRtpCapabilities);
        break;
      case 'sfu-restart':
        this.#log('sfu restart:', message.reason);
        this.#switcher.restarted(message.routerRtpCapabilities);
        break;
      case 'error':
        this.#onServerError(message);
        break;
      case 'room-closed':
        this.#teardown(`room closed: ${message.reason}`);
        break;
      case 'server-shutdown':
        // The socket closes next; the reconnect loop takes over from there.
        this.#log('server shutting down:', message.reason);
        break;
      case 'sfu-new-producer':
      case 'sfu-producer-closed':
      case 'sfu-consumer-closed':
      case 'sfu-producer-paused':
      case 'sfu-producer-resumed':
      case 'sfu-consumer-paused':
      case 'sfu-consumer-resumed':
        this.#sfu?.handle(message);
        break;
      default:
        break;
    }
  }

  #onPeerJoined(message: ServerMessageOf<'peer-joined'>): void {
    if (message.peerId === this.#peerId) return;
    const info: PeerInfo = {
      peerId: message.peerId,
      displayName: message.displayName,
      mediaState: { ...message.mediaState },
    };
    const known = this.#peers.has(message.peerId);
    this.#peers.set(message.peerId, info);
    if (known) {
      // The same peer again (it reconnected): its old connection is dead on its side.
      this.#mesh?.close(message.peerId);
      this.#registry.removePeer(message.peerId);
    } else {
      this.emit('peer-joined', { ...info, mediaState: { ...info.mediaState } });
    }
    // A mode change the join caused reached us before this peer-joined (the server sends them in
    // that order), so the mode we are in already says whether the newcomer gets P2P.
    if (this.#switcher.allowsNewP2P) this.#mesh?.ensure(message.peerId);
  }

  #onPeerLeft(peerId: string): void {
    const info = this.#peers.get(peerId);
    this.#mesh?.close(peerId);
    this.#sfu?.removePeer(peerId);
    this.#registry.removePeer(peerId);
    if (!info) return;
    this.#peers.delete(peerId);
    this.emit('peer-left', { peerId, displayName: info.displayName });
  }

  #onRemoteMediaState(peerId: string, mediaState: MediaState): void {
    if (peerId === this.#peerId) return;
    const info = this.#peers.get(peerId);
    if (!info) return;
    info.mediaState = { ...mediaState };
    for (const source of ['mic', 'camera'] as const) {
      const off = !mediaState[mediaStateFlag(source)];
      this.#mesh?.setRemotePaused(peerId, source, off);
      if (off) this.#sfu?.setRemotePaused(peerId, source, true);
    }
    this.emit('media-state-changed', { peerId, mediaState: { ...mediaState } });
  }

  #onServerError(message: ServerMessageOf<'error'>): void {
    const error = new OpenCallError(message.code, message.error, {
      ...(message.requestId !== undefined ? { requestId: message.requestId } : {}),
      ...(message.relatedType !== undefined ? { relatedType: message.relatedType } : {}),
    });
    if (message.code === 'SFU_UNAVAILABLE' || message.code === 'SFU_WORKER_DIED') {
      this.#log('SFU failed:', message.code);
      this.#switcher.sfuFailed();
    }
    if (message.relatedType !== undefined && QUIET_RELATED_TYPES.has(message.relatedType)) {
      this.#log('ignored error', message.code, 'for', message.relatedType);
      return;
    }
    this.emit('error', error);
  }

  // ------------------------------------------------------------------ internals: media

  #createMesh(selfId: string): P2PMesh {
    const rtc = this.#options.rtcConfiguration ?? {};
    const mesh = new P2PMesh({
      selfId,
      rtcConfiguration: { ...rtc, iceServers: rtc.iceServers ?? this.#iceServers },
      politeOfferDelayMs: this.#options.politeOfferDelayMs,
      send: (message) => {
        this.#signaling.send(message);
      },
      allowsNewLinks: () => this.#switcher.allowsNewP2P,
      acceptsOffers: () => this.#switcher.acceptsP2POffers,
      onTrack: (t) => {
        t.paused = this.#remoteSourceOff(t.peerId, t.source);
        this.#registry.add(t);
      },
      onTrackEnded: (t) => this.#registry.remove(t),
      onError: (error) => this.#emitError(error, 'NEGOTIATION_FAILED'),
      log: (...args) => this.#log(...args),
    });
    for (const [source, track] of this.#local) mesh.setLocalTrack(source, track);
    return mesh;
  }

  #openMesh(options: { now?: boolean } = {}): void {
    const mesh = this.#mesh;
    if (!mesh) return;
    mesh.replayStash();
    for (const peerId of this.#peers.keys()) mesh.ensure(peerId, options);
  }

  #startSfu(routerRtpCapabilities: unknown): Promise<void> {
    if (!this.#sfu || this.#sfu.closed) {
      const sfu = new SfuSession({
        selfId: this.#peerId as string,
        iceServers: this.#iceServers,
        request: (message, expect) => this.#signaling.request(message, expect),
        onTrack: (t) => {
          if (this.#remoteSourceOff(t.peerId, t.source)) t.paused = true;
          this.#registry.add(t);
        },
        onTrackEnded: (t) => this.#registry.remove(t),
        onTransportFailed: (transportId, reason) => this.#reportSfuFailure(reason, transportId),
        onError: (error) => this.#emitError(error, 'SFU_FAILED'),
        log: (...args) => this.#log(...args),
      });
      for (const [source, track] of this.#local) sfu.setLocalTrack(source, track, this.#isPaused(source));
      this.#sfu = sfu;
    }
    return this.#sfu.start(routerRtpCapabilities);
  }

  #stopSfu(): void {
    const sfu = this.#sfu;
    this.#sfu = undefined;
    sfu?.close();
  }

  /**
   * A new SFU session for a rebuilt router. The old session's tracks stay with the app until the
   * new session's tracks replace them (same peer and source: the registry shows the new one, then
   * hides the old); the ones nothing replaced go once the new session is up.
   */
  async #restartSfu(routerRtpCapabilities: unknown): Promise<void> {
    const old = this.#sfu;
    this.#sfu = undefined;
    const stale = old?.close({ keepTracks: true }) ?? [];
    try {
      await this.#startSfu(routerRtpCapabilities);
    } finally {
      for (const t of stale) this.#registry.remove(t);
    }
  }

  /** Tells the server our SFU path failed, so a switch into it is aborted without waiting. */
  #reportSfuFailure(
    reason: 'ice-failed' | 'dtls-failed' | 'connect-timeout' | 'media-timeout',
    transportId?: string,
  ): void {
    this.#log('sfu: reporting', reason, transportId ?? '');
    this.#signaling.send({ type: 'sfu-transport-failed', reason, ...(transportId ? { transportId } : {}) });
  }

  #sendReady(path: MediaPath): void {
    this.#signaling
      .request({ type: path === 'sfu' ? 'sfu-ready' : 'p2p-ready' })
      .catch((err) => this.#log(`${path}-ready not acknowledged:`, err));
  }

  /**
   * Resolves true once every remote source the app has (or should have) flows over `path`: a
   * candidate on that path whose decoded frames (video) or received bytes (audio) grew between
   * two looks, or that is paused/muted at the sender; over the SFU, also every transport that
   * carries media connected. Resolves false once `isCurrent()` turns false. It never resolves true
   * on a timer: when no SFU transport has connected by switchTimeoutMs it reports the SFU as
   * unreachable, and the server (which decides) aborts the switch.
   */
  async #waitForPath(path: MediaPath, isCurrent: () => boolean): Promise<boolean> {
    const deadline = Date.now() + this.#options.switchTimeoutMs;
    let reported = false;
    // Progress per candidate: decoded frames for video (bytes alone may be a stream still waiting
    // for its key frame, which would show as a frozen picture), received bytes for audio.
    const lastProgress = new Map<string, number>();
    const flowing = new Set<string>();
    while (isCurrent()) {
      const sfu = this.#sfu;
      // Over the SFU, wait first for the consumers of the room's producers to exist.
      if (path === 'p2p' || sfu?.ready) {
        const targets = this.#registry.candidates(path);
        await Promise.all(
          targets.map(async (t) => {
            const stats = await readInbound(t);
            const progress = t.kind === 'video' ? stats.framesDecoded : stats.bytesReceived;
            const before = lastProgress.get(t.id);
            lastProgress.set(t.id, progress);
            if (before !== undefined && progress > before) flowing.add(t.id);
          }),
        );
        const pending = this.#registry.pendingFor(path, (t) => t.paused || flowing.has(t.id));
        const connected = path === 'p2p' || sfu?.mediaConnected === true;
        if (pending.length === 0 && connected && isCurrent()) {
          this.#log('every remote track flows over', path);
          return true;
        }
      }
      // No transport connected by the deadline: the SFU is unreachable from here. (Connected but
      // slow is not reported: the server, which sees every peer, decides about that.)
      if (
        !reported &&
        path === 'sfu' &&
        Date.now() >= deadline &&
        isCurrent() &&
        !sfu?.anyTransportConnected
      ) {
        reported = true;
        this.#reportSfuFailure('connect-timeout');
      }
      // Short polls: every 100 ms saved here is 100 ms less of doubled media during a switch.
      await sleep(100);
    }
    return false;
  }

  /** The peer's media state says this source is off (muted mic, camera off): expect no media. */
  #remoteSourceOff(peerId: string, source: MediaSource): boolean {
    if (source !== 'mic' && source !== 'camera') return false;
    const info = this.#peers.get(peerId);
    return info !== undefined && !info.mediaState[mediaStateFlag(source)];
  }

  #isPaused(source: MediaSource): boolean {
    if (source === 'mic') return !this.#mediaState.audio;
    if (source === 'camera') return !this.#mediaState.video;
    return false;
  }

  #setLocal(source: MediaSource, track: MediaStreamTrack | null): void {
    const old = this.#local.get(source) ?? null;
    if (old === track) return;
    if (old) {
      const stream = this.#localStreams.get(source) ?? new MediaStream([old]);
      this.#local.delete(source);
      this.#localStreams.delete(source);
      this.emit('local-track-removed', localEvent(old, stream, source));
    }
    if (track) {
      this.#local.set(source, track);
      const stream = new MediaStream([track]);
      this.#localStreams.set(source, stream);
    }
    this.#mesh?.setLocalTrack(source, track);
    this.#sfu?.setLocalTrack(source, track, this.#isPaused(source));
    if (track)
      this.emit('local-track', localEvent(track, this.#localStreams.get(source) as MediaStream, source));
  }

  #applyMediaState(state: Partial<MediaState>): void {
    if (state.audio !== undefined) {
      const mic = this.#local.get('mic');
      if (mic) mic.enabled = state.audio;
      this.#mediaState.audio = state.audio && mic !== undefined;
      this.#sfu?.setPaused('mic', !this.#mediaState.audio);
    }
    if (state.video !== undefined) {
      const camera = this.#local.get('camera');
      if (camera) camera.enabled = state.video;
      this.#mediaState.video = state.video && camera !== undefined;
      this.#sfu?.setPaused('camera', !this.#mediaState.video);
    }
  }

  #sendMediaState(): void {
    if (this.#state !== 'connected') return;
    this.#signaling.send({ type: 'media-state-changed', mediaState: this.mediaState });
  }

  #emitTrack(t: RemoteTrack): void {
    let stream = this.#appStreams.get(t);
    if (!stream) {
      stream = new MediaStream([t.track]);
      this.#appStreams.set(t, stream);
    }
    this.emit('track', { peerId: t.peerId, track: t.track, stream, source: t.source, kind: t.kind });
  }

  #emitError(error: unknown, fallback: 'SFU_FAILED' | 'NEGOTIATION_FAILED' | 'CONNECTION_FAILED'): void {
    const err =
      error instanceof OpenCallError
        ? error
        : new OpenCallError(fallback, error instanceof Error ? error.message : String(error));
    this.#log('error', err.code, err.message);
    this.emit('error', err);
  }

  #log(...args: unknown[]): void {
    if (this.#options.debug) console.debug('[opencall]', ...args);
  }
}

function localEvent(track: MediaStreamTrack, stream: MediaStream, source: MediaSource): LocalTrackEvent {
  return { track, stream, source, kind: track.kind as MediaKind };
}

async function readInbound(
  t: RemoteTrack,
): Promise<{ bytesReceived: number; packetsReceived: number; framesDecoded: number }> {
  const out = { bytesReceived: 0, packetsReceived: 0, framesDecoded: 0 };
  try {
    const report = await t.getStats();
    report.forEach(
      (s: {
        type?: string;
        kind?: string;
        bytesReceived?: number;
        packetsReceived?: number;
        framesDecoded?: number;
      }) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind !== undefined && s.kind !== t.kind) return;
        out.bytesReceived += s.bytesReceived ?? 0;
        out.packetsReceived += s.packetsReceived ?? 0;
        out.framesDecoded += s.framesDecoded ?? 0;
      },
    );
  } catch {
    // A closed receiver has no stats.
  }
  return out;
}
