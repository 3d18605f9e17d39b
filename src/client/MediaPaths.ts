import type { RouterRtpCapabilities } from '../protocol/index.ts';
import type { FrameTransform } from './e2ee/FrameCryptor.ts';
import {
  channelReceivePipe,
  channelSendPipe,
  dataConsumerReceivePipe,
  dataProducerSendPipe,
  type FileReceivePipe,
  type FileSendPipe,
} from './filePipes.ts';
import type { LocalMedia } from './LocalMedia.ts';
import { MediaFlowProbe } from './MediaFlowProbe.ts';
import type { ModeActions } from './ModeSwitcher.ts';
import { P2PMesh, type P2PTrack } from './P2PMesh.ts';
import type { RemotePeers } from './RemotePeers.ts';
import { SfuSession, type SfuTrack } from './SfuSession.ts';
import type { Signaling } from './Signaling.ts';
import { TrackRegistry } from './TrackRegistry.ts';
import {
  type MediaPath,
  type MediaSource,
  OpenCallError,
  type RemoteTrackEvent,
  type RemoteTrackRemovedEvent,
} from './types.ts';

/** A remote track, from either path. */
export type RemoteTrack = P2PTrack | SfuTrack;

export type SfuFailureReason = 'ice-failed' | 'dtls-failed' | 'connect-timeout' | 'media-timeout';

export interface MediaPathsOptions {
  signaling: Signaling;
  local: LocalMedia;
  peers: RemotePeers;
  /** The app gets a remote track (a new one, or the other path's twin of one it has). */
  onTrack(event: RemoteTrackEvent): void;
  onTrackRemoved(event: RemoteTrackRemovedEvent): void;
  /** Whether the room's mode lets P2P links be opened and offers be answered now (the ModeSwitcher). */
  p2pPolicy(): { allowsNewP2P: boolean; acceptsP2POffers: boolean };
  rtcConfiguration: RTCConfiguration | undefined;
  politeOfferDelayMs: number;
  /** How long a switch to the SFU may go without an SFU transport connecting before it is reported. */
  switchTimeoutMs: number;
  onError(error: unknown, fallback: 'SFU_FAILED' | 'NEGOTIATION_FAILED'): void;
  /** The room's end-to-end encryption, when it has it: asked whenever a path is made. */
  frameTransform(): FrameTransform | undefined;
  /** A data channel a peer opened to us, over P2P or through the SFU (file transfer). */
  onDataChannel?(peerId: string, pipe: FileReceivePipe): void;
  log(...args: unknown[]): void;
}

/**
 * The two ways media travels for one session in a room: the P2P mesh and the SFU session. It
 * creates and closes them, feeds them our local tracks, and puts what they receive into the track
 * registry. The ModeSwitcher decides when; this does it.
 */
export class MediaPaths {
  readonly #o: MediaPathsOptions;
  /** Which remote track the app is shown, per peer and source. */
  readonly registry: TrackRegistry<RemoteTrack>;
  /** Evidence that media flows over a path (switches, and getStats). */
  readonly probe: MediaFlowProbe;
  /** One MediaStream per remote track, handed to the app with it. */
  readonly #appStreams = new WeakMap<RemoteTrack, MediaStream>();
  #mesh: P2PMesh | undefined;
  #sfu: SfuSession | undefined;
  #selfId: string | undefined;
  #iceServers: RTCIceServer[] = [];

  constructor(options: MediaPathsOptions) {
    this.#o = options;
    this.registry = new TrackRegistry<RemoteTrack>(
      (t) =>
        options.onTrack({
          peerId: t.peerId,
          track: t.track,
          stream: this.#streamOf(t),
          source: t.source,
          kind: t.kind,
        }),
      (t) => options.onTrackRemoved({ peerId: t.peerId, track: t.track, source: t.source, kind: t.kind }),
    );
    this.probe = new MediaFlowProbe({
      registry: this.registry,
      sfu: () => this.#sfu,
      switchTimeoutMs: options.switchTimeoutMs,
      reportSfuFailure: (reason) => this.reportSfuFailure(reason),
      log: options.log,
    });
  }

  /** What the ModeSwitcher drives: these paths, and the app's events for what it decides. */
  modeActions(events: Pick<ModeActions, 'modeChanged' | 'switched' | 'error'>): ModeActions {
    return {
      ...events,
      startSfu: (caps) => this.startSfu(caps),
      prewarmSfu: (caps) => this.prewarmSfu(caps),
      stopSfu: () => this.stopSfu(),
      restartSfu: (caps) => this.restartSfu(caps),
      sfuReachable: () => this.#sfu?.anyTransportConnected === true,
      openMesh: (o) => this.openMesh(o),
      closeMesh: () => this.closeMesh(),
      setPreferredPath: (path) => this.registry.setPreferred(path),
      waitForPath: (path, isCurrent, oneTrackProves) =>
        this.probe.waitForPath(path, isCurrent, oneTrackProves),
      sendReady: (path) => this.sendReady(path),
    };
  }

  get mesh(): P2PMesh | undefined {
    return this.#mesh;
  }

  get sfu(): SfuSession | undefined {
    return this.#sfu;
  }

  /** A fresh start after a (re)join: whatever ran before is stale on the other side too. */
  reset(selfId: string, iceServers: RTCIceServer[]): void {
    this.destroy();
    this.#selfId = selfId;
    this.#iceServers = iceServers;
    this.#mesh = this.#createMesh(selfId);
  }

  /** Fresh ICE servers (new TURN credentials): for new connections, and set on the open ones. */
  updateIceServers(iceServers: RTCIceServer[]): void {
    this.#iceServers = iceServers;
    if (this.#o.rtcConfiguration?.iceServers === undefined) this.#mesh?.setIceServers(iceServers);
  }

  destroy(): void {
    this.#mesh?.destroy();
    this.#mesh = undefined;
    this.stopSfu();
  }

  openMesh(options: { now?: boolean } = {}): void {
    const mesh = this.#mesh;
    if (!mesh) return;
    mesh.replayStash();
    for (const peerId of this.#o.peers.ids()) mesh.ensure(peerId, options);
  }

  /**
   * A data channel for one attempt at a file to `peerId`: over `preferred` when that path is up,
   * else over the other one; undefined when neither reaches the peer now.
   */
  async openFilePipe(peerId: string, label: string, preferred: MediaPath): Promise<FileSendPipe | undefined> {
    const viaSfu = async () => {
      const sfu = this.#sfu;
      if (!sfu?.ready) return undefined;
      return dataProducerSendPipe(await sfu.openDataChannel(label, peerId));
    };
    const viaMesh = () => {
      const channel = this.#mesh?.openChannel(peerId, label);
      return channel ? channelSendPipe(channel) : undefined;
    };
    if (preferred === 'sfu') return (await viaSfu()) ?? viaMesh();
    return viaMesh() ?? (await viaSfu());
  }

  closeMesh(): void {
    this.#mesh?.closeAll();
  }

  startSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void> {
    return this.#runSfu(routerRtpCapabilities, false);
  }

  /**
   * The SFU session ahead of a switch (sfu-prewarm): joined, transports connected, producers
   * created paused and sending nothing, the room's producers consumed; media stays on P2P.
   */
  prewarmSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void> {
    return this.#runSfu(routerRtpCapabilities, true);
  }

  /** Starts (or joins the start of) the SFU session; `warm` only decides how a new one begins. */
  #runSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined, warm: boolean): Promise<void> {
    if (routerRtpCapabilities === undefined) {
      return Promise.reject(new OpenCallError('SFU_FAILED', 'The server sent no router RTP capabilities'));
    }
    if (!this.#sfu || this.#sfu.closed) this.#sfu = this.#createSfu(warm);
    // A prewarmed session is up already: resuming its producers is all the switch needs.
    if (!warm) this.#sfu.activate();
    return this.#sfu.start(routerRtpCapabilities);
  }

  stopSfu(): void {
    const sfu = this.#sfu;
    this.#sfu = undefined;
    sfu?.close();
  }

  /**
   * A new SFU session for a rebuilt router. The old session's tracks stay with the app until the
   * new session's tracks replace them (same peer and source: the registry shows the new one, then
   * hides the old); the ones nothing replaced go once the new session is up.
   */
  async restartSfu(routerRtpCapabilities: RouterRtpCapabilities | undefined): Promise<void> {
    const old = this.#sfu;
    this.#sfu = undefined;
    const stale = old?.close({ keepTracks: true }) ?? [];
    try {
      await this.startSfu(routerRtpCapabilities);
    } finally {
      for (const t of stale) this.registry.remove(t);
    }
  }

  /** Tells the server our SFU path failed, so a switch into it is aborted without waiting. */
  reportSfuFailure(reason: SfuFailureReason, transportId?: string): void {
    this.#o.log('sfu: reporting', reason, transportId ?? '');
    this.#o.signaling.send({ type: 'sfu-transport-failed', reason, ...(transportId ? { transportId } : {}) });
  }

  /** Tells the server this client's media flows over `path` (sfu-ready / p2p-ready). */
  sendReady(path: MediaPath): void {
    this.#o.signaling.send({ type: path === 'sfu' ? 'sfu-ready' : 'p2p-ready' });
  }

  /** Our track of a source changed: both paths publish the new one. */
  setLocalTrack(source: MediaSource, track: MediaStreamTrack | null, paused: boolean): void {
    this.#mesh?.setLocalTrack(source, track);
    this.#sfu?.setLocalTrack(source, track, paused);
  }

  setPaused(source: MediaSource, paused: boolean): void {
    this.#sfu?.setPaused(source, paused);
  }

  /** A peer's media state says a source is off, or on again. */
  setRemotePaused(peerId: string, source: MediaSource, off: boolean): void {
    this.#mesh?.setRemotePaused(peerId, source, off);
    if (off) this.#sfu?.setRemotePaused(peerId, source, true);
  }

  /** A peer left: its links, consumers and tracks go. */
  removePeer(peerId: string): void {
    this.#mesh?.close(peerId);
    this.#sfu?.removePeer(peerId);
    this.registry.removePeer(peerId);
  }

  #streamOf(t: RemoteTrack): MediaStream {
    let stream = this.#appStreams.get(t);
    if (!stream) {
      stream = new MediaStream([t.track]);
      this.#appStreams.set(t, stream);
    }
    return stream;
  }

  #createMesh(selfId: string): P2PMesh {
    const rtc = this.#o.rtcConfiguration ?? {};
    const frameTransform = this.#o.frameTransform();
    const mesh = new P2PMesh({
      selfId,
      rtcConfiguration: {
        ...rtc,
        iceServers: rtc.iceServers ?? this.#iceServers,
        // Chromium's fallback for frame transforms wants it from the start (RTCConfiguration lacks the key).
        ...(frameTransform?.insertableStreams && ({ encodedInsertableStreams: true } as RTCConfiguration)),
      },
      frameTransform,
      politeOfferDelayMs: this.#o.politeOfferDelayMs,
      send: (message) => {
        this.#o.signaling.send(message);
      },
      allowsNewLinks: () => this.#o.p2pPolicy().allowsNewP2P,
      acceptsOffers: () => this.#o.p2pPolicy().acceptsP2POffers,
      onTrack: (t) => {
        t.paused = this.#o.peers.sourceOff(t.peerId, t.source);
        this.registry.add(t);
      },
      onTrackEnded: (t) => this.registry.remove(t),
      onError: (error) => this.#o.onError(error, 'NEGOTIATION_FAILED'),
      onDataChannel: (peerId, channel) => this.#o.onDataChannel?.(peerId, channelReceivePipe(channel)),
      log: (...args) => this.#o.log(...args),
    });
    for (const [source, track] of this.#o.local.tracks) mesh.setLocalTrack(source, track);
    return mesh;
  }

  #createSfu(warm: boolean): SfuSession {
    if (this.#selfId === undefined) throw new OpenCallError('NOT_IN_ROOM', 'Not in a room');
    const sfu = new SfuSession({
      warm,
      selfId: this.#selfId,
      iceServers: this.#iceServers,
      signaling: this.#o.signaling,
      onTrack: (t) => {
        // Paused means "the sender muted it" (its media state says so): a producer paused only
        // because its session is prewarmed will flow at the switch, and must be waited for.
        t.paused = this.#o.peers.sourceOff(t.peerId, t.source);
        this.registry.add(t);
      },
      onTrackEnded: (t) => this.registry.remove(t),
      onTransportFailed: (transportId, reason) => this.reportSfuFailure(reason, transportId),
      onError: (error) => this.#o.onError(error, 'SFU_FAILED'),
      frameTransform: this.#o.frameTransform(),
      onDataConsumer: (peerId, consumer) =>
        this.#o.onDataChannel?.(peerId, dataConsumerReceivePipe(consumer)),
      log: (...args) => this.#o.log(...args),
    });
    for (const [source, track] of this.#o.local.tracks)
      sfu.setLocalTrack(source, track, this.#o.local.isPaused(source));
    return sfu;
  }
}
