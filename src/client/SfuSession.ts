import type { Device } from 'mediasoup-client';
import type {
  BuiltinHandlerName,
  Consumer,
  DataConsumer,
  DataProducer,
  Producer,
  ProducerCodecOptions,
  RtpEncodingParameters,
  Transport,
} from 'mediasoup-client/types';
import type {
  ProducerInfo,
  RouterRtpCapabilities,
  ServerMessageOf,
  MediaSource as WireMediaSource,
} from '../protocol/index.ts';
import { loadDevice, loadedDevice } from './deviceCache.ts';
import type { FrameTransform } from './e2ee/FrameCryptor.ts';
import { toDeviceRtpParameters, toWireRtpCapabilities, toWireRtpParameters } from './mediasoupWire.ts';
import type { Signaling } from './Signaling.ts';
import { isScreenSource } from './sources.ts';
import type { ConnectionStats, TrackCandidate } from './TrackRegistry.ts';
import type { MediaSource } from './types.ts';
import { OpenCallError } from './types.ts';

/** A remote track as the SFU delivers it. */
export interface SfuTrack extends TrackCandidate {
  path: 'sfu';
  track: MediaStreamTrack;
  consumer: Consumer;
  producerId: string;
  /** The producer is paused (the sender muted it): no media is expected. */
  paused: boolean;
  getStats(): Promise<RTCStatsReport>;
  connection: ConnectionStats;
}

/** The SFU pushes a session handles (the client's push dispatch routes them here). */
export type SfuPush = ServerMessageOf<
  | 'sfu-new-producer'
  | 'sfu-producer-closed'
  | 'sfu-consumer-closed'
  | 'sfu-producer-paused'
  | 'sfu-producer-resumed'
  | 'sfu-consumer-paused'
  | 'sfu-consumer-resumed'
  | 'sfu-new-data-producer'
  | 'sfu-data-consumer-closed'
>;

export interface SfuSessionOptions {
  /**
   * Prewarmed (sfu-prewarm): producers are created paused and send nothing (no encoding) until
   * activate(); the transports connect all the same, so a switch only resumes them.
   */
  warm?: boolean;
  selfId: string;
  iceServers: RTCIceServer[];
  /** Requests go through the client's signaling, typed by the protocol table. */
  signaling: Pick<Signaling, 'request'>;
  onTrack(track: SfuTrack): void;
  onTrackEnded(track: SfuTrack): void;
  /** A transport failed (ICE or DTLS): the server should know at once (sfu-transport-failed). */
  onTransportFailed(transportId: string, reason: 'ice-failed' | 'dtls-failed'): void;
  onError(error: OpenCallError): void;
  /** End-to-end encryption of the room's frames, when it has it (every producer and consumer). */
  frameTransform?: FrameTransform | undefined;
  /** A peer's data channel to us through the SFU (file transfer). */
  onDataConsumer?(peerId: string, consumer: DataConsumer): void;
  log(...args: unknown[]): void;
  /** Unusual browsers: which mediasoup-client handler to use (detected when absent). */
  handlerName?: BuiltinHandlerName;
}

/** Sane codec defaults: mono Opus with FEC and DTX; a quick video ramp-up. */
const CODEC_OPTIONS: Record<MediaSource, ProducerCodecOptions> = {
  mic: { opusStereo: false, opusFec: true, opusDtx: true },
  'screen-audio': { opusStereo: true, opusFec: true, opusDtx: false },
  camera: { videoGoogleStartBitrate: 1000 },
  screen: { videoGoogleStartBitrate: 1000 },
};

/** One encoding per video track (no simulcast): the SFU forwards it as is. */
const ENCODINGS: Partial<Record<MediaSource, RtpEncodingParameters[]>> = {
  camera: [{ maxBitrate: 1_200_000, maxFramerate: 30 }],
  screen: [{ maxBitrate: 2_500_000, maxFramerate: 15 }],
};

/** What consuming a remote producer starts from (sfu-joined's list, or sfu-new-producer). */
type ConsumableProducer = Pick<ProducerInfo, 'producerId' | 'peerId' | 'kind' | 'source' | 'paused'>;

/** A consumer the server created for us, whose browser side is still to be made. */
interface RequestedConsumer {
  transport: Transport;
  info: ConsumableProducer;
  reply: Omit<ServerMessageOf<'sfu-consumed'>, 'type' | 'timestamp' | 'requestId'>;
}

interface LocalEntry {
  track: MediaStreamTrack | null;
  paused: boolean;
}

/**
 * The SFU side: a mediasoup-client Device, one send and one recv transport, a producer per local
 * track (its source in appData) and a consumer per remote producer. Everything goes through the
 * signaling requests of the protocol (sfu-join, sfu-create-transport, sfu-connect-transport,
 * sfu-produce, sfu-consume, sfu-resume-consumer, ...); pushes come in through handle().
 *
 * Producers use stopTracks: false: the local tracks belong to the app and also feed the P2P mesh.
 */
export class SfuSession {
  readonly #o: SfuSessionOptions;
  #device: Device | undefined;
  #sendTransport: Promise<Transport> | undefined;
  #recvTransport: Promise<Transport> | undefined;
  readonly #transports = new Set<Transport>();
  readonly #local = new Map<MediaSource, LocalEntry>();
  readonly #producers = new Map<MediaSource, Producer>();
  /**
   * Consumers the server made for us already, by producer, not attached yet: with our recv
   * transport (consumeProducers), or in an sfu-new-producer push.
   */
  readonly #madeConsumers = new Map<string, RequestedConsumer['reply']>();
  /** Remote producers we consume (or are about to), by producer id. */
  readonly #consumers = new Map<string, SfuTrack | 'pending'>();
  readonly #closedProducers = new Set<string>();
  readonly #dataConsumers = new Map<string, DataConsumer>();
  #started: Promise<void> | undefined;
  #ready = false;
  #receiving = false;
  #closed = false;
  #everConnected = false;
  #warm: boolean;
  /** Producer operations run one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();

  constructor(options: SfuSessionOptions) {
    this.#o = options;
    this.#warm = options.warm === true;
  }

  /** Ends the prewarm: every producer is resumed unless its source is muted. */
  activate(): void {
    if (!this.#warm) return;
    this.#warm = false;
    this.#o.log('sfu: activating the prewarmed session');
    for (const source of this.#local.keys()) void this.#enqueue(() => this.#syncPaused(source));
  }

  /** What a producer of `source` should be: paused when muted, or while the session is prewarmed. */
  #pausedNow(source: MediaSource): boolean {
    return this.#warm || (this.#local.get(source)?.paused ?? false);
  }

  /** Joined, transports made, our tracks produced and the room's producers consumed. */
  get ready(): boolean {
    return this.#ready;
  }

  /**
   * Every producer the room had when we joined is consumed (our own producers may still be on
   * their way): from here, what we receive over the SFU is all a switch needs to look at.
   */
  get receiving(): boolean {
    return this.#receiving;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get tracks(): SfuTrack[] {
    return [...this.#consumers.values()].filter((c): c is SfuTrack => c !== 'pending');
  }

  get producerCount(): number {
    return this.#producers.size;
  }

  /** Some transport has connected at least once: the SFU is reachable from this client. */
  get anyTransportConnected(): boolean {
    return this.#everConnected;
  }

  /**
   * Every transport that carries media (a producer or a consumer) is connected: the evidence,
   * with flowing tracks, that this client's SFU path works.
   */
  get mediaConnected(): boolean {
    for (const transport of this.#transports) {
      const carries = transport.direction === 'send' ? this.#producers.size > 0 : this.tracks.length > 0;
      if (carries && transport.connectionState !== 'connected') return false;
    }
    return true;
  }

  /** Brings the session up; later calls return the same promise. */
  start(routerRtpCapabilities: RouterRtpCapabilities): Promise<void> {
    this.#started ??= this.#start(routerRtpCapabilities);
    return this.#started;
  }

  /** Sets what we publish for a source (null unpublishes); applied at once when started. */
  setLocalTrack(source: MediaSource, track: MediaStreamTrack | null, paused: boolean): void {
    this.#local.set(source, { track, paused });
    if (this.#started) void this.#enqueue(() => this.#syncProducer(source));
  }

  /** Pauses or resumes our producer of a source (mute / camera off). */
  setPaused(source: MediaSource, paused: boolean): void {
    const entry = this.#local.get(source);
    if (entry) entry.paused = paused;
    if (this.#started) void this.#enqueue(() => this.#syncPaused(source));
  }

  /** SFU pushes from the server. */
  handle(message: SfuPush): void {
    if (this.#closed) return;
    switch (message.type) {
      case 'sfu-new-producer':
        if (!this.#started) break;
        // The push may carry the consumer the server made for us: then no sfu-consume is asked.
        if (message.consumer)
          this.#madeConsumers.set(message.producerId, { ...message.consumer, ...pick(message) });
        void this.#consume(message);
        break;
      case 'sfu-producer-closed':
        this.#dropProducer(message.producerId);
        break;
      case 'sfu-consumer-closed':
        this.#dropProducer(message.producerId, message.consumerId);
        break;
      case 'sfu-producer-paused':
      case 'sfu-consumer-paused':
        this.#setRemotePaused(message.producerId, true);
        break;
      case 'sfu-producer-resumed':
      case 'sfu-consumer-resumed':
        this.#setRemotePaused(message.producerId, false);
        break;
      case 'sfu-new-data-producer':
        if (this.#started) void this.#consumeData(message);
        break;
      case 'sfu-data-consumer-closed':
        this.#dataConsumers.get(message.dataConsumerId)?.close();
        this.#dataConsumers.delete(message.dataConsumerId);
        break;
    }
  }

  /**
   * A data channel through the SFU to `toPeerId` (or every other peer of the room), on our send
   * transport's SCTP association. Closing it tells the server (sfu-close-data-producer).
   */
  async openDataChannel(label: string, toPeerId?: string): Promise<DataProducer> {
    if (!this.#started) throw new OpenCallError('SFU_FAILED', 'The SFU session has not started');
    await this.#started;
    const transport = await this.#sendTransportReady();
    this.#assertOpen();
    const dataProducer = await transport.produceData({
      ordered: true,
      label,
      protocol: 'opencall',
      appData: toPeerId !== undefined ? { toPeerId } : {},
    });
    dataProducer.observer.once('close', () => {
      if (this.#closed || transport.closed) return;
      void this.#o.signaling
        .request({ type: 'sfu-close-data-producer', dataProducerId: dataProducer.id })
        .catch(() => undefined);
    });
    return dataProducer;
  }

  /** Marks a remote peer's consumers of a source paused (its media state says it is off). */
  setRemotePaused(peerId: string, source: MediaSource, paused: boolean): void {
    for (const t of this.tracks) if (t.peerId === peerId && t.source === source) t.paused = paused;
  }

  /** Drops everything of a peer that left. */
  removePeer(peerId: string): void {
    for (const t of this.tracks) if (t.peerId === peerId) this.#dropProducer(t.producerId);
  }

  /**
   * Closes the transports. The remote tracks end (onTrackEnded) unless `keepTracks`: then they are
   * returned instead, for the caller to replace (a restart against a new router).
   */
  close(options: { keepTracks?: boolean } = {}): SfuTrack[] {
    if (this.#closed) return [];
    this.#closed = true;
    this.#ready = false;
    this.#receiving = false;
    for (const transport of this.#transports) {
      try {
        transport.close();
      } catch {
        // already closed
      }
    }
    this.#transports.clear();
    this.#producers.clear();
    this.#madeConsumers.clear();
    const tracks = this.tracks;
    this.#consumers.clear();
    if (options.keepTracks) return tracks;
    for (const t of tracks) this.#o.onTrackEnded(t);
    return [];
  }

  // ------------------------------------------------------------------ internals

  async #start(routerRtpCapabilities: RouterRtpCapabilities): Promise<void> {
    // Preloaded (prepareConnection, room-joined): no await, so that sfu-join leaves in the task of
    // the message that started the session, before the app's handlers of it (a page that just
    // joined renders the room there: 25-80 ms on a busy machine, on the newcomer's critical path).
    const device =
      loadedDevice(routerRtpCapabilities, this.#o.handlerName) ??
      (await loadDevice(routerRtpCapabilities, this.#o.handlerName));
    this.#assertOpen();
    this.#device = device;
    const joining = this.#o.signaling.request(
      { type: 'sfu-join', rtpCapabilities: toWireRtpCapabilities(device.recvRtpCapabilities) },
      'sfu-joined',
    );
    // The transports are asked for at once, not after sfu-joined: the server runs a session's
    // requests in order, so they come right after the join, and a busy page saves a round trip.
    this.#recvTransport = this.#createTransport('recv');
    this.#recvTransport.catch(() => undefined); // (awaited below; a failed join fails it too)
    const publishing = [...this.#local.values()].some((e) => e.track && e.track.readyState !== 'ended');
    if (publishing) this.#sendTransportReady().catch(() => undefined); // awaited when producing
    const joined = await joining;
    this.#assertOpen();
    // Producing starts at once and in parallel with the receive side: the other peers can only
    // switch once our producers exist, so they are the critical path of the room's switch.
    const producing = this.#enqueue(async () => {
      // Video first: its consumers also wait for a key frame, the longest step of a switch.
      const sources = [...this.#local.keys()].sort((a, b) => Number(b === 'camera') - Number(a === 'camera'));
      await Promise.all(sources.map((source) => this.#syncProducer(source)));
    });
    await this.#recvTransport;
    const consuming = this.#consumeAll(joined.producers).then(() => {
      this.#receiving = true;
    });
    await Promise.all([producing, consuming]);
    this.#assertOpen();
    this.#ready = true;
    this.#o.log('sfu: ready,', this.#producers.size, 'producers,', this.tracks.length, 'consumers');
  }

  readonly #transportStats = new WeakMap<Transport, ConnectionStats>();

  /** The recv transport's statistics, one object for all its consumers. */
  #statsOf(transport: Transport): ConnectionStats {
    let stats = this.#transportStats.get(transport);
    if (!stats) {
      stats = { key: transport, read: () => transport.getStats() };
      this.#transportStats.set(transport, stats);
    }
    return stats;
  }

  #assertOpen(): void {
    if (this.#closed) throw new OpenCallError('SFU_FAILED', 'SFU session closed');
  }

  /** Runs `task` after the earlier producer operations; resolves when it is done, even if it failed. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#queue = this.#queue.then(task).catch((err) => {
      if (!this.#closed) this.#o.onError(asError(err, 'SFU_FAILED'));
    });
    return this.#queue;
  }

  async #createTransport(direction: 'send' | 'recv'): Promise<Transport> {
    const device = this.#device;
    if (!device) throw new OpenCallError('SFU_FAILED', 'Device not loaded');
    const info = await this.#o.signaling.request(
      // With SCTP: data channels (files) go through the SFU too. The recv transport comes with a
      // consumer of every producer the room has: no sfu-consume round trip before the first SDP round.
      {
        type: 'sfu-create-transport',
        direction,
        enableSctp: true,
        ...(direction === 'recv' && { consumeProducers: true }),
      },
      'sfu-transport-created',
    );
    this.#assertOpen();
    for (const made of info.consumers ?? []) this.#madeConsumers.set(made.producerId, made);
    const options = {
      id: info.transportId,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      ...(info.sctpParameters && { sctpParameters: info.sctpParameters }),
      iceServers: this.#o.iceServers,
      ...(this.#o.frameTransform?.insertableStreams && {
        additionalSettings: { encodedInsertableStreams: true } as RTCConfiguration,
      }),
    };
    const transport =
      direction === 'send' ? device.createSendTransport(options) : device.createRecvTransport(options);
    this.#transports.add(transport);

    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.#o.signaling
        .request(
          {
            type: 'sfu-connect-transport',
            transportId: transport.id,
            dtlsParameters,
          },
          'sfu-transport-connected',
        )
        .then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        const source = appData.source;
        if (!isSource(source)) {
          errback(new OpenCallError('SFU_FAILED', 'A producer without a source'));
          return;
        }
        this.#o.signaling
          .request(
            {
              type: 'sfu-produce',
              transportId: transport.id,
              kind,
              rtpParameters: toWireRtpParameters(rtpParameters),
              appData: { source },
              paused: Boolean(appData.paused),
            },
            'sfu-produced',
          )
          .then((reply) => callback({ id: reply.producerId }), errback);
      });
      transport.on('producedata', ({ sctpStreamParameters, label, protocol, appData }, callback, errback) => {
        const toPeerId = typeof appData.toPeerId === 'string' ? appData.toPeerId : undefined;
        const { streamId } = sctpStreamParameters;
        if (streamId === undefined) {
          errback(new OpenCallError('SFU_FAILED', 'A data channel without an SCTP stream id'));
          return;
        }
        this.#o.signaling
          .request(
            {
              type: 'sfu-produce-data',
              transportId: transport.id,
              sctpStreamParameters: { ...sctpStreamParameters, streamId },
              label,
              protocol,
              ...(toPeerId !== undefined && { toPeerId }),
            },
            'sfu-data-produced',
          )
          .then((reply) => callback({ id: reply.dataProducerId }), errback);
      });
    }
    let restarting = false;
    let disconnectTimer: ReturnType<typeof setTimeout> | undefined;
    const restartIce = async () => {
      if (restarting || this.#closed || transport.closed) return;
      restarting = true;
      try {
        const reply = await this.#o.signaling.request(
          { type: 'sfu-restart-ice', transportId: transport.id },
          'sfu-ice-restarted',
        );
        if (!transport.closed) await transport.restartIce({ iceParameters: reply.iceParameters });
      } catch (err) {
        if (!this.#closed) this.#o.onError(asError(err, 'SFU_FAILED'));
      } finally {
        restarting = false;
      }
    };
    let failureReported = false;
    transport.on('connectionstatechange', (state) => {
      this.#o.log('sfu:', direction, 'transport', state);
      if (state === 'connected') this.#everConnected = true;
      if (disconnectTimer) clearTimeout(disconnectTimer);
      disconnectTimer = undefined;
      if (state === 'failed') {
        if (!failureReported && !this.#closed) {
          failureReported = true;
          // ICE and DTLS failures look the same here: mediasoup-client folds both into 'failed'.
          this.#o.onTransportFailed(transport.id, 'ice-failed');
        }
        void restartIce();
      } else if (state === 'disconnected') {
        disconnectTimer = setTimeout(() => {
          if (transport.connectionState === 'disconnected') void restartIce();
        }, 3000);
      }
    });
    return transport;
  }

  #sendTransportReady(): Promise<Transport> {
    this.#sendTransport ??= this.#createTransport('send');
    return this.#sendTransport;
  }

  /** Makes our producer of `source` match what #local says. */
  async #syncProducer(source: MediaSource): Promise<void> {
    if (this.#closed || !this.#device) return;
    const entry = this.#local.get(source);
    const producer = this.#producers.get(source);
    const track = entry?.track ?? null;
    if (!track || track.readyState === 'ended') {
      if (producer) {
        this.#producers.delete(source);
        producer.close();
        await this.#o.signaling
          .request({ type: 'sfu-close-producer', producerId: producer.id })
          .catch(() => undefined);
      }
      return;
    }
    if (producer && !producer.closed) {
      if (producer.track !== track) await producer.replaceTrack({ track });
      await this.#syncPaused(source);
      return;
    }
    const kind = track.kind as 'audio' | 'video';
    if (!this.#device.canProduce(kind)) {
      this.#o.onError(new OpenCallError('SFU_FAILED', `This browser cannot send ${kind} to the SFU`));
      return;
    }
    const transport = await this.#sendTransportReady();
    if (this.#closed) return;
    const paused = this.#pausedNow(source);
    // A prewarmed producer sends nothing while paused (no encoder running next to the P2P ones).
    const zeroRtpOnPause = this.#warm;
    const encodings = ENCODINGS[source];
    const created = await transport.produce({
      track,
      streamId: isScreenSource(source) ? 'opencall-screen' : 'opencall-user',
      codecOptions: CODEC_OPTIONS[source],
      ...(encodings ? { encodings: encodings.map((e) => ({ ...e })) } : {}),
      stopTracks: false,
      disableTrackOnPause: false,
      zeroRtpOnPause,
      // Before the first frame leaves: an E2EE room never sends a frame in clear.
      ...(this.#o.frameTransform && {
        onRtpSender: (sender: RTCRtpSender) => this.#o.frameTransform?.sender(sender, kind),
      }),
      appData: { source, paused },
    });
    if (this.#closed) {
      created.close();
      return;
    }
    if (paused) created.pause();
    this.#producers.set(source, created);
    this.#o.log('sfu: producing', source, created.id);
    // The entry may have changed while we produced.
    if (this.#local.get(source)?.track !== track) await this.#syncProducer(source);
  }

  async #syncPaused(source: MediaSource): Promise<void> {
    const producer = this.#producers.get(source);
    const entry = this.#local.get(source);
    if (!producer || producer.closed || !entry) return;
    const paused = this.#pausedNow(source);
    if (paused === producer.paused) return;
    if (paused) {
      producer.pause();
      await this.#o.signaling
        .request({ type: 'sfu-pause-producer', producerId: producer.id })
        .catch(() => undefined);
    } else {
      // The router first: the first frame after a resume is the key frame receivers wait for.
      await this.#o.signaling
        .request({ type: 'sfu-resume-producer', producerId: producer.id })
        .catch(() => undefined);
      if (!producer.closed) producer.resume();
    }
  }

  /**
   * Consumes the room's producers as we come in, with one SDP round for all: mediasoup-client
   * batches the consume() calls of one tick, so they wait for every sfu-consumed (a few ms apart)
   * and then go together. One by one, on a loaded browser, the first took a round to itself and
   * the rest waited for it (0.3-0.6 s more before the newcomer saw anyone).
   */
  async #consumeAll(producers: readonly ConsumableProducer[]): Promise<void> {
    const replies = await Promise.all(producers.map((p) => this.#requestConsumer(p)));
    await Promise.all(replies.map((r) => (r ? this.#attachConsumer(r) : undefined)));
  }

  async #consume(info: ConsumableProducer): Promise<void> {
    const requested = await this.#requestConsumer(info);
    if (requested) await this.#attachConsumer(requested);
  }

  /** A producer we should consume now: not ours, not consumed or being consumed, not closed. */
  #wantsConsumer(info: ConsumableProducer): boolean {
    if (info.peerId === this.#o.selfId || this.#consumers.has(info.producerId)) return false;
    return !this.#closedProducers.has(info.producerId);
  }

  /**
   * Marks `info` as being consumed and waits for our recv transport; undefined (and unmarked) when
   * there is nothing to consume or no transport to consume on.
   */
  async #claim(info: ConsumableProducer): Promise<Transport | undefined> {
    if (!this.#wantsConsumer(info)) return undefined;
    this.#consumers.set(info.producerId, 'pending');
    try {
      const transport = await this.#recvTransport;
      if (transport && !this.#closed) return transport;
      this.#consumers.delete(info.producerId);
    } catch (err) {
      this.#consumeFailed(info, err);
    }
    return undefined;
  }

  /**
   * Asks the server for a consumer of `info` (sfu-consume), unless it made one for us already;
   * undefined when there is nothing to consume.
   */
  async #requestConsumer(info: ConsumableProducer): Promise<RequestedConsumer | undefined> {
    const transport = await this.#claim(info);
    if (!transport) return undefined;
    const made = this.#madeConsumers.get(info.producerId);
    if (made) {
      this.#madeConsumers.delete(info.producerId);
      return { transport, info, reply: made };
    }
    try {
      const reply = await this.#o.signaling.request(
        { type: 'sfu-consume', producerId: info.producerId },
        'sfu-consumed',
      );
      if (this.#closed || this.#consumers.get(info.producerId) !== 'pending') return undefined;
      return { transport, info, reply };
    } catch (err) {
      this.#consumeFailed(info, err);
      return undefined;
    }
  }

  /** Makes the browser's side of a consumer the server created, shows its track and resumes it. */
  async #attachConsumer({ transport, info, reply }: RequestedConsumer): Promise<void> {
    // The producer went while the others' replies came: nothing to make.
    if (this.#closed || this.#consumers.get(info.producerId) !== 'pending') return;
    try {
      // No await before this: consumers attached in one tick share an SDP round.
      const consumer = await transport.consume({
        id: reply.consumerId,
        producerId: reply.producerId,
        kind: reply.kind,
        rtpParameters: toDeviceRtpParameters(reply.rtpParameters),
        // mic + camera of a peer share a stream id so the browser keeps them lip-synced.
        streamId: `${reply.peerId}-${isScreenSource(reply.source) ? 'screen' : 'user'}`,
        ...(this.#o.frameTransform && {
          onRtpReceiver: (receiver: RTCRtpReceiver) => this.#o.frameTransform?.receiver(receiver, reply.kind),
        }),
        appData: { peerId: reply.peerId, source: reply.source },
      });
      if (this.#closed || this.#consumers.get(info.producerId) !== 'pending') {
        consumer.close();
        return;
      }
      const track: SfuTrack = {
        id: `sfu:${consumer.id}`,
        peerId: reply.peerId,
        source: reply.source,
        kind: reply.kind,
        path: 'sfu',
        track: consumer.track,
        consumer,
        producerId: reply.producerId,
        paused: reply.producerPaused,
        getStats: () => consumer.getStats(),
        connection: this.#statsOf(transport),
      };
      this.#consumers.set(info.producerId, track);
      consumer.on('trackended', () => this.#dropProducer(reply.producerId));
      consumer.on('transportclose', () => this.#dropProducer(reply.producerId));
      this.#o.log('sfu: consuming', reply.peerId, reply.source, consumer.id);
      // The resume goes out before the app hears of the track, and so do the resumes of the other
      // consumers made in the same SDP round (the app's turn is a microtask later): what the app
      // does with a track (a <video>, a new layout) takes the main thread, and on a busy machine
      // 50 ms or more per track, which the media should not wait for.
      const resumed = this.#o.signaling
        .request({ type: 'sfu-resume-consumer', consumerId: consumer.id })
        .catch((err) => {
          if (!this.#closed) this.#o.onError(asError(err, 'SFU_FAILED'));
        });
      queueMicrotask(() => {
        if (this.#consumers.get(info.producerId) === track) this.#o.onTrack(track);
      });
      await resumed;
    } catch (err) {
      this.#consumeFailed(info, err);
    }
  }

  #consumeFailed(info: ConsumableProducer, err: unknown): void {
    if (this.#consumers.get(info.producerId) === 'pending') this.#consumers.delete(info.producerId);
    if (this.#closed) return;
    // The producer may have closed while we asked; that is not worth an error event.
    const code = (err as { code?: string }).code;
    if (code === 'PRODUCER_NOT_FOUND' || code === 'CANNOT_CONSUME') {
      this.#o.log('sfu: cannot consume', info.producerId, code);
      return;
    }
    this.#o.onError(asError(err, 'SFU_FAILED'));
  }

  async #consumeData(info: ServerMessageOf<'sfu-new-data-producer'>): Promise<void> {
    try {
      const transport = await this.#recvTransport;
      if (!transport || this.#closed) return;
      const reply = await this.#o.signaling.request(
        { type: 'sfu-consume-data', dataProducerId: info.dataProducerId },
        'sfu-data-consumed',
      );
      if (this.#closed) return;
      const consumer = await transport.consumeData({
        id: reply.dataConsumerId,
        dataProducerId: reply.dataProducerId,
        sctpStreamParameters: reply.sctpStreamParameters,
        label: reply.label,
        protocol: reply.protocol,
      });
      if (this.#closed) {
        consumer.close();
        return;
      }
      this.#dataConsumers.set(consumer.id, consumer);
      consumer.observer.once('close', () => this.#dataConsumers.delete(consumer.id));
      this.#o.onDataConsumer?.(reply.peerId, consumer);
    } catch (err) {
      // The sender gave up meanwhile (its data producer closed): it tries again if it still wants to.
      if (!this.#closed) this.#o.log('sfu: cannot consume data', info.dataProducerId, err);
    }
  }

  #dropProducer(producerId: string, consumerId?: string): void {
    const entry = this.#consumers.get(producerId);
    if (entry === undefined) {
      this.#closedProducers.add(producerId);
      // One of ours, closed by the server.
      for (const [source, producer] of this.#producers) {
        if (producer.id === producerId) {
          this.#producers.delete(source);
          producer.close();
        }
      }
      return;
    }
    if (entry !== 'pending' && consumerId !== undefined && entry.consumer.id !== consumerId) return;
    this.#consumers.delete(producerId);
    this.#closedProducers.add(producerId);
    if (entry === 'pending') return;
    if (!entry.consumer.closed) entry.consumer.close();
    this.#o.onTrackEnded(entry);
  }

  #setRemotePaused(producerId: string, paused: boolean): void {
    const entry = this.#consumers.get(producerId);
    if (entry && entry !== 'pending') entry.paused = paused;
  }
}

/** Whose producer it is, in the fields sfu-consumed has too (a pushed consumer lacks them). */
function pick({ producerId, peerId, kind, source }: ConsumableProducer) {
  return { producerId, peerId, kind, source };
}

function asError(err: unknown, code: 'SFU_FAILED'): OpenCallError {
  if (err instanceof OpenCallError) return err;
  return new OpenCallError(code, err instanceof Error ? err.message : String(err));
}

const sources: Record<WireMediaSource, true> = {
  mic: true,
  camera: true,
  screen: true,
  'screen-audio': true,
};

function isSource(value: unknown): value is MediaSource {
  return typeof value === 'string' && Object.hasOwn(sources, value);
}
