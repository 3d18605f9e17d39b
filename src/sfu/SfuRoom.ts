import type { types as ms } from 'mediasoup';
import { EnhancedEventEmitter } from 'mediasoup/extras';
import type { Logger } from '../logger.ts';
import {
  type DtlsParameters,
  type MediaKind,
  type MediaSource,
  type ProducerInfo,
  ProtocolError,
  type RtpCapabilities,
  type RtpParameters,
  type TransportDirection,
} from '../protocol/index.ts';
import { FirstResumes } from './FirstResumes.ts';
import { routerMediaCodecs } from './mediaCodecs.ts';
import type {
  ConsumerInfo,
  ConsumerRef,
  ConsumerStatsEntry,
  DataConsumerInfo,
  DataProducerRequest,
  IceParametersInfo,
  ProducerStatsEntry,
  RecordingTap,
  SfuObjectCounts,
  SfuRoomApi,
  SfuRoomCloseReason,
  SfuRoomEvents,
  SfuRoomOptions,
  SfuRouterSource,
  TransportInfo,
} from './SfuRoomTypes.ts';

const DEFAULT_INITIAL_OUTGOING_BITRATE = 1_000_000;
const DEFAULT_MAX_INCOMING_BITRATE = 4_000_000;

/** Which kind each source must be. */
const sourceKind: Record<MediaSource, MediaKind> = {
  mic: 'audio',
  camera: 'video',
  screen: 'video',
  'screen-audio': 'audio',
};

type TransportAppData = { peerId: string; direction: TransportDirection };
type ProducerAppData = { peerId: string; source: MediaSource };
type ConsumerAppData = { peerId: string; producerPeerId: string; source: MediaSource };
/** `toPeerId`: the one peer that may consume it; absent for the whole room. */
type DataProducerAppData = { peerId: string; toPeerId: string | undefined };
type DataConsumerAppData = { peerId: string; producerPeerId: string };

/** Data channels a peer may have open on the SFU at once (each file transfer holds one per receiver). */
const MAX_DATA_PRODUCERS_PER_PEER = 64;
/**
 * How much the worker may queue towards one client's data channels. mediasoup drops a message
 * that does not fit (it cannot push back on the sender), so file senders keep their unacknowledged
 * bytes well under this (FileTransfer's window).
 */
const SCTP_SEND_BUFFER_BYTES = 2 * 1024 * 1024;
/** A resumed video consumer asks for a key frame this often until it has sent one, this many times. */
const KEY_FRAME_RETRY_MS = 350;
const KEY_FRAME_TRIES = 4;
/**
 * A browser answers at most one key-frame request per 300 ms (libwebrtc's
 * kMinKeyframeSendInterval) and drops the rest. Without a delay, mediasoup sends the request of
 * a consumer resumed just after another one's key frame at once, the browser drops it, and the
 * worker waits a full second (its retransmission wait) before asking again: that consumer shows
 * nothing for a second. With this delay the worker folds the requests that come within it into
 * one, sent when it ends, when the browser answers again.
 */
const KEY_FRAME_REQUEST_DELAY_MS = 400;

interface PeerState {
  readonly peerId: string;
  rtpCapabilities: RtpCapabilities;
  readonly transports: Map<string, ms.WebRtcTransport<TransportAppData>>;
  readonly producers: Map<string, ms.Producer<ProducerAppData>>;
  readonly consumers: Map<string, ms.Consumer<ConsumerAppData>>;
  readonly dataProducers: Map<string, ms.DataProducer<DataProducerAppData>>;
  readonly dataConsumers: Map<string, ms.DataConsumer<DataConsumerAppData>>;
  /** Set while removePeer tears the peer down: its own consumers die silently. */
  removing: boolean;
  /** One of its transports reached ICE connected. */
  reachable: boolean;
  /**
   * Creations waiting for the worker (`transport:send`, `produce:mic`, …): at most one of each at a
   * time, so a peer holds at most 2 transports and 4 producers even while racing requests.
   */
  readonly pending: Set<string>;
}

/** The SCTP parameters a client needs (mediasoup-client's SctpParameters), without the server's own settings. */
function sctpWire(p: ms.SctpParameters) {
  return {
    port: p.port,
    maxSendMessageSize: p.maxSendMessageSize,
    maxReceiveMessageSize: p.maxReceiveMessageSize,
    OS: p.OS,
    MIS: p.MIS,
    maxMessageSize: p.maxMessageSize,
  };
}

/** What mediasoup's consume() throws for capabilities it cannot serve: malformed (TypeError) or without a common codec. */
function isCapabilityMismatch(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof Error && error.name === 'UnsupportedError');
}

/** The peer's recv transport (a peer has at most one of each direction). */
function recvTransportOf(peer: PeerState): ms.WebRtcTransport<TransportAppData> | undefined {
  for (const transport of peer.transports.values())
    if (transport.appData.direction === 'recv') return transport;
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The media side of one room: one mediasoup router, and per peer its transports, producers and
 * consumers. Knows nothing of WebSockets: the signaling layer calls it with already validated
 * arguments and turns its events into server messages. Every failure is a ProtocolError; a
 * mediasoup error becomes MEDIA_ERROR and never escapes as anything else.
 */
export class SfuRoom extends EnhancedEventEmitter<SfuRoomEvents> implements SfuRoomApi {
  readonly roomId: string;
  readonly #router: ms.Router;
  readonly #speakers: ms.ActiveSpeakerObserver;
  readonly #pool: SfuRouterSource;
  readonly #logger: Logger;
  readonly #initialAvailableOutgoingBitrate: number;
  readonly #maxIncomingBitrate: number;
  readonly #peers = new Map<string, PeerState>();
  /** Room-wide indexes: id → owning peer id, to tell FORBIDDEN from NOT_FOUND. */
  readonly #transportOwners = new Map<string, string>();
  readonly #producers = new Map<string, ms.Producer<ProducerAppData>>();
  readonly #consumerOwners = new Map<string, string>();
  readonly #dataProducers = new Map<string, ms.DataProducer<DataProducerAppData>>();
  /** Which transport each producer / consumer lives on. */
  readonly #producerTransport = new Map<string, string>();
  readonly #consumerTransport = new Map<string, string>();
  /** Consumers being made, by peer and producer: a second ask waits for the first. */
  readonly #consuming = new Map<string, Promise<ConsumerInfo>>();
  readonly #firstResumes = new FirstResumes({
    anyOpenConsumer: (producerId, test) => {
      for (const consumer of this.#consumersOf(producerId)) if (test(consumer)) return true;
      return false;
    },
    start: (consumer) => this.#startConsumer(consumer as ms.Consumer<ConsumerAppData>),
  });
  #closed = false;
  #rtpCapabilities: ms.RtpCapabilities | undefined;

  /** Gets a router from the pool. Rejects with the pool's ProtocolError (SFU_UNAVAILABLE, MEDIA_ERROR). */
  static async create(options: SfuRoomOptions): Promise<SfuRoom> {
    const codecs = (options.mediaCodecs ?? routerMediaCodecs).map((c) => ({ ...c }));
    const router = await options.pool.createRouter(codecs, { roomId: options.roomId });
    // Who speaks, from the audio level header extension of every audio producer; mediasoup drops
    // closed producers from it by itself.
    const speakers = await router.createActiveSpeakerObserver({ interval: 300 });
    return new SfuRoom(options, router, speakers);
  }

  private constructor(options: SfuRoomOptions, router: ms.Router, speakers: ms.ActiveSpeakerObserver) {
    super();
    this.roomId = options.roomId;
    this.#router = router;
    this.#speakers = speakers;
    speakers.on('dominantspeaker', ({ producer }) => {
      const { peerId } = producer.appData as ProducerAppData;
      if (!this.#closed) this.safeEmit('activespeaker', { peerId });
    });
    this.#pool = options.pool;
    this.#logger = options.logger.child({ component: 'SfuRoom', roomId: options.roomId });
    this.#initialAvailableOutgoingBitrate =
      options.initialAvailableOutgoingBitrate ?? DEFAULT_INITIAL_OUTGOING_BITRATE;
    this.#maxIncomingBitrate = options.maxIncomingBitrate ?? DEFAULT_MAX_INCOMING_BITRATE;

    this.on('listenererror', (eventName, error) => {
      this.#logger.error({ event: eventName, err: errorMessage(error) }, 'room event listener threw');
    });
    // Order inside mediasoup: the router closes its transports, then emits 'workerclose', then its
    // observer 'close'. Handlers below check router.closed so that no per-producer event leaks out.
    router.on('workerclose', () => this.#shutdown('worker-closed'));
    router.observer.on('close', () => this.#shutdown('router-closed'));
    this.#logger.info({ routerId: router.id }, 'sfu room created');
  }

  get routerId(): string {
    return this.#router.id;
  }

  /** The router's capabilities, read once: mediasoup's getter clones them on every call. */
  get rtpCapabilities(): ms.RtpCapabilities {
    this.#rtpCapabilities ??= this.#router.rtpCapabilities;
    return this.#rtpCapabilities;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peerIds(): string[] {
    return [...this.#peers.keys()];
  }

  hasPeer(peerId: string): boolean {
    return this.#peers.has(peerId);
  }

  hasRecvTransport(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    return peer !== undefined && recvTransportOf(peer) !== undefined;
  }

  hasProducer(producerId: string): boolean {
    return this.#producers.has(producerId);
  }

  addPeer(peerId: string, rtpCapabilities: RtpCapabilities): ProducerInfo[] {
    this.#assertOpen();
    const existing = this.#peers.get(peerId);
    if (existing) {
      existing.rtpCapabilities = rtpCapabilities;
    } else {
      this.#peers.set(peerId, {
        peerId,
        rtpCapabilities,
        transports: new Map(),
        producers: new Map(),
        consumers: new Map(),
        dataProducers: new Map(),
        dataConsumers: new Map(),
        removing: false,
        reachable: false,
        pending: new Set(),
      });
      this.#logger.debug({ peerId }, 'peer joined sfu');
    }
    return this.getProducers().filter((p) => p.peerId !== peerId);
  }

  objectCounts(): SfuObjectCounts {
    const counts = { transports: 0, producers: 0, consumers: 0, dataProducers: 0, dataConsumers: 0 };
    for (const peer of this.#peers.values()) {
      counts.transports += peer.transports.size;
      counts.producers += peer.producers.size;
      counts.consumers += peer.consumers.size;
      counts.dataProducers += peer.dataProducers.size;
      counts.dataConsumers += peer.dataConsumers.size;
    }
    return counts;
  }

  async createTransport(
    peerId: string,
    direction: TransportDirection,
    enableSctp = false,
  ): Promise<TransportInfo> {
    const peer = this.#peer(peerId);
    return this.#oneAtATime(peer, `transport:${direction}`, () =>
      this.#createTransport(peer, direction, enableSctp),
    );
  }

  /** Runs one creation of a kind per peer at a time; a second one meanwhile is refused. */
  async #oneAtATime<T>(peer: PeerState, key: string, create: () => Promise<T>): Promise<T> {
    if (peer.pending.has(key)) {
      throw new ProtocolError('FORBIDDEN', `SFU limit: a ${key.replace(':', ' ')} is already being created`);
    }
    peer.pending.add(key);
    try {
      return await create();
    } finally {
      peer.pending.delete(key);
    }
  }

  async #createTransport(
    peer: PeerState,
    direction: TransportDirection,
    enableSctp: boolean,
  ): Promise<TransportInfo> {
    const { peerId } = peer;
    const webRtcServer = this.#pool.getWebRtcServer(this.#router);
    const listen = webRtcServer ? { webRtcServer } : { listenInfos: this.#pool.transportListenInfos() };
    const transport = await this.#media('createWebRtcTransport', () =>
      this.#router.createWebRtcTransport<TransportAppData>({
        ...listen,
        enableUdp: true,
        enableTcp: true,
        preferUdp: true,
        initialAvailableOutgoingBitrate: this.#initialAvailableOutgoingBitrate,
        // Data channels only for clients that asked (an SCTP association costs the worker memory).
        ...(enableSctp && { enableSctp: true, sctpSendBufferSize: SCTP_SEND_BUFFER_BYTES }),
        appData: { peerId, direction },
      }),
    );
    // The peer may have left, or the room closed, while the worker answered.
    if (this.#closed || this.#peers.get(peerId) !== peer) {
      transport.close();
      throw this.#closed ? this.#notActive() : new ProtocolError('PEER_NOT_FOUND', 'The peer left the SFU');
    }
    if (direction === 'send') {
      await transport.setMaxIncomingBitrate(this.#maxIncomingBitrate).catch((error: unknown) => {
        this.#logger.warn({ peerId, err: errorMessage(error) }, 'setMaxIncomingBitrate failed');
      });
    }
    // One transport per direction: a new one replaces the old (a client recovering from a failure).
    for (const old of peer.transports.values()) {
      if (old.appData.direction === direction) {
        this.#logger.debug({ peerId, transportId: old.id, direction }, 'replacing transport');
        this.#closeTransport(peer, old);
      }
    }
    this.#registerTransport(peer, transport);
    this.#logger.debug({ peerId, transportId: transport.id, direction }, 'transport created');
    return {
      transportId: transport.id,
      direction,
      iceParameters: transport.iceParameters,
      iceCandidates: transport.iceCandidates,
      dtlsParameters: transport.dtlsParameters,
      ...(transport.sctpParameters && { sctpParameters: sctpWire(transport.sctpParameters) }),
    };
  }

  async connectTransport(peerId: string, transportId: string, dtlsParameters: DtlsParameters): Promise<void> {
    const transport = this.#ownTransport(this.#peer(peerId), transportId);
    await this.#media('connect', () => transport.connect({ dtlsParameters }));
    this.#logger.debug({ peerId, transportId }, 'transport connected');
  }

  async produce(
    peerId: string,
    transportId: string,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    source: MediaSource,
    paused = false,
  ): Promise<string> {
    const peer = this.#peer(peerId);
    const transport = this.#ownTransport(peer, transportId);
    if (transport.appData.direction !== 'send') {
      throw new ProtocolError('FORBIDDEN', 'Produce on a send transport');
    }
    if (sourceKind[source] !== kind) {
      throw new ProtocolError(
        'INVALID_MESSAGE',
        `Source ${source} must be ${sourceKind[source]}, not ${kind}`,
      );
    }
    for (const other of peer.producers.values()) {
      if (other.appData.source === source) {
        throw new ProtocolError('FORBIDDEN', `Already producing ${source}: close that producer first`);
      }
    }
    return this.#oneAtATime(peer, `produce:${source}`, () =>
      this.#produce(peer, transport, kind, rtpParameters, source, paused),
    );
  }

  async #produce(
    peer: PeerState,
    transport: ms.WebRtcTransport<TransportAppData>,
    kind: MediaKind,
    rtpParameters: RtpParameters,
    source: MediaSource,
    paused: boolean,
  ): Promise<string> {
    const { peerId } = peer;
    const producer = await this.#media('produce', () =>
      transport.produce<ProducerAppData>({
        kind,
        // Checked by the zod schema, whose type is mediasoup's (test/unit/protocolTypes.test.ts);
        // ortc.validateRtpParameters in mediasoup checks what a schema cannot (payload types used).
        rtpParameters,
        paused,
        ...(kind === 'video' ? { keyFrameRequestDelay: KEY_FRAME_REQUEST_DELAY_MS } : {}),
        appData: { peerId, source },
      }),
    );
    if (this.#closed || transport.closed) {
      producer.close();
      throw this.#closed
        ? this.#notActive()
        : new ProtocolError('TRANSPORT_NOT_FOUND', 'The transport closed');
    }
    this.#registerProducer(peer, producer);
    this.#producerTransport.set(producer.id, transport.id);
    if (kind === 'audio' && source === 'mic') {
      this.#speakers.addProducer({ producerId: producer.id }).catch((err: unknown) => {
        this.#logger.debug({ err: errorMessage(err), producerId: producer.id }, 'not observed for speaking');
      });
    }
    const info = this.#producerInfo(producer);
    this.#logger.debug({ peerId, producerId: producer.id, kind, source, paused }, 'producer created');
    this.safeEmit('newproducer', info);
    return producer.id;
  }

  /**
   * A consumer of `producerId` for `peerId`, created paused; asked again (a retried request, or the
   * peer asking for one the server made on its own), the same consumer, even while it is being made.
   */
  consume(peerId: string, producerId: string, rtpCapabilities?: RtpCapabilities): Promise<ConsumerInfo> {
    const key = `${peerId}\n${producerId}`;
    const pending = this.#consuming.get(key);
    if (pending) return pending;
    const made = this.#consume(peerId, producerId, rtpCapabilities).finally(() => {
      this.#consuming.delete(key);
    });
    this.#consuming.set(key, made);
    return made;
  }

  async #consume(
    peerId: string,
    producerId: string,
    rtpCapabilities?: RtpCapabilities,
  ): Promise<ConsumerInfo> {
    const peer = this.#peer(peerId);
    const producer = this.#producers.get(producerId);
    if (!producer) throw new ProtocolError('PRODUCER_NOT_FOUND');
    if (producer.appData.peerId === peerId) {
      throw new ProtocolError('FORBIDDEN', 'A peer does not consume its own producer');
    }
    const transport = recvTransportOf(peer);
    if (!transport) {
      throw new ProtocolError(
        'TRANSPORT_NOT_FOUND',
        'No recv transport: create one with direction "recv" first',
      );
    }
    const caps = rtpCapabilities ?? peer.rtpCapabilities;
    for (const existing of peer.consumers.values()) {
      // Asked twice (a retried request): answer with the live consumer rather than a duplicate stream.
      if (existing.producerId === producerId && !existing.closed) {
        // Asked with other capabilities, they must still fit (a new consumer is checked by consume()).
        if (rtpCapabilities && !this.#router.canConsume({ producerId, rtpCapabilities })) {
          throw new ProtocolError('CANNOT_CONSUME');
        }
        return this.#consumerInfo(existing);
      }
    }
    let consumer: ms.Consumer<ConsumerAppData>;
    try {
      consumer = await transport.consume<ConsumerAppData>({
        producerId,
        rtpCapabilities: caps,
        paused: true,
        appData: { peerId, producerPeerId: producer.appData.peerId, source: producer.appData.source },
      });
    } catch (error) {
      if (!this.#producers.has(producerId)) throw new ProtocolError('PRODUCER_NOT_FOUND');
      // consume() checks the capabilities against the producer itself (no router.canConsume before
      // it: that would clone and match them twice per consumer), and says so with these two errors.
      if (isCapabilityMismatch(error)) throw new ProtocolError('CANNOT_CONSUME');
      throw this.#mediaError('consume', error);
    }
    if (this.#closed || transport.closed || consumer.closed) {
      consumer.close();
      throw this.#closed
        ? this.#notActive()
        : new ProtocolError('PRODUCER_NOT_FOUND', 'The producer or transport closed');
    }
    this.#registerConsumer(peer, consumer);
    this.#consumerTransport.set(consumer.id, transport.id);
    this.#firstResumes.created(consumer);
    this.#logger.debug({ peerId, consumerId: consumer.id, producerId }, 'consumer created');
    return this.#consumerInfo(consumer);
  }

  async resumeConsumer(peerId: string, consumerId: string): Promise<ConsumerRef> {
    const consumer = this.#ownConsumer(this.#peer(peerId), consumerId);
    if (this.#firstResumes.isFirst(consumer)) await this.#firstResumes.resume(consumer);
    else await this.#startConsumer(consumer);
    return { peerId, consumerId, producerId: consumer.producerId };
  }

  async #startConsumer(consumer: ms.Consumer<ConsumerAppData>): Promise<void> {
    await this.#media('consumer.resume', () => consumer.resume());
    // The receiver can show nothing before a key frame: ask the sender for one now, not on its next PLI.
    if (consumer.kind === 'video') this.#untilKeyFrame(consumer);
  }

  async pauseConsumer(peerId: string, consumerId: string): Promise<ConsumerRef> {
    const consumer = this.#ownConsumer(this.#peer(peerId), consumerId);
    await this.#media('consumer.pause', () => consumer.pause());
    return { peerId, consumerId, producerId: consumer.producerId };
  }

  async pauseProducer(peerId: string, producerId: string): Promise<void> {
    const producer = this.#ownProducer(this.#peer(peerId), producerId);
    await this.#media('producer.pause', () => producer.pause());
    this.safeEmit('producerpaused', { producerId, peerId });
  }

  async resumeProducer(peerId: string, producerId: string): Promise<void> {
    const producer = this.#ownProducer(this.#peer(peerId), producerId);
    await this.#media('producer.resume', () => producer.resume());
    this.safeEmit('producerresumed', { producerId, peerId });
  }

  closeProducer(peerId: string, producerId: string): void {
    const peer = this.#peer(peerId);
    const producer = this.#ownProducer(peer, producerId);
    this.#sync('producer.close', () => producer.close());
    this.#forgetProducer(peer, producer);
    this.#logger.debug({ peerId, producerId }, 'producer closed');
    this.safeEmit('producerclosed', { producerId, peerId });
  }

  async produceData(peerId: string, request: DataProducerRequest): Promise<string> {
    const peer = this.#peer(peerId);
    const transport = this.#ownTransport(peer, request.transportId);
    if (transport.appData.direction !== 'send') {
      throw new ProtocolError('FORBIDDEN', 'Produce data on a send transport');
    }
    if (!transport.sctpParameters) {
      throw new ProtocolError('FORBIDDEN', 'The transport has no SCTP: create it with enableSctp');
    }
    if (
      request.toPeerId !== undefined &&
      (request.toPeerId === peerId || !this.#peers.has(request.toPeerId))
    ) {
      throw new ProtocolError('PEER_NOT_FOUND', `Peer ${request.toPeerId} is not on this room's SFU`);
    }
    if (peer.dataProducers.size >= MAX_DATA_PRODUCERS_PER_PEER) {
      throw new ProtocolError(
        'FORBIDDEN',
        `SFU limit: ${MAX_DATA_PRODUCERS_PER_PEER} data producers per peer`,
      );
    }
    const dataProducer = await this.#media('produceData', () =>
      transport.produceData<DataProducerAppData>({
        sctpStreamParameters: request.sctpStreamParameters,
        label: request.label,
        protocol: request.protocol,
        appData: { peerId, toPeerId: request.toPeerId },
      }),
    );
    if (this.#closed || transport.closed) {
      dataProducer.close();
      throw this.#closed
        ? this.#notActive()
        : new ProtocolError('TRANSPORT_NOT_FOUND', 'The transport closed');
    }
    peer.dataProducers.set(dataProducer.id, dataProducer);
    this.#dataProducers.set(dataProducer.id, dataProducer);
    dataProducer.observer.once('close', () => {
      peer.dataProducers.delete(dataProducer.id);
      this.#dataProducers.delete(dataProducer.id);
    });
    this.#logger.debug(
      { peerId, dataProducerId: dataProducer.id, toPeerId: request.toPeerId },
      'data producer created',
    );
    this.safeEmit('newdataproducer', {
      dataProducerId: dataProducer.id,
      peerId,
      label: dataProducer.label,
      protocol: dataProducer.protocol,
      toPeerId: request.toPeerId,
    });
    return dataProducer.id;
  }

  async consumeData(peerId: string, dataProducerId: string): Promise<DataConsumerInfo> {
    const peer = this.#peer(peerId);
    const dataProducer = this.#dataProducers.get(dataProducerId);
    if (!dataProducer) throw new ProtocolError('PRODUCER_NOT_FOUND', `No data producer ${dataProducerId}`);
    const { peerId: owner, toPeerId } = dataProducer.appData;
    if (owner === peerId || (toPeerId !== undefined && toPeerId !== peerId)) {
      throw new ProtocolError('FORBIDDEN', 'That data producer is not sent to you');
    }
    const transport = [...peer.transports.values()].find(
      (t) => t.appData.direction === 'recv' && t.sctpParameters !== undefined,
    );
    if (!transport) {
      throw new ProtocolError(
        'TRANSPORT_NOT_FOUND',
        'No recv transport with SCTP (create it with enableSctp)',
      );
    }
    for (const existing of peer.dataConsumers.values()) {
      if (existing.dataProducerId === dataProducerId && !existing.closed)
        return this.#dataConsumerInfo(existing);
    }
    const dataConsumer = await this.#media('consumeData', () =>
      transport.consumeData<DataConsumerAppData>({
        dataProducerId,
        appData: { peerId, producerPeerId: owner },
      }),
    );
    if (this.#closed || transport.closed || dataConsumer.closed) {
      dataConsumer.close();
      throw this.#closed
        ? this.#notActive()
        : new ProtocolError('PRODUCER_NOT_FOUND', 'The data producer closed');
    }
    peer.dataConsumers.set(dataConsumer.id, dataConsumer);
    dataConsumer.observer.once('close', () => peer.dataConsumers.delete(dataConsumer.id));
    dataConsumer.on('dataproducerclose', () => {
      if (!this.#silent && !peer.removing) {
        this.safeEmit('dataconsumerclosed', { peerId, dataConsumerId: dataConsumer.id, dataProducerId });
      }
    });
    return this.#dataConsumerInfo(dataConsumer);
  }

  closeDataProducer(peerId: string, dataProducerId: string): void {
    const peer = this.#peer(peerId);
    const dataProducer = peer.dataProducers.get(dataProducerId);
    if (!dataProducer) {
      if (this.#dataProducers.has(dataProducerId)) {
        throw new ProtocolError('FORBIDDEN', 'The data producer belongs to another peer');
      }
      throw new ProtocolError('PRODUCER_NOT_FOUND', `No data producer ${dataProducerId}`);
    }
    this.#sync('dataProducer.close', () => dataProducer.close());
  }

  async restartIce(peerId: string, transportId: string): Promise<IceParametersInfo> {
    const transport = this.#ownTransport(this.#peer(peerId), transportId);
    return this.#media('restartIce', () => transport.restartIce());
  }

  getProducers(): ProducerInfo[] {
    return [...this.#producers.values()].map((p) => this.#producerInfo(p));
  }

  async tap(producerId: string, target: { port: number; rtcpPort: number }): Promise<RecordingTap> {
    const producer = this.#producers.get(producerId);
    if (!producer || this.#closed) throw new ProtocolError('PRODUCER_NOT_FOUND', `No producer ${producerId}`);
    const transport = await this.#media('createPlainTransport', () =>
      this.#router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1' },
        rtcpMux: false,
        comedia: false,
      }),
    );
    try {
      await transport.connect({ ip: '127.0.0.1', port: target.port, rtcpPort: target.rtcpPort });
      const consumer = await transport.consume({
        producerId,
        rtpCapabilities: this.#router.rtpCapabilities,
        paused: true,
      });
      return {
        producerId,
        peerId: producer.appData.peerId,
        kind: producer.kind,
        rtpParameters: consumer.rtpParameters,
        resume: () => consumer.resume(),
        requestKeyFrame: () => consumer.requestKeyFrame(),
        close: () => transport.close(),
      };
    } catch (err) {
      transport.close();
      throw err;
    }
  }

  getPeerProducers(peerId: string): ProducerInfo[] {
    const peer = this.#peers.get(peerId);
    return peer ? [...peer.producers.values()].map((p) => this.#producerInfo(p)) : [];
  }

  async getConsumerStats(): Promise<ConsumerStatsEntry[]> {
    const consumers = [...this.#peers.values()].flatMap((peer) => [...peer.consumers.values()]);
    const entries = await Promise.all(
      consumers.map(async (consumer): Promise<ConsumerStatsEntry | undefined> => {
        let stats: ms.ConsumerStat[];
        try {
          stats = await consumer.getStats();
        } catch {
          return undefined; // closed meanwhile
        }
        const outbound = stats.filter((s) => s.type === 'outbound-rtp');
        return {
          peerId: consumer.appData.peerId,
          consumerId: consumer.id,
          producerId: consumer.producerId,
          producerPeerId: consumer.appData.producerPeerId,
          kind: consumer.kind,
          source: consumer.appData.source,
          paused: consumer.paused,
          producerPaused: consumer.producerPaused,
          packetCount: outbound.reduce((n, s) => n + s.packetCount, 0),
          byteCount: outbound.reduce((n, s) => n + s.byteCount, 0),
          score: consumer.score.score,
        };
      }),
    );
    return entries.filter((e): e is ConsumerStatsEntry => e !== undefined);
  }

  async getProducerStats(): Promise<ProducerStatsEntry[]> {
    const entries = await Promise.all(
      [...this.#producers.values()].map(async (producer): Promise<ProducerStatsEntry | undefined> => {
        let stats: ms.ProducerStat[];
        try {
          stats = await producer.getStats();
        } catch {
          return undefined;
        }
        return {
          peerId: producer.appData.peerId,
          producerId: producer.id,
          kind: producer.kind,
          source: producer.appData.source,
          paused: producer.paused,
          packetCount: stats.reduce((n, s) => n + s.packetCount, 0),
          byteCount: stats.reduce((n, s) => n + s.byteCount, 0),
          score: stats.reduce((best, s) => Math.max(best, s.score), 0),
        };
      }),
    );
    return entries.filter((e): e is ProducerStatsEntry => e !== undefined);
  }

  peerMediaConnected(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    if (!peer) return false;
    const carrying = [...peer.transports.values()].filter((t) => this.#carriesMedia(peer, t));
    const expectsMedia =
      peer.producers.size > 0 || [...this.#producers.values()].some((p) => p.appData.peerId !== peerId);
    if (expectsMedia && carrying.length === 0) return false;
    return carrying.every((t) => this.#isConnected(t));
  }

  peerReachable(peerId: string): boolean {
    return this.#peers.get(peerId)?.reachable === true;
  }

  unconnectedTransports(peerId: string): string[] {
    const peer = this.#peers.get(peerId);
    if (!peer) return [];
    return [...peer.transports.values()]
      .filter((t) => this.#carriesMedia(peer, t) && !this.#isConnected(t))
      .map((t) => t.id);
  }

  removePeer(peerId: string): boolean {
    const peer = this.#peers.get(peerId);
    if (!peer) return false;
    peer.removing = true;
    const producers = [...peer.producers.values()];
    for (const transport of [...peer.transports.values()]) this.#closeTransport(peer, transport);
    this.#peers.delete(peerId);
    this.#logger.debug({ peerId, producers: producers.length }, 'peer left sfu');
    if (!this.#closed) {
      for (const producer of producers) this.safeEmit('producerclosed', { producerId: producer.id, peerId });
    }
    return true;
  }

  async dump(): Promise<ms.RouterDump> {
    this.#assertOpen();
    return this.#media('router.dump', () => this.#router.dump());
  }

  close(): void {
    this.#shutdown('closed');
  }

  // ------------------------------------------------------------------------------------ private

  #shutdown(reason: SfuRoomCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#firstResumes.close();
    if (reason === 'closed') {
      try {
        this.#router.close();
      } catch (error) {
        this.#logger.warn({ err: errorMessage(error) }, 'router.close failed');
      }
    }
    this.#peers.clear();
    this.#transportOwners.clear();
    this.#producers.clear();
    this.#consumerOwners.clear();
    this.#dataProducers.clear();
    this.#producerTransport.clear();
    this.#consumerTransport.clear();
    const log =
      reason === 'closed' ? this.#logger.info.bind(this.#logger) : this.#logger.warn.bind(this.#logger);
    log({ reason }, 'sfu room closed');
    this.safeEmit('close', reason);
  }

  /** Whether per-object events should stay quiet: the whole room is going away. */
  get #silent(): boolean {
    return this.#closed || this.#router.closed;
  }

  #registerTransport(peer: PeerState, transport: ms.WebRtcTransport<TransportAppData>): void {
    peer.transports.set(transport.id, transport);
    this.#transportOwners.set(transport.id, peer.peerId);
    const ref = { peerId: peer.peerId, transportId: transport.id, direction: transport.appData.direction };
    transport.observer.once('close', () => {
      peer.transports.delete(transport.id);
      this.#transportOwners.delete(transport.id);
    });
    let connectedOnce = false;
    transport.on('icestatechange', (state) => {
      this.#logger.debug({ peerId: peer.peerId, transportId: transport.id, state }, 'ice state');
      if (!connectedOnce && (state === 'connected' || state === 'completed') && !this.#silent) {
        connectedOnce = true;
        peer.reachable = true;
        this.safeEmit('transportconnected', ref);
      }
    });
    transport.on('dtlsstatechange', (state) => {
      const level = state === 'failed' ? 'warn' : 'debug';
      this.#logger[level]({ peerId: peer.peerId, transportId: transport.id, state }, 'dtls state');
      if (state === 'failed' && !this.#silent)
        this.safeEmit('transportfailed', { ...ref, reason: 'dtls-failed' });
      // DTLS completes after ICE: the evidence for a switch may be complete only now.
      if (state === 'connected' && connectedOnce && !this.#silent) this.safeEmit('transportconnected', ref);
    });
  }

  #carriesMedia(peer: PeerState, transport: ms.WebRtcTransport<TransportAppData>): boolean {
    if (transport.appData.direction === 'send') {
      return [...peer.producers.values()].some(
        (p) => !p.closed && this.#producerTransport.get(p.id) === transport.id,
      );
    }
    return [...peer.consumers.values()].some(
      (c) => !c.closed && this.#consumerTransport.get(c.id) === transport.id,
    );
  }

  #isConnected(transport: ms.WebRtcTransport<TransportAppData>): boolean {
    const ice = transport.iceState;
    return (ice === 'connected' || ice === 'completed') && transport.dtlsState === 'connected';
  }

  #registerProducer(peer: PeerState, producer: ms.Producer<ProducerAppData>): void {
    peer.producers.set(producer.id, producer);
    this.#producers.set(producer.id, producer);
    if (producer.kind === 'video') {
      // Consumers made (and resumed) before the producer's first packet asked for a key frame
      // that had nowhere to go: ask again once its stream exists, or they wait for the next one.
      const onScore = (scores: ms.ProducerScore[]) => {
        if (scores.length === 0) return;
        producer.off('score', onScore);
        for (const consumer of this.#consumersOf(producer.id)) {
          if (!consumer.paused) consumer.requestKeyFrame().catch(() => undefined);
        }
      };
      producer.on('score', onScore);
    }
    producer.observer.once('close', () => this.#forgetProducer(peer, producer));
    producer.on('transportclose', () => {
      this.#forgetProducer(peer, producer);
      // removePeer emits for its own producers; a replaced transport is reported here.
      if (!this.#silent && !peer.removing) {
        this.safeEmit('producerclosed', { producerId: producer.id, peerId: peer.peerId });
      }
    });
  }

  /** The open consumers of one producer, across peers. */
  *#consumersOf(producerId: string): Generator<ms.Consumer<ConsumerAppData>> {
    for (const peer of this.#peers.values()) {
      for (const consumer of peer.consumers.values()) {
        if (consumer.producerId === producerId && !consumer.closed) yield consumer;
      }
    }
  }

  #forgetProducer(peer: PeerState, producer: ms.Producer<ProducerAppData>): void {
    peer.producers.delete(producer.id);
    this.#producerTransport.delete(producer.id);
    if (this.#producers.get(producer.id) === producer) this.#producers.delete(producer.id);
  }

  #registerConsumer(peer: PeerState, consumer: ms.Consumer<ConsumerAppData>): void {
    peer.consumers.set(consumer.id, consumer);
    this.#consumerOwners.set(consumer.id, peer.peerId);
    const ref = { peerId: peer.peerId, consumerId: consumer.id, producerId: consumer.producerId };
    consumer.observer.once('close', () => {
      peer.consumers.delete(consumer.id);
      this.#consumerTransport.delete(consumer.id);
      this.#consumerOwners.delete(consumer.id);
    });
    const closedUnderIt = () => {
      if (!this.#silent && !peer.removing) this.safeEmit('consumerclosed', ref);
    };
    consumer.on('producerclose', closedUnderIt);
    consumer.on('transportclose', closedUnderIt);
    consumer.on('producerpause', () => {
      if (!this.#silent) this.safeEmit('consumerpaused', ref);
    });
    consumer.on('producerresume', () => {
      if (!this.#silent) this.safeEmit('consumerresumed', ref);
    });
  }

  #closeTransport(peer: PeerState, transport: ms.WebRtcTransport<TransportAppData>): void {
    try {
      transport.close();
    } catch (error) {
      this.#logger.warn(
        { peerId: peer.peerId, transportId: transport.id, err: errorMessage(error) },
        'close failed',
      );
    }
    peer.transports.delete(transport.id);
    this.#transportOwners.delete(transport.id);
  }

  #producerInfo(producer: ms.Producer<ProducerAppData>): ProducerInfo {
    return {
      producerId: producer.id,
      peerId: producer.appData.peerId,
      kind: producer.kind,
      source: producer.appData.source,
      paused: producer.paused,
    };
  }

  /**
   * Asks for a key frame until this consumer has sent one (its `keyframe` trace), every
   * KEY_FRAME_RETRY_MS, a few times: for a request or key frame lost on the way. (A request that
   * the browser would drop for coming too soon after another is held by the producer's
   * KEY_FRAME_REQUEST_DELAY_MS instead; a retry within that window joins the held request.)
   */
  #untilKeyFrame(consumer: ms.Consumer<ConsumerAppData>): void {
    let tries = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      consumer.off('trace', onTrace);
      if (!consumer.closed) consumer.enableTraceEvent([]).catch(() => undefined);
    };
    const onTrace = (trace: ms.ConsumerTraceEventData) => {
      if (trace.type === 'keyframe' && trace.direction === 'out') finish();
    };
    const ask = () => {
      if (consumer.closed || this.#closed || tries++ >= KEY_FRAME_TRIES) {
        finish();
        return;
      }
      consumer.requestKeyFrame().catch(() => undefined);
      timer = setTimeout(ask, KEY_FRAME_RETRY_MS);
      timer.unref();
    };
    consumer.on('trace', onTrace);
    consumer.enableTraceEvent(['keyframe']).catch(() => undefined);
    ask();
  }

  #dataConsumerInfo(dataConsumer: ms.DataConsumer<DataConsumerAppData>): DataConsumerInfo {
    return {
      dataConsumerId: dataConsumer.id,
      dataProducerId: dataConsumer.dataProducerId,
      peerId: dataConsumer.appData.producerPeerId,
      // Present on every SCTP data consumer (only 'direct' ones lack it).
      sctpStreamParameters: dataConsumer.sctpStreamParameters ?? { streamId: 0 },
      label: dataConsumer.label,
      protocol: dataConsumer.protocol,
    };
  }

  #consumerInfo(consumer: ms.Consumer<ConsumerAppData>): ConsumerInfo {
    return {
      consumerId: consumer.id,
      producerId: consumer.producerId,
      peerId: consumer.appData.producerPeerId,
      kind: consumer.kind,
      source: consumer.appData.source,
      rtpParameters: consumer.rtpParameters,
      paused: consumer.paused,
      producerPaused: consumer.producerPaused,
    };
  }

  #assertOpen(): void {
    if (this.#closed) throw this.#notActive();
  }

  #notActive(): ProtocolError {
    return new ProtocolError('SFU_NOT_ACTIVE', 'The SFU side of this room is closed');
  }

  #peer(peerId: string): PeerState {
    this.#assertOpen();
    const peer = this.#peers.get(peerId);
    if (!peer)
      throw new ProtocolError('PEER_NOT_FOUND', 'The peer has not joined the SFU (send sfu-join first)');
    return peer;
  }

  #ownTransport(peer: PeerState, transportId: string): ms.WebRtcTransport<TransportAppData> {
    const transport = peer.transports.get(transportId);
    if (transport) return transport;
    if (this.#transportOwners.has(transportId)) {
      throw new ProtocolError('FORBIDDEN', 'The transport belongs to another peer');
    }
    throw new ProtocolError('TRANSPORT_NOT_FOUND');
  }

  #ownProducer(peer: PeerState, producerId: string): ms.Producer<ProducerAppData> {
    const producer = peer.producers.get(producerId);
    if (producer) return producer;
    if (this.#producers.has(producerId))
      throw new ProtocolError('FORBIDDEN', 'The producer belongs to another peer');
    throw new ProtocolError('PRODUCER_NOT_FOUND');
  }

  #ownConsumer(peer: PeerState, consumerId: string): ms.Consumer<ConsumerAppData> {
    const consumer = peer.consumers.get(consumerId);
    if (consumer) return consumer;
    if (this.#consumerOwners.has(consumerId))
      throw new ProtocolError('FORBIDDEN', 'The consumer belongs to another peer');
    throw new ProtocolError('CONSUMER_NOT_FOUND');
  }

  /** Runs a mediasoup request; whatever it throws or rejects with comes out as MEDIA_ERROR. */
  async #media<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.#mediaError(what, error);
    }
  }

  #sync<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw this.#mediaError(what, error);
    }
  }

  #mediaError(what: string, error: unknown): ProtocolError {
    if (error instanceof ProtocolError) return error;
    // The router went away while the request was in flight (worker died, room closed).
    if (this.#closed || this.#router.closed) return this.#notActive();
    const message = errorMessage(error);
    this.#logger.warn({ op: what, err: message }, 'mediasoup refused a request');
    return new ProtocolError('MEDIA_ERROR', `${what} failed: ${message}`);
  }
}
