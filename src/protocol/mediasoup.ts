import { z } from 'zod';

/*
 * The mediasoup parameter objects that cross the wire, typed to match mediasoup's own types (the
 * server) and mediasoup-client's (the SDK); test/unit/protocolTypes.test.ts checks at compile time
 * that they stay assignable in the direction each one travels, so an upgrade of either library
 * that changes them fails `tsc`.
 *
 * Two families:
 * - inbound (client → server): every object is validated here before it can reach a worker. A
 *   malformed one (an empty `fingerprints` array, say: mediasoup#537) is refused at the edge, never
 *   passed to C++. Strings and arrays are bounded; unknown keys are stripped.
 * - outbound (server → client): typed, not validated (the server builds them from mediasoup); codec
 *   `parameters` are as open as mediasoup's own.
 */

export const MediaKind = z.enum(['audio', 'video']);
export type MediaKind = z.infer<typeof MediaKind>;

export const MediaSource = z.enum(['mic', 'camera', 'screen', 'screen-audio']);
export type MediaSource = z.infer<typeof MediaSource>;

/** Every RTP header extension mediasoup knows (its RtpHeaderExtensionUri). */
export const RtpHeaderExtensionUri = z.enum([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension',
  'urn:3gpp:video-orientation',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time',
  'urn:ietf:params:rtp-hdrext:toffset',
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay',
  'urn:mediasoup:params:rtp-hdrext:packet-id',
]);
export type RtpHeaderExtensionUri = z.infer<typeof RtpHeaderExtensionUri>;

const MimeType = z
  .string()
  .max(64)
  .regex(/^(audio|video)\/[A-Za-z0-9._-]+$/, 'must look like audio/opus or video/VP8');
const PayloadType = z.number().int().min(0).max(127);
const Ssrc = z.number().int().min(0).max(0xffffffff);
const Priority = z.enum(['very-low', 'low', 'medium', 'high']);

/** Codec parameters from a client: short keys, scalar values. */
const InboundCodecParameters = z.record(
  z.string().max(64),
  z.union([z.string().max(256), z.number(), z.boolean()]),
);
/** Codec parameters from mediasoup: whatever it puts there. */
const OutboundCodecParameters = z.record(z.string(), z.unknown());

export const RtcpFeedback = z.object({
  type: z.string().min(1).max(64),
  parameter: z.string().max(64).optional(),
});

const rtpCodecCapability = <P extends z.ZodType>(parameters: P) =>
  z.object({
    kind: MediaKind,
    mimeType: MimeType,
    preferredPayloadType: PayloadType,
    clockRate: z.number().int().positive(),
    channels: z.number().int().positive().max(8).optional(),
    parameters: parameters.optional(),
    rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
  });

export const RtpHeaderExtension = z.object({
  kind: MediaKind,
  uri: RtpHeaderExtensionUri,
  preferredId: z.number().int().min(1).max(255),
  preferredEncrypt: z.boolean().optional(),
  direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
});

const rtpCapabilities = <P extends z.ZodType>(parameters: P) =>
  z.object({
    codecs: z.array(rtpCodecCapability(parameters)).max(64).optional(),
    headerExtensions: z.array(RtpHeaderExtension).max(64).optional(),
  });

const rtpCodecParameters = <P extends z.ZodType>(parameters: P) =>
  z.object({
    mimeType: MimeType,
    payloadType: PayloadType,
    clockRate: z.number().int().positive(),
    channels: z.number().int().positive().max(8).optional(),
    parameters: parameters.optional(),
    rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
  });

const rtpHeaderExtensionParameters = <P extends z.ZodType>(parameters: P) =>
  z.object({
    uri: RtpHeaderExtensionUri,
    id: z.number().int().min(1).max(255),
    encrypt: z.boolean().optional(),
    parameters: parameters.optional(),
  });

export const RtpEncodingParameters = z.object({
  ssrc: Ssrc.optional(),
  rid: z.string().max(32).optional(),
  codecPayloadType: PayloadType.optional(),
  rtx: z.object({ ssrc: Ssrc }).optional(),
  dtx: z.boolean().optional(),
  scalabilityMode: z.string().max(16).optional(),
  scaleResolutionDownBy: z.number().positive().optional(),
  maxBitrate: z.number().int().positive().optional(),
  maxFramerate: z.number().positive().optional(),
  adaptivePtime: z.boolean().optional(),
  priority: Priority.optional(),
  networkPriority: Priority.optional(),
});

export const RtcpParameters = z.object({
  cname: z.string().max(256).optional(),
  reducedSize: z.boolean().optional(),
  mux: z.boolean().optional(),
});

const rtpParameters = <P extends z.ZodType>(parameters: P) =>
  z.object({
    mid: z.string().max(32).optional(),
    codecs: z.array(rtpCodecParameters(parameters)).min(1).max(32),
    headerExtensions: z.array(rtpHeaderExtensionParameters(parameters)).max(32).optional(),
    encodings: z.array(RtpEncodingParameters).min(1).max(8).optional(),
    rtcp: RtcpParameters.optional(),
    msid: z.string().max(256).optional(),
  });

// ------------------------------------------------------------------------------- inbound

/** What a client can receive (sfu-join, sfu-consume): its Device's recvRtpCapabilities. */
export const RtpCapabilities = rtpCapabilities(InboundCodecParameters);
export type RtpCapabilities = z.infer<typeof RtpCapabilities>;

/** What a client sends (sfu-produce): the producer's RTP parameters. */
export const RtpParameters = rtpParameters(InboundCodecParameters);
export type RtpParameters = z.infer<typeof RtpParameters>;

export const DtlsFingerprint = z.object({
  algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
  value: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/, 'must be colon-separated hex bytes'),
});

/** A transport's DTLS side, both ways (sfu-connect-transport in, sfu-transport-created out). */
export const DtlsParameters = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z.array(DtlsFingerprint).min(1, 'needs at least one fingerprint').max(8),
});
export type DtlsParameters = z.infer<typeof DtlsParameters>;

// ------------------------------------------------------------------------------- outbound

/** A router's capabilities, as the server hands them to clients (room-joined, mode-changed, sfu-restart). */
export const RouterRtpCapabilities = rtpCapabilities(OutboundCodecParameters);
export type RouterRtpCapabilities = z.infer<typeof RouterRtpCapabilities>;

/** A consumer's RTP parameters, as sfu-consumed gives them. */
export const ConsumerRtpParameters = rtpParameters(OutboundCodecParameters);
export type ConsumerRtpParameters = z.infer<typeof ConsumerRtpParameters>;

export const IceParameters = z.object({
  usernameFragment: z.string(),
  password: z.string(),
  iceLite: z.boolean().optional(),
});
export type IceParameters = z.infer<typeof IceParameters>;

export const IceCandidate = z.object({
  foundation: z.string(),
  priority: z.number(),
  address: z.string(),
  ip: z.string(),
  protocol: z.enum(['udp', 'tcp']),
  port: z.number(),
  type: z.enum(['host', 'srflx', 'prflx', 'relay']),
  tcpType: z.enum(['active', 'passive', 'so']).optional(),
});
export type IceCandidate = z.infer<typeof IceCandidate>;

/** SCTP parameters of a transport with data channels. */
export const SctpParameters = z.object({
  port: z.number().int(),
  /** Largest message the transport's data consumers send / its data producers take, in bytes. */
  maxSendMessageSize: z.number().int(),
  maxReceiveMessageSize: z.number().int(),
  OS: z.number().int(),
  MIS: z.number().int(),
  maxMessageSize: z.number().int(),
});
export type SctpParameters = z.infer<typeof SctpParameters>;

/** One data channel's stream on a transport's SCTP association. */
export const SctpStreamParameters = z.object({
  streamId: z.number().int().min(0).max(65534),
  ordered: z.boolean().optional(),
  maxPacketLifeTime: z.number().int().min(0).optional(),
  maxRetransmits: z.number().int().min(0).optional(),
});
export type SctpStreamParameters = z.infer<typeof SctpStreamParameters>;
