import type {
  ConnectionMode,
  MediaState,
  PeerInfo,
  ServerMessage,
  ServerMessageOf,
  SfuCapabilitiesResponse,
} from '../protocol/index.ts';
import { AudioLevelReporter } from './AudioLevelReporter.ts';
import { Chat } from './Chat.ts';
import { loadDevice } from './deviceCache.ts';
import { Emitter } from './Emitter.ts';
import { E2eeKeys } from './e2ee/E2eeKeys.ts';
import { FrameCryptor } from './e2ee/FrameCryptor.ts';
import { FileTransfer } from './FileTransfer.ts';
import { HostControls, JOIN_WAIT_MS } from './HostControls.ts';
import { LocalMedia } from './LocalMedia.ts';
import { MediaPaths } from './MediaPaths.ts';
import { ModeSwitcher } from './ModeSwitcher.ts';
import { RemotePeers } from './RemotePeers.ts';
import { type RoomPushTargets, roomPushDispatcher } from './RoomPushes.ts';
import { isFatalJoinError, ReconnectRefused, Signaling } from './Signaling.ts';
import {
  type ClientState,
  type ConnectOptions,
  type MediaPath,
  type MediaSource,
  type OpenCallClientOptions,
  OpenCallError,
  type OpenCallEvents,
  type RemoteTrackInfo,
  type RemoteTrackStats,
  type RoomInfo,
} from './types.ts';

/**
 * The browser SDK: one client is one participant in one room at a time.
 *
 * ```ts
 * const client = new OpenCallClient();
 * client.on('track', ({ peerId, source, stream }) => attach(peerId, source, stream));
 * client.publish(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
 * await client.connect('wss://example.com/ws', { roomId: 'standup', displayName: 'Ada' });
 * ```
 *
 * The app never needs to know whether the room runs peer-to-peer or through the SFU: on a switch the
 * new path's track of each remote source flows first, then comes 'track', then 'track-removed' for
 * the old one. This class is the facade over Signaling, LocalMedia, RemotePeers, MediaPaths (mesh,
 * SFU session, track registry, flow probe), ModeSwitcher, RoomPushes and HostControls.
 */
export class OpenCallClient extends Emitter<OpenCallEvents> {
  readonly #options: OpenCallClientOptions;
  readonly #signaling: Signaling;
  readonly #local: LocalMedia;
  readonly #peers = new RemotePeers();
  readonly #paths: MediaPaths;
  readonly #switcher: ModeSwitcher;
  readonly #onPush: (message: ServerMessage) => void;
  readonly host: HostControls;
  readonly #levels: AudioLevelReporter;
  readonly #files: FileTransfer;
  /** The frame transform and key exchange of an E2EE room (made when we join one). */
  #cryptor: FrameCryptor | undefined;
  readonly #e2ee: E2eeKeys;
  readonly chat: Chat;
  #state: ClientState = 'idle';
  #join: ConnectOptions | undefined;
  #roomId: string | undefined;
  #peerId: string | undefined;
  /** From room-joined: a reconnect presents it to get this same peer back (nothing reset). */
  #resumeToken: string | undefined;
  /** Bumped when a session ends, so late replies of an older one do nothing. */
  #session = 0;

  constructor(options: OpenCallClientOptions = {}) {
    super();
    this.#options = options;
    this.#signaling = new Signaling(
      {
        onMessage: (message) => this.#onPush(message),
        onClose: (info) => this.#onSocketClose(info),
        onReconnecting: (info) => this.emit('reconnecting', info),
        onReopen: () => this.#rejoin(),
        onReconnectFailed: (error, refused) => {
          if (refused) this.#emitError(error, 'CONNECTION_FAILED');
          this.#teardown(refused ? `rejoin refused (${error.code})` : 'reconnect failed');
        },
        ...(options.debug ? { onDebug: (dir, msg) => console.debug(`[opencall] ${dir}`, msg) } : {}),
      },
      {
        requestTimeoutMs: options.requestTimeoutMs ?? 15_000,
        keepaliveIntervalMs: options.keepaliveIntervalMs ?? 15_000,
        reconnect: options.reconnect ?? {},
        ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
      },
    );
    this.host = new HostControls(this.#signaling);
    this.chat = new Chat(this.#signaling);
    this.#local = new LocalMedia({
      trackChanged: (source, track, paused) => this.#paths.setLocalTrack(source, track, paused),
      pausedChanged: (source, paused) => this.#paths.setPaused(source, paused),
      stateChanged: (mediaState) => {
        if (this.#state === 'connected') this.#signaling.send({ type: 'media-state-changed', mediaState });
      },
      localTrack: (e) => this.emit('local-track', e),
      localTrackRemoved: (e) => this.emit('local-track-removed', e),
    });
    this.#paths = new MediaPaths({
      signaling: this.#signaling,
      local: this.#local,
      peers: this.#peers,
      onTrack: (e) => this.emit('track', e),
      onTrackRemoved: (e) => this.emit('track-removed', e),
      p2pPolicy: () => this.#switcher,
      rtcConfiguration: options.rtcConfiguration,
      politeOfferDelayMs: options.politeOfferDelayMs ?? 1_500,
      switchTimeoutMs: options.switchTimeoutMs ?? 8_000,
      onError: (error, fallback) => this.#emitError(error, fallback),
      onDataChannel: (peerId, channel) => this.#files.accept(peerId, channel),
      frameTransform: () => this.#cryptor,
      log: (...args) => this.#log(...args),
    });
    this.#e2ee = new E2eeKeys({
      cryptor: () => this.#cryptor,
      send: (toPeerId, payload) => this.#signaling.send({ type: 'e2ee-key', toPeerId, payload }),
      changed: (state) => this.emit('e2ee', state),
      log: (...args) => this.#log(...args),
    });
    this.#files = new FileTransfer({
      openPipe: (peerId, label) => this.#paths.openFilePipe(peerId, label, this.#switcher.preferredPath),
      peerIds: () => this.peers.map((p) => p.peerId),
      hasPeer: (peerId) => this.peers.some((p) => p.peerId === peerId),
      sendAck: (ack) => this.#signaling.send({ type: 'file-ack', ...ack }),
      emit: (event, payload) => this.emit(event, payload),
      log: (...args) => this.#log(...args),
    });
    this.#switcher = new ModeSwitcher(
      this.#paths.modeActions({
        modeChanged: (mode, previousMode) => {
          // The old path only has to hold until the new one flows: spend less CPU on it meanwhile.
          // Not when the SFU session is prewarmed: the switch is then too short to gain anything,
          // and the resolution change costs the P2P receivers a key frame in the middle of it.
          const prewarmed = this.#paths.sfu?.ready === true;
          this.#paths.mesh?.setCameraReduced(mode === 'upgrading' && !prewarmed);
          this.emit('mode-changed', { mode, previousMode });
          this.#files.pathsChanged();
        },
        switched: (mode, path) => {
          this.#files.pathsChanged();
          this.emit('ready', { mode, path });
        },
        error: (error) => this.#emitError(error, 'SFU_FAILED'),
      }),
    );
    const targets: RoomPushTargets = {
      selfId: () => this.#peerId,
      peers: this.#peers,
      paths: this.#paths,
      switcher: this.#switcher,
      files: this.#files,
      e2ee: this.#e2ee,
      emit: (event, payload) => this.emit(event, payload),
      end: (reason) => this.#teardown(reason),
      mute: (kinds) => void this.#local.setState(Object.fromEntries(kinds.map((k) => [k, false]))),
      move: (m) => void this.#move(m),
      log: (...args) => this.#log(...args),
    };
    this.#onPush = roomPushDispatcher(targets);
    this.#levels = new AudioLevelReporter({
      mic: () => (this.#local.isPaused('mic') ? undefined : this.#local.tracks.get('mic')),
      wanted: () => this.#state === 'connected' && this.mode === 'p2p',
      send: (level) => this.#signaling.send({ type: 'audio-level', level }),
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
    return this.#peers.list();
  }

  get mediaState(): MediaState {
    return this.#local.state;
  }

  /**
   * End-to-end encryption: `enabled` in a room created with `encryption: "e2ee"`, `active` once we
   * hold the room key our frames are sealed with (`keyId`, in every frame).
   */
  get e2ee(): {
    enabled: boolean;
    active: boolean;
    keyId: number | undefined;
    transform: 'script' | 'insertable-streams' | undefined;
  } {
    const keyId = this.#e2ee.keyId;
    const cryptor = this.#cryptor;
    const transform = cryptor ? (cryptor.insertableStreams ? 'insertable-streams' : 'script') : undefined;
    return { enabled: cryptor !== undefined, active: keyId !== undefined, keyId, transform };
  }

  /** Frames this client encrypted, decrypted, and dropped (no key, or a failed check) so far. */
  async getE2eeStats(): Promise<{ encrypted: number; decrypted: number; dropped: number } | undefined> {
    return this.#cryptor?.counts();
  }

  /** Open RTCPeerConnections of the P2P mesh. */
  get p2pConnectionCount(): number {
    return this.#paths.mesh?.connectionCount ?? 0;
  }

  /** Whether an SFU session (device, transports) is up. */
  get sfuActive(): boolean {
    return this.#paths.sfu !== undefined && !this.#paths.sfu.closed;
  }

  /** Our published tracks by source. */
  get localTracks(): Partial<Record<MediaSource, MediaStreamTrack>> {
    return Object.fromEntries(this.#local.tracks);
  }

  /** The remote tracks the app currently has, one per (peer, source). */
  get remoteTracks(): RemoteTrackInfo[] {
    return this.#paths.registry
      .shown()
      .map(({ peerId, source, kind, track }) => ({ peerId, source, kind, track }));
  }

  /** Receive statistics of every remote track, on both paths while a switch is under way. */
  getStats(): Promise<RemoteTrackStats[]> {
    return this.#paths.probe.stats();
  }

  // ------------------------------------------------------------------ connection

  /**
   * Gets ready to connect to `url` (the same as connect's) ahead of the join, like LiveKit's
   * prepareConnection: fetches the server's SFU capabilities (GET /api/sfu/capabilities) and loads
   * the mediasoup Device with them, which starts the browser's WebRTC engine. Call it while the
   * page asks for the camera: a room that moves to the SFU as this client joins then does not
   * wait for it. Never fails: without it (an SFU that is off, an old server) connect does the same
   * later.
   */
  async prepareConnection(url: string): Promise<void> {
    try {
      const endpoint = new URL('api/sfu/capabilities', new URL(url.replace(/^ws/i, 'http')));
      const response = await fetch(endpoint, { headers: { accept: 'application/json' } });
      if (!response.ok) {
        this.#log('prepareConnection: no SFU capabilities,', response.status);
        return;
      }
      // Not parsed with the protocol's schema (the SDK ships without zod): Device.load checks them.
      const body = (await response.json()) as Partial<SfuCapabilitiesResponse> | null;
      if (!body?.routerRtpCapabilities) throw new Error('no routerRtpCapabilities in the answer');
      await loadDevice(body.routerRtpCapabilities);
    } catch (err) {
      this.#log('prepareConnection failed:', err);
    }
  }

  /** Connects to `url` (ws:// or wss://, the server's /ws) and joins the room. */
  async connect(url: string, options: ConnectOptions): Promise<RoomInfo> {
    if (this.#state !== 'idle' && this.#state !== 'closed') {
      throw new OpenCallError('ALREADY_IN_ROOM', `Cannot connect while ${this.#state}`);
    }
    this.#join = { ...options };
    this.#resumeToken = undefined;
    this.#peerId = options.peerId;
    this.#roomId = options.roomId;
    if (options.mediaState) this.#local.apply(options.mediaState);
    const session = ++this.#session;
    this.#setState('connecting');
    try {
      await this.#signaling.open(url);
      const info = await this.#joinRoom();
      if (session !== this.#session) throw new OpenCallError('CONNECTION_FAILED', 'Closed while connecting');
      this.#setState('connected');
      this.#levels.start();
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

  // ------------------------------------------------------------------ local media (LocalMedia)

  /** Publishes a stream's first audio track (as mic) and first video track (as camera). */
  publish(stream: MediaStream): void {
    this.#local.publish(stream);
  }

  /** Publishes one track under a source (e.g. a second camera as 'camera'); null unpublishes it. */
  publishTrack(track: MediaStreamTrack | null, source: MediaSource): void {
    this.#local.publishTrack(track, source);
  }

  /** Stops publishing mic and camera (the tracks are not stopped: they belong to the app). */
  unpublish(): void {
    this.#local.unpublish();
  }

  /** Mutes/unmutes mic and camera and starts or stops the screen share; tells the room. */
  setMediaState(state: Partial<MediaState>): Promise<MediaState> {
    return this.#local.setState(state);
  }

  /** Shares the screen (getDisplayMedia, or the given stream); resolves with the stream. */
  startScreenShare(options: { audio?: boolean; stream?: MediaStream } = {}): Promise<MediaStream> {
    return this.#local.startScreenShare(options);
  }

  stopScreenShare(): void {
    this.#local.stopScreenShare();
  }

  /**
   * Sends a file (≤ 100 MB) to everyone in the room, or to `toPeerId`: over the P2P links' data
   * channels in P2P mode, through the SFU's data channels in SFU mode; a transfer under way when
   * the room switches goes on over the new path from the last acknowledged byte. Resolves once
   * every receiver has checked its SHA-256. Events: `file-offer`, `file-progress`, `file-received`.
   */
  sendFile(file: Blob & { name?: string }, options: { toPeerId?: string } = {}): Promise<{ fileId: string }> {
    return this.#files.send(file, options);
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
        ...(join.password !== undefined ? { password: join.password } : {}),
        ...(this.#resumeToken !== undefined ? { resumeToken: this.#resumeToken } : {}),
      },
      'room-joined',
      JOIN_WAIT_MS, // a waiting room holds the reply until a host decides
    );
    this.#resumeToken = reply.resumeToken;
    const { peerId, roomId, iceServers, connectionMode } = reply;
    if (reply.resumed) return { roomId, peerId, peers: this.peers, iceServers, connectionMode };
    const rejoin = this.#peerId === reply.peerId && this.#paths.mesh !== undefined;
    this.#peerId = reply.peerId;
    this.#roomId = reply.roomId;
    // Not resumed: a fresh start for media, since what ran before is stale on the other side too.
    this.#switcher.reset();
    this.#startE2ee(reply);
    this.#paths.reset(reply.peerId, reply.iceServers);
    this.#paths.registry.clear();
    // The app hears of the peers after the paths have started: an SFU session sends its sfu-join
    // before the app's handlers run (they render the room, the longest work of a page that joins).
    const peerEvents: Array<() => void> = [];
    this.#peers.sync(reply.peers, reply.peerId, rejoin, (event, payload) =>
      peerEvents.push(() => this.emit(event, payload)),
    );
    // Load the mediasoup Device now, while nothing waits for it: a later switch to the SFU needs it.
    const caps = reply.routerRtpCapabilities;
    if (caps) loadDevice(caps).catch((err) => this.#log('device preload failed:', err));
    this.#switcher.joined(reply.connectionMode, reply.routerRtpCapabilities, reply.roomMode ?? 'auto');
    for (const emit of peerEvents) emit();
    return { roomId, peerId, peers: this.peers, iceServers, connectionMode };
  }

  /**
   * An E2EE room gets the frame transform before any path exists (so no frame ever leaves in clear),
   * and a key exchange with the peers there. A browser that cannot transform frames does not join.
   */
  #startE2ee(reply: ServerMessageOf<'room-joined'>): void {
    this.#e2ee.stop();
    this.#cryptor?.close();
    this.#cryptor = undefined;
    if (reply.encryption !== 'e2ee') return;
    if (!FrameCryptor.supported) {
      throw new OpenCallError(
        'E2EE_UNSUPPORTED',
        'This room is end-to-end encrypted, and this browser cannot encrypt media frames',
      );
    }
    this.#cryptor = new FrameCryptor();
    const others = reply.peers.map((p) => p.peerId).filter((id) => id !== reply.peerId);
    this.#e2ee.start(reply.roomId, reply.peerId, others).catch((err) => this.#log('e2ee start failed:', err));
  }

  /** A host sent us to another room of the meeting (breakouts): leave, and join it as the same person. */
  async #move(m: ServerMessageOf<'move-to-room'>): Promise<void> {
    if (!this.#join || this.#state !== 'connected') return;
    const { roomId, fromRoomId, name } = m;
    this.emit('moving', { roomId, fromRoomId, name, reason: m.reason });
    await this.#signaling.request({ type: 'leave-room' }, 'room-left').catch(() => undefined);
    this.#join = { ...this.#join, roomId };
    this.#resumeToken = undefined;
    try {
      this.emit('moved', { room: await this.#joinRoom(), fromRoomId, name });
    } catch (err) {
      this.#emitError(err, 'CONNECTION_FAILED');
      this.#teardown(`could not move to room ${roomId}`);
    }
  }

  /** The socket is back (Signaling's reconnect loop): join again, as the same peer. */
  async #rejoin(): Promise<void> {
    const session = this.#session;
    const info = await this.#joinRoom().catch((err: unknown) => {
      throw isFatalJoinError(err) ? new ReconnectRefused(err) : err;
    });
    if (session !== this.#session) return;
    this.#setState('connected');
    this.emit('reconnected', info);
  }

  #onSocketClose(info: { code: number; reason: string; expected: boolean }): boolean {
    if (info.expected || this.#state === 'closed' || this.#state === 'idle') return false;
    if (this.#state === 'connecting') return false; // connect() reports it
    if (this.#options.reconnect === false || !this.#join) {
      this.#teardown(`connection lost (${info.code})`);
      return false;
    }
    this.#setState('reconnecting');
    return true;
  }

  #teardown(reason: string, emitClosed = true): void {
    this.#session++;
    this.#levels.stop();
    this.#files.close();
    this.#e2ee.stop();
    this.#cryptor?.close();
    this.#cryptor = undefined;
    this.#switcher.reset();
    this.#paths.destroy();
    this.#paths.registry.clear();
    this.#peers.clear();
    this.#local.callEnded();
    this.#signaling.close(1000, reason);
    this.#setState('closed');
    if (emitClosed) this.emit('closed', { reason });
  }

  #setState(state: ClientState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.emit('state-changed', { state });
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
