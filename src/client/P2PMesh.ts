import type { IceCandidateInit } from '../protocol/index.ts';
import type { FrameTransform } from './e2ee/FrameCryptor.ts';
import { CandidateQueue, decideOnDescription, isPolite, opensFirst } from './negotiation.ts';
import type { OutgoingClientMessage } from './Signaling.ts';
import { isScreenSource, SCREEN_STREAM_TAG, sourceFromStreamId, USER_STREAM_TAG } from './sources.ts';
import type { ConnectionStats, TrackCandidate } from './TrackRegistry.ts';
import type { MediaKind, MediaSource } from './types.ts';
import { OpenCallError } from './types.ts';

/** A remote track as a P2P connection delivers it. */
export interface P2PTrack extends TrackCandidate {
  path: 'p2p';
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
  paused: boolean;
  getStats(): Promise<RTCStatsReport>;
  connection: ConnectionStats;
}

export interface P2PMeshOptions {
  selfId: string;
  rtcConfiguration: RTCConfiguration;
  /** How long the polite side waits for the other's offer before it opens the connection itself. */
  politeOfferDelayMs: number;
  send(message: OutgoingClientMessage): void;
  /** New links may be opened now (checked again when the polite side's timer fires). */
  allowsNewLinks(): boolean;
  /** Offers from peers we have no link with may be answered now; otherwise they wait in a stash. */
  acceptsOffers(): boolean;
  onTrack(track: P2PTrack): void;
  onTrackEnded(track: P2PTrack): void;
  onError(error: OpenCallError): void;
  /** A data channel the peer opened (files). */
  onDataChannel?(peerId: string, channel: RTCDataChannel): void;
  /** End-to-end encryption of the room's frames, when it has it (every sender and receiver). */
  frameTransform?: FrameTransform | undefined;
  log(...args: unknown[]): void;
}

/** Encoder limits for the tracks we send to every peer (each peer gets its own copy in a mesh). */
const SEND_ENCODINGS: Partial<Record<MediaSource, RTCRtpEncodingParameters[]>> = {
  camera: [{ maxBitrate: 900_000, maxFramerate: 30 }],
  screen: [{ maxBitrate: 2_000_000, maxFramerate: 15 }],
};

interface Link {
  peerId: string;
  pc: RTCPeerConnection;
  polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  isSettingRemoteAnswerPending: boolean;
  candidates: CandidateQueue<IceCandidateInit | null>;
  /** Our sending transceiver per source; kept (inactive) after unpublish, reused on republish. */
  senders: Map<MediaSource, RTCRtpTransceiver>;
  /** What we receive, per transceiver. */
  received: Map<RTCRtpTransceiver, P2PTrack>;
  channel: RTCDataChannel;
  /** Streams whose removetrack we already listen to. */
  watched: WeakSet<MediaStream>;
  closed: boolean;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  /** The connection's statistics, shared by the tracks it delivers. */
  stats: ConnectionStats;
}

interface Stashed {
  description: RTCSessionDescriptionInit;
  candidates: Array<IceCandidateInit | null>;
}

/**
 * The P2P side: one RTCPeerConnection per remote peer, negotiated with perfect negotiation (see
 * negotiation.ts for the roles), our tracks on our own sendonly transceivers, sources carried in
 * the msid stream ids (see sources.ts).
 *
 * Every connection also carries a pre-negotiated data channel (id 0, both sides create it), so a
 * connection gets negotiated even between two peers that publish nothing yet.
 */
export class P2PMesh {
  readonly #o: P2PMeshOptions;
  readonly #links = new Map<string, Link>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** What setCameraReduced last applied (new links start at full resolution). */
  #cameraReduced = false;
  readonly #stash = new Map<string, Stashed>();
  readonly #local = new Map<MediaSource, MediaStreamTrack>();
  /** The local streams our transceivers are attached to; their ids are swapped for tags on the wire. */
  readonly #userStream: MediaStream;
  readonly #screenStream: MediaStream;
  readonly #tags: Map<string, string>;
  #nextTrackId = 1;
  #closed = false;

  constructor(options: P2PMeshOptions) {
    this.#o = options;
    this.#userStream = new MediaStream();
    this.#screenStream = new MediaStream();
    this.#tags = new Map([
      [this.#userStream.id, USER_STREAM_TAG],
      [this.#screenStream.id, SCREEN_STREAM_TAG],
    ]);
  }

  /** Open connections (not closed). */
  /** Sets new ICE servers on every open connection (ICE restarts will use them). */
  setIceServers(iceServers: RTCIceServer[]): void {
    for (const link of this.#links.values()) {
      link.pc.setConfiguration({ ...link.pc.getConfiguration(), iceServers });
    }
  }

  get connectionCount(): number {
    return this.#links.size;
  }

  get peerIds(): string[] {
    return [...this.#links.keys()];
  }

  has(peerId: string): boolean {
    return this.#links.has(peerId);
  }

  connectionState(peerId: string): RTCPeerConnectionState | undefined {
    return this.#links.get(peerId)?.pc.connectionState;
  }

  /**
   * Makes sure a connection to `peerId` exists or is coming: the side that opens first (negotiation.ts)
   * opens now; the other waits `politeOfferDelayMs` for an offer and then opens itself. With `now`
   * we open at once whatever the roles (the other side is not going to: a newcomer falling back
   * to P2P during an upgrade); perfect negotiation sorts out a glare.
   */
  ensure(peerId: string, options: { now?: boolean } = {}): void {
    if (this.#closed || peerId === this.#o.selfId || this.#links.has(peerId)) return;
    if (this.#stash.has(peerId)) {
      this.#replay(peerId);
      return;
    }
    if (options.now || opensFirst(this.#o.selfId, peerId)) {
      this.#open(peerId);
      return;
    }
    if (this.#timers.has(peerId)) return;
    this.#timers.set(
      peerId,
      setTimeout(() => {
        this.#timers.delete(peerId);
        if (!this.#links.has(peerId) && this.#o.allowsNewLinks()) {
          this.#o.log('p2p: no offer from', peerId, 'in time; opening myself');
          this.#open(peerId);
        }
      }, this.#o.politeOfferDelayMs),
    );
  }

  /** Answers offers that waited in the stash while P2P was not allowed. */
  replayStash(): void {
    for (const peerId of [...this.#stash.keys()]) this.#replay(peerId);
  }

  /** Publishes (or unpublishes, with null) our track of a source on every connection. */
  setLocalTrack(source: MediaSource, track: MediaStreamTrack | null): void {
    if (track) this.#local.set(source, track);
    else this.#local.delete(source);
    for (const link of this.#links.values()) void this.#applySender(link, source, track);
  }

  /** Marks a peer's received tracks of a source as paused or not (its media state said so). */
  setRemotePaused(peerId: string, source: MediaSource, paused: boolean): void {
    const link = this.#links.get(peerId);
    if (!link) return;
    for (const t of link.received.values()) if (t.source === source) t.paused = paused;
  }

  async handleDescription(fromPeerId: string, description: RTCSessionDescriptionInit): Promise<void> {
    if (this.#closed) return;
    let link = this.#links.get(fromPeerId);
    if (!link) {
      if (description.type !== 'offer') return;
      if (!this.#o.acceptsOffers()) {
        this.#o.log('p2p: stashing offer from', fromPeerId, '(P2P not allowed in this mode)');
        // Keep earlier candidates: a renegotiation without ICE restart still needs them.
        this.#stash.set(fromPeerId, {
          description,
          candidates: this.#stash.get(fromPeerId)?.candidates ?? [],
        });
        return;
      }
      link = this.#open(fromPeerId);
    }
    const pc = link.pc;
    const decision = decideOnDescription({
      type: description.type as 'offer' | 'answer',
      polite: link.polite,
      makingOffer: link.makingOffer,
      signalingState: pc.signalingState,
      isSettingRemoteAnswerPending: link.isSettingRemoteAnswerPending,
    });
    if (description.type === 'offer') link.ignoreOffer = decision.ignore;
    if (decision.ignore) {
      this.#o.log(
        'p2p: ignoring',
        description.type,
        'from',
        fromPeerId,
        decision.collision ? '(collision)' : '(stale)',
      );
      return;
    }
    try {
      link.isSettingRemoteAnswerPending = description.type === 'answer';
      await pc.setRemoteDescription(description); // rolls our own offer back when polite
      link.isSettingRemoteAnswerPending = false;
      if (link.closed) return;
      await this.#flushCandidates(link);
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.#sendLocalDescription(link);
      }
    } catch (err) {
      link.isSettingRemoteAnswerPending = false;
      if (link.closed) return;
      this.#o.onError(
        new OpenCallError(
          'NEGOTIATION_FAILED',
          `P2P ${description.type} from ${fromPeerId} failed: ${errText(err)}`,
        ),
      );
    }
  }

  async handleCandidate(fromPeerId: string, candidate: IceCandidateInit | null): Promise<void> {
    if (this.#closed) return;
    const link = this.#links.get(fromPeerId);
    if (!link) {
      this.#stash.get(fromPeerId)?.candidates.push(candidate);
      return;
    }
    if (!link.pc.remoteDescription) {
      link.candidates.push(candidate);
      return;
    }
    await this.#addCandidate(link, candidate);
  }

  /** Closes the connection to one peer; its tracks end. */
  close(peerId: string): void {
    const timer = this.#timers.get(peerId);
    if (timer) clearTimeout(timer);
    this.#timers.delete(peerId);
    this.#stash.delete(peerId);
    const link = this.#links.get(peerId);
    if (!link) return;
    link.closed = true;
    if (link.restartTimer) clearTimeout(link.restartTimer);
    this.#links.delete(peerId);
    try {
      link.channel.close();
      link.pc.close();
    } catch {
      // already closed
    }
    for (const t of [...link.received.values()]) this.#o.onTrackEnded(t);
    link.received.clear();
  }

  /** A new data channel to a peer we have a link to (the SCTP association exists: no renegotiation). */
  openChannel(peerId: string, label: string): RTCDataChannel | undefined {
    const link = this.#links.get(peerId);
    return link && !link.closed ? link.pc.createDataChannel(label, { ordered: true }) : undefined;
  }

  /**
   * While the room moves to the SFU, every page encodes its camera once more (for the SFU) on top of
   * one encoding per P2P link. Sending the outgoing P2P camera at a quarter of the pixels for those
   * few seconds frees the CPU the switch needs; the SFU path takes over at full quality.
   */
  setCameraReduced(reduced: boolean): void {
    // Every mode change asks; only a change is applied. getParameters/setParameters block the page's
    // main thread on WebRTC's threads (~4 ms each on a page busy switching), three links each.
    if (reduced === this.#cameraReduced) return;
    this.#cameraReduced = reduced;
    for (const link of this.#links.values()) {
      const sender = link.senders.get('camera')?.sender;
      if (!sender || link.closed) continue;
      const parameters = sender.getParameters();
      const base = SEND_ENCODINGS.camera?.[0];
      if (!parameters.encodings?.length) continue;
      parameters.encodings = parameters.encodings.map((e) => ({
        ...e,
        scaleResolutionDownBy: reduced ? 2 : 1,
        ...(base?.maxBitrate
          ? { maxBitrate: reduced ? Math.round(base.maxBitrate / 3) : base.maxBitrate }
          : {}),
      }));
      sender.setParameters(parameters).catch((err) => this.#o.log('p2p: setParameters failed', errText(err)));
    }
  }

  /** Closes every connection (the mesh stays usable: ensure() opens new ones). */
  closeAll(): void {
    this.#cameraReduced = false;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#stash.clear();
    for (const peerId of [...this.#links.keys()]) this.close(peerId);
  }

  /** Closes everything for good. */
  destroy(): void {
    this.closeAll();
    this.#closed = true;
  }

  // ------------------------------------------------------------------ internals

  #open(peerId: string): Link {
    const existing = this.#links.get(peerId);
    if (existing) return existing;
    const timer = this.#timers.get(peerId);
    if (timer) clearTimeout(timer);
    this.#timers.delete(peerId);

    const pc = new RTCPeerConnection(this.#o.rtcConfiguration);
    const link: Link = {
      peerId,
      pc,
      polite: isPolite(this.#o.selfId, peerId),
      makingOffer: false,
      ignoreOffer: false,
      isSettingRemoteAnswerPending: false,
      candidates: new CandidateQueue(),
      senders: new Map(),
      received: new Map(),
      channel: pc.createDataChannel('opencall', { negotiated: true, id: 0 }),
      watched: new WeakSet(),
      closed: false,
      restartTimer: undefined,
      stats: { key: pc, read: () => pc.getStats() },
    };
    this.#links.set(peerId, link);
    this.#o.log('p2p: open', peerId, link.polite ? '(polite)' : '(impolite)');

    pc.onnegotiationneeded = async () => {
      if (link.closed) return;
      try {
        link.makingOffer = true;
        await pc.setLocalDescription();
        if (link.closed) return;
        this.#sendLocalDescription(link);
      } catch (err) {
        if (!link.closed) {
          this.#o.onError(
            new OpenCallError('NEGOTIATION_FAILED', `P2P offer to ${peerId} failed: ${errText(err)}`),
          );
        }
      } finally {
        link.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (link.closed) return;
      this.#o.send({
        type: 'ice-candidate',
        toPeerId: peerId,
        candidate: candidate ? (candidate.toJSON() as IceCandidateInit) : null,
      });
    };
    pc.onconnectionstatechange = () => this.#onConnectionState(link);
    pc.onsignalingstatechange = () => {
      if (pc.signalingState === 'stable') this.#reconcileReceived(link);
    };
    pc.ontrack = (event) => this.#onTrack(link, event);
    pc.ondatachannel = ({ channel }) => this.#o.onDataChannel?.(peerId, channel);

    for (const [source, track] of this.#local) void this.#applySender(link, source, track);
    return link;
  }

  #replay(peerId: string): void {
    // The latest offer a peer sent us is still its pending local description (it closes the
    // connection itself when the room goes to sfu, and the stash is cleared then), so answering it
    // late is right; dropping it could leave its side waiting for an answer forever.
    const stashed = this.#stash.get(peerId);
    this.#stash.delete(peerId);
    if (!stashed) {
      if (!this.#links.has(peerId)) this.ensure(peerId);
      return;
    }
    void this.handleDescription(peerId, stashed.description).then(async () => {
      for (const c of stashed.candidates) await this.handleCandidate(peerId, c);
    });
  }

  #sendLocalDescription(link: Link): void {
    const description = link.pc.localDescription;
    if (!description || (description.type !== 'offer' && description.type !== 'answer')) return;
    const sdp = this.#tag(description.sdp);
    if (description.type === 'offer') {
      this.#o.send({ type: 'offer', toPeerId: link.peerId, offer: { type: 'offer', sdp } });
    } else {
      this.#o.send({ type: 'answer', toPeerId: link.peerId, answer: { type: 'answer', sdp } });
    }
  }

  #tag(sdp: string): string {
    let out = sdp;
    for (const [localId, tag] of this.#tags) out = out.split(localId).join(tag);
    return out;
  }

  async #flushCandidates(link: Link): Promise<void> {
    for (const candidate of link.candidates.drain()) await this.#addCandidate(link, candidate);
  }

  async #addCandidate(link: Link, candidate: IceCandidateInit | null): Promise<void> {
    try {
      if (candidate === null) await link.pc.addIceCandidate();
      else await link.pc.addIceCandidate(candidate as RTCIceCandidateInit);
    } catch (err) {
      // Candidates of an offer we ignored fail to apply; that is expected.
      if (!link.ignoreOffer && !link.closed && candidate !== null) {
        this.#o.log('p2p: addIceCandidate failed', link.peerId, errText(err));
      }
    }
  }

  async #applySender(link: Link, source: MediaSource, track: MediaStreamTrack | null): Promise<void> {
    if (link.closed) return;
    const pc = link.pc;
    const stream = isScreenSource(source) ? this.#screenStream : this.#userStream;
    const transceiver = link.senders.get(source);
    try {
      if (!track) {
        if (!transceiver || transceiver.currentDirection === 'stopped') return;
        await transceiver.sender.replaceTrack(null);
        if (!link.closed) transceiver.direction = 'inactive';
        return;
      }
      if (
        transceiver &&
        transceiver.currentDirection !== 'stopped' &&
        transceiver.receiver.track.kind === track.kind
      ) {
        await transceiver.sender.replaceTrack(track);
        if (link.closed) return;
        transceiver.sender.setStreams(stream);
        if (transceiver.direction !== 'sendonly') transceiver.direction = 'sendonly';
        return;
      }
      const sendEncodings = SEND_ENCODINGS[source];
      const created = pc.addTransceiver(track, {
        direction: 'sendonly',
        streams: [stream],
        ...(sendEncodings ? { sendEncodings: sendEncodings.map((e) => ({ ...e })) } : {}),
      });
      this.#o.frameTransform?.sender(created.sender, track.kind as MediaKind);
      link.senders.set(source, created);
    } catch (err) {
      if (!link.closed) {
        this.#o.onError(
          new OpenCallError('NEGOTIATION_FAILED', `Cannot send ${source} to ${link.peerId}: ${errText(err)}`),
        );
      }
    }
  }

  #onTrack(link: Link, event: RTCTrackEvent): void {
    if (link.closed) return;
    const { track, transceiver, receiver } = event;
    const stream = event.streams[0];
    const kind = track.kind as MediaKind;
    const source = sourceFromStreamId(stream?.id, kind);
    this.#o.frameTransform?.receiver(receiver, kind);
    const previous = link.received.get(transceiver);
    if (previous) {
      // Fired again for a track we still hold (a renegotiation): nothing new for the app.
      if (previous.track === track && previous.source === source) return;
      link.received.delete(transceiver);
      this.#o.onTrackEnded(previous);
    }
    const candidate: P2PTrack = {
      id: `p2p:${link.peerId}:${this.#nextTrackId++}`,
      peerId: link.peerId,
      source,
      kind,
      path: 'p2p',
      track,
      receiver,
      paused: false,
      getStats: () => receiver.getStats(),
      connection: link.stats,
    };
    link.received.set(transceiver, candidate);
    this.#o.log('p2p: track', link.peerId, source, kind);
    if (stream && !link.watched.has(stream)) {
      link.watched.add(stream);
      stream.addEventListener('removetrack', (e) => {
        const removed = (e as MediaStreamTrackEvent).track;
        for (const [t, c] of link.received) {
          if (c.track === removed) {
            link.received.delete(t);
            this.#o.onTrackEnded(c);
          }
        }
      });
    }
    track.addEventListener('ended', () => {
      if (link.received.get(transceiver) === candidate) {
        link.received.delete(transceiver);
        this.#o.onTrackEnded(candidate);
      }
    });
    this.#o.onTrack(candidate);
  }

  /** Drops received tracks whose transceiver no longer receives (the remote unpublished them). */
  #reconcileReceived(link: Link): void {
    for (const [transceiver, candidate] of [...link.received]) {
      const dir = transceiver.currentDirection;
      const receiving = dir === 'recvonly' || dir === 'sendrecv';
      if (dir !== null && !receiving) {
        link.received.delete(transceiver);
        this.#o.onTrackEnded(candidate);
      }
    }
  }

  #onConnectionState(link: Link): void {
    if (link.closed) return;
    const state = link.pc.connectionState;
    this.#o.log('p2p:', link.peerId, state);
    if (state === 'failed') {
      link.pc.restartIce();
    } else if (state === 'disconnected') {
      // Often recovers by itself; restart ICE if it has not within a few seconds.
      if (link.restartTimer) clearTimeout(link.restartTimer);
      link.restartTimer = setTimeout(() => {
        link.restartTimer = undefined;
        if (!link.closed && link.pc.connectionState === 'disconnected') link.pc.restartIce();
      }, 4000);
    } else if (state === 'connected' && link.restartTimer) {
      clearTimeout(link.restartTimer);
      link.restartTimer = undefined;
    }
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
