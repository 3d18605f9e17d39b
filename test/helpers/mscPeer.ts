/*
 * A real WebRTC endpoint for tests: msc-node (mediasoup-client on werift, pure JS) with synthetic
 * RTP. It talks to the SFU through an MscSignaling object of plain async callbacks, so the same
 * helper drives an SfuRoom directly or a server over WebSocket.
 *
 * Gotchas this file takes care of:
 * - Node >= 21 has a global `navigator`, so msc-node's device detection takes Node for a browser
 *   and throws UnsupportedError: the Device is built with handlerName 'werift'.
 * - msc-node bundles its own werift (0.18); MediaStreamTrack, RtpPacket, etc. must come from
 *   msc-node's re-exports, not from the top-level `werift` package (0.25), or the classes differ.
 * - mediasoup forwards no video to a consumer until a keyframe arrives, and asks the producer for
 *   one with a PLI when a consumer resumes: the video source answers every PLI with a keyframe.
 * - werift sockets keep the process alive: close() every peer.
 */
import {
  Device,
  MediaStreamTrack,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type types,
  useAbsSendTime,
  useAudioLevelIndication,
  useFIR,
  useNACK,
  usePLI,
  useREMB,
  useSdesMid,
} from 'msc-node';

export type MscRtpCapabilities = types.RtpCapabilities;
export type MscRtpParameters = types.RtpParameters;
export type MscDtlsParameters = types.DtlsParameters;
export type MediaKind = 'audio' | 'video';
export type MediaSource = 'mic' | 'camera' | 'screen' | 'screen-audio';

/** What the server answers to "create a transport" (sfu-transport-created). */
export interface MscTransportParams {
  transportId: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}

/** What the server answers to "consume" (sfu-consumed). `peerId` is the producing peer. */
export interface MscConsumerParams {
  consumerId: string;
  producerId: string;
  kind: MediaKind;
  rtpParameters: unknown;
  peerId?: string;
  source?: MediaSource;
}

export interface MscProduceRequest {
  transportId: string;
  kind: MediaKind;
  rtpParameters: MscRtpParameters;
  source: MediaSource;
  paused?: boolean;
}

/** The SFU requests as callbacks (one per SFU wire message). */
export interface MscSignaling {
  /** sfu-join: registers the device's receive capabilities; returns the producers already there. */
  join(rtpCapabilities: MscRtpCapabilities): Promise<{ producerId: string; peerId: string }[]>;
  createTransport(direction: 'send' | 'recv'): Promise<MscTransportParams>;
  connectTransport(transportId: string, dtlsParameters: MscDtlsParameters): Promise<void>;
  produce(request: MscProduceRequest): Promise<string>;
  consume(producerId: string, rtpCapabilities: MscRtpCapabilities): Promise<MscConsumerParams>;
  resumeConsumer(consumerId: string): Promise<void>;
}

/** Counters of one consumed stream, as the client saw it. */
export interface ReceivedStream {
  consumerId: string;
  producerId: string;
  kind: MediaKind;
  packets: number;
  bytes: number;
  keyframes: number;
  consumer: types.Consumer;
}

/** The capabilities the werift handler offers: Opus, and VP8 with NACK/PLI/FIR/REMB. */
function weriftCapabilities() {
  return {
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/VP8',
          clockRate: 90000,
          rtcpFeedback: [useNACK(), usePLI(), useFIR(), useREMB()],
        }),
      ],
    },
    headerExtensions: {
      audio: [useSdesMid(), useAudioLevelIndication()],
      video: [useSdesMid(), useAbsSendTime()],
    },
  };
}

const random32 = () => Math.floor(Math.random() * 0xffffffff) >>> 0;
const random16 = () => Math.floor(Math.random() * 0xffff);

/**
 * RTP that looks real enough for mediasoup: Opus (20 ms packets) or VP8 (one packet per frame,
 * a full VP8 payload descriptor with a 15-bit picture id, a proper keyframe header). It pushes
 * packets into a werift MediaStreamTrack; the RTCRtpSender rewrites SSRC, payload type and header
 * extensions, and drops packets until DTLS is up.
 */
export class SyntheticRtpSource {
  readonly kind: MediaKind;
  readonly track: MediaStreamTrack;
  packetsSent = 0;
  bytesSent = 0;
  keyframesSent = 0;
  #timer: NodeJS.Timeout | undefined;
  #seq = random16();
  #timestamp = random32();
  #pictureId = random16() & 0x7fff;
  #frame = 0;
  #keyframeRequested = true;
  /**
   * Audio: the level this source claims in the ssrc-audio-level header extension (RFC 6464: −dBov,
   * 0 loudest … 127 silence), and the extension's negotiated id; undefined: no extension.
   */
  audioLevel: { dBov: number; extensionId: number } | undefined;
  /**
   * Video: the bit rate to send (frames of kbps/8/20 KB, split into packets of at most 1 100 bytes,
   * the marker on the last); undefined: one small packet per frame (~20 kbps).
   */
  videoKbps: number | undefined;

  constructor(kind: MediaKind) {
    this.kind = kind;
    this.track = new MediaStreamTrack({ kind });
  }

  /** Audio: a packet every 20 ms. Video: a frame every 50 ms, a keyframe each second and on request. */
  start(): void {
    if (this.#timer) return;
    const periodMs = this.kind === 'audio' ? 20 : 50;
    this.#timer = setInterval(() => this.#tick(), periodMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Answer to a PLI/FIR: the next frame is a keyframe. */
  requestKeyframe(): void {
    this.#keyframeRequested = true;
  }

  #tick(): void {
    if (this.kind === 'video' && this.videoKbps !== undefined) {
      this.#bigFrame(this.videoKbps);
      return;
    }
    const payload = this.kind === 'audio' ? this.#opusPayload() : this.#vp8Payload();
    const header = new RtpHeader({
      payloadType: 96, // rewritten by the sender
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      ssrc: 0, // rewritten by the sender
      marker: this.kind === 'video', // one packet per frame: every packet ends its frame
    });
    if (this.audioLevel) {
      // The V bit (voice activity) set for anything louder than −127 dBov.
      const { dBov, extensionId } = this.audioLevel;
      header.extensions = [{ id: extensionId, payload: Buffer.from([(dBov < 127 ? 0x80 : 0) | dBov]) }];
    }
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + (this.kind === 'audio' ? 960 : 4500)) >>> 0;
    this.track.writeRtp(new RtpPacket(header, payload));
    this.packetsSent++;
    this.bytesSent += payload.length;
  }

  /** One frame of a `kbps` stream in several packets: the first starts the frame (S=1), the last ends it. */
  #bigFrame(kbps: number): void {
    const frame = this.#vp8Payload();
    const frameBytes = Math.max(frame.length, Math.round((kbps * 1000) / 8 / 20));
    const descriptorBytes = 4;
    const body = Buffer.alloc(frameBytes - descriptorBytes);
    frame.copy(body, 0, descriptorBytes);
    for (let i = frame.length - descriptorBytes; i < body.length; i++) body[i] = (Math.random() * 256) | 0;
    const chunk = 1100;
    for (let offset = 0; offset < body.length; offset += chunk) {
      const first = offset === 0;
      const last = offset + chunk >= body.length;
      const descriptor = Buffer.from(frame.subarray(0, descriptorBytes));
      if (!first) descriptor[0] = 0x80; // X=1, S=0: a continuation of the frame
      const payload = Buffer.concat([
        descriptor,
        body.subarray(offset, Math.min(offset + chunk, body.length)),
      ]);
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: this.#seq,
        timestamp: this.#timestamp,
        ssrc: 0,
        marker: last,
      });
      this.#seq = (this.#seq + 1) & 0xffff;
      this.track.writeRtp(new RtpPacket(header, payload));
      this.packetsSent++;
      this.bytesSent += payload.length;
    }
    this.#timestamp = (this.#timestamp + 4500) >>> 0;
  }

  #opusPayload(): Buffer {
    // TOC: config 31 (CELT fullband 20 ms), stereo, one frame; then noise.
    const payload = Buffer.alloc(60);
    payload[0] = 0xfc;
    for (let i = 1; i < payload.length; i++) payload[i] = (Math.random() * 256) | 0;
    return payload;
  }

  #vp8Payload(): Buffer {
    const keyframe = this.#keyframeRequested || this.#frame % 20 === 0;
    this.#keyframeRequested = false;
    this.#frame++;
    this.#pictureId = (this.#pictureId + 1) & 0x7fff;
    // Payload descriptor: X=1 S=1 PID=0 | I=1 | M=1 + 15-bit picture id.
    const descriptor = [0x90, 0x80, 0x80 | (this.#pictureId >> 8), this.#pictureId & 0xff];
    const size = keyframe ? 400 : 120;
    const firstPartitionSize = 40;
    // Frame tag (RFC 6386 9.1): bit 0 = 0 for a keyframe, version 0, show_frame 1, partition size.
    const tag = (keyframe ? 0 : 1) | (1 << 4) | (firstPartitionSize << 5);
    const header = [tag & 0xff, (tag >> 8) & 0xff, (tag >> 16) & 0xff];
    // Keyframe start code and 320x240, 14-bit sizes with no scaling.
    const keyHeader = keyframe ? [0x9d, 0x01, 0x2a, 320 & 0xff, 320 >> 8, 240 & 0xff, 240 >> 8] : [];
    const fixed = [...descriptor, ...header, ...keyHeader];
    const payload = Buffer.alloc(size);
    Buffer.from(fixed).copy(payload, 0);
    for (let i = fixed.length; i < size; i++) payload[i] = (Math.random() * 256) | 0;
    if (keyframe) this.keyframesSent++;
    return payload;
  }
}

/** True when a VP8 RTP payload starts a keyframe (same test as mediasoup's VP8 parser). */
export function isVp8Keyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  let offset = 0;
  const first = payload[offset] ?? 0;
  const extended = (first & 0x80) !== 0;
  const start = (first & 0x10) !== 0;
  const partition = first & 0x07;
  let i = false;
  let l = false;
  let tk = false;
  if (extended) {
    const x = payload[++offset] ?? 0;
    i = (x & 0x80) !== 0;
    l = (x & 0x40) !== 0;
    tk = (x & 0x20) !== 0 || (x & 0x10) !== 0;
  }
  if (i) {
    const pid = payload[++offset] ?? 0;
    if (pid & 0x80) offset++;
  }
  if (l) offset++;
  if (tk) offset++;
  offset++;
  const tag = payload[offset];
  return tag !== undefined && start && partition === 0 && (tag & 0x01) === 0;
}

export interface MscPeerOptions {
  peerId: string;
  routerRtpCapabilities: unknown;
  signaling: MscSignaling;
}

/** A produced synthetic stream. */
export interface ProducedStream {
  producerId: string;
  kind: MediaKind;
  source: MediaSource;
  generator: SyntheticRtpSource;
  producer: types.Producer;
}

/** One client: an msc-node Device with (lazily created) send and recv transports. */
export class MscPeer {
  readonly peerId: string;
  readonly device: Device;
  readonly signaling: MscSignaling;
  readonly produced = new Map<string, ProducedStream>();
  readonly received = new Map<string, ReceivedStream>();
  sendTransport: types.Transport | undefined;
  recvTransport: types.Transport | undefined;
  #closed = false;

  static async create(options: MscPeerOptions): Promise<MscPeer> {
    const device = new Device(weriftCapabilities(), { handlerName: 'werift' });
    await device.load({ routerRtpCapabilities: options.routerRtpCapabilities as MscRtpCapabilities });
    return new MscPeer(options, device);
  }

  private constructor(options: MscPeerOptions, device: Device) {
    this.peerId = options.peerId;
    this.signaling = options.signaling;
    this.device = device;
  }

  get rtpCapabilities(): MscRtpCapabilities {
    return this.device.rtpCapabilities;
  }

  /** sfu-join with this device's capabilities. */
  join(): Promise<{ producerId: string; peerId: string }[]> {
    return this.signaling.join(this.device.rtpCapabilities);
  }

  async ensureSendTransport(): Promise<types.Transport> {
    if (!this.sendTransport) this.sendTransport = await this.#createTransport('send');
    return this.sendTransport;
  }

  async ensureRecvTransport(): Promise<types.Transport> {
    if (!this.recvTransport) this.recvTransport = await this.#createTransport('recv');
    return this.recvTransport;
  }

  /** Produces synthetic Opus (mic) or VP8 (camera) and starts the packet clock. */
  async produce(
    kind: MediaKind,
    source: MediaSource = kind === 'audio' ? 'mic' : 'camera',
    options: { audioLevelDbov?: number; videoKbps?: number } = {},
  ): Promise<ProducedStream> {
    const transport = await this.ensureSendTransport();
    const generator = new SyntheticRtpSource(kind);
    generator.videoKbps = options.videoKbps;
    const producer = await transport.produce({ track: generator.track, appData: { source } });
    const levelExtension = producer.rtpParameters.headerExtensions?.find(
      (e) => e.uri === 'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
    );
    if (options.audioLevelDbov !== undefined && levelExtension) {
      generator.audioLevel = { dBov: options.audioLevelDbov, extensionId: levelExtension.id };
    }
    // mediasoup asks for a keyframe (PLI, or FIR) whenever a consumer starts or resumes.
    const sender = producer.rtpSender;
    sender?.onPictureLossIndication.subscribe(() => generator.requestKeyframe());
    sender?.onRtcp.subscribe((packet) => {
      // FIR is payload-specific feedback format 4.
      const feedback = (packet as { feedback?: { count?: number } }).feedback;
      if (packet.type === 206 && feedback?.count === 4) generator.requestKeyframe();
    });
    generator.start();
    const stream: ProducedStream = { producerId: producer.id, kind, source, generator, producer };
    this.produced.set(producer.id, stream);
    return stream;
  }

  /** Consumes a producer: asks the server, builds the local consumer, counts what arrives, resumes. */
  async consume(producerId: string): Promise<ReceivedStream> {
    const transport = await this.ensureRecvTransport();
    const params = await this.signaling.consume(producerId, this.device.rtpCapabilities);
    const consumer = await transport.consume({
      id: params.consumerId,
      producerId: params.producerId,
      kind: params.kind,
      rtpParameters: params.rtpParameters as MscRtpParameters,
    });
    const stream: ReceivedStream = {
      consumerId: params.consumerId,
      producerId: params.producerId,
      kind: params.kind,
      packets: 0,
      bytes: 0,
      keyframes: 0,
      consumer,
    };
    consumer.track.onReceiveRtp.subscribe((rtp) => {
      stream.packets++;
      stream.bytes += rtp.serializeSize;
      if (stream.kind === 'video' && isVp8Keyframe(rtp.payload)) stream.keyframes++;
    });
    this.received.set(params.producerId, stream);
    await this.signaling.resumeConsumer(params.consumerId);
    return stream;
  }

  /** Packets this client received from one producer (0 when not consumed). */
  receivedFrom(producerId: string): number {
    return this.received.get(producerId)?.packets ?? 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of this.produced.values()) stream.generator.stop();
    this.sendTransport?.close();
    this.recvTransport?.close();
  }

  async #createTransport(direction: 'send' | 'recv'): Promise<types.Transport> {
    const params = await this.signaling.createTransport(direction);
    const options = {
      id: params.transportId,
      iceParameters: params.iceParameters as types.IceParameters,
      iceCandidates: params.iceCandidates as types.IceCandidate[],
      dtlsParameters: params.dtlsParameters as MscDtlsParameters,
    };
    const transport =
      direction === 'send'
        ? this.device.createSendTransport(options)
        : this.device.createRecvTransport(options);
    transport.on(
      'connect',
      (
        { dtlsParameters }: { dtlsParameters: MscDtlsParameters },
        callback: () => void,
        errback: (error: Error) => void,
      ) => {
        this.signaling.connectTransport(transport.id, dtlsParameters).then(callback, errback);
      },
    );
    if (direction === 'send') {
      transport.on(
        'produce',
        (
          {
            kind,
            rtpParameters,
            appData,
          }: { kind: MediaKind; rtpParameters: MscRtpParameters; appData: { source?: MediaSource } },
          callback: (result: { id: string }) => void,
          errback: (error: Error) => void,
        ) => {
          const source = appData.source ?? (kind === 'audio' ? 'mic' : 'camera');
          this.signaling
            .produce({ transportId: transport.id, kind, rtpParameters, source })
            .then((id) => callback({ id }), errback);
        },
      );
    }
    return transport;
  }
}

/** Polls `condition` until it holds or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
