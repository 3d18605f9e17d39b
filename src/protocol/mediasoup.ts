import { z } from 'zod';

/*
 * Schemas for the mediasoup parameter objects that clients send. Every one is checked here before it
 * can reach a worker: a malformed object (an empty `fingerprints` array, say, mediasoup#537) must be
 * refused at the edge, never passed to C++. Unknown keys are stripped.
 */

const ParamValue = z.union([z.string().max(256), z.number(), z.boolean()]);
const CodecParameters = z.record(z.string().max(64), ParamValue);

export const RtcpFeedback = z.object({
  type: z.string().min(1).max(64),
  parameter: z.string().max(64).optional(),
});

export const MediaKind = z.enum(['audio', 'video']);
export type MediaKind = z.infer<typeof MediaKind>;

const MimeType = z
  .string()
  .max(64)
  .regex(/^(audio|video)\/[A-Za-z0-9._-]+$/, 'must look like audio/opus or video/VP8');

const PayloadType = z.number().int().min(0).max(127);
const Ssrc = z.number().int().min(0).max(0xffffffff);

export const RtpCodecParameters = z.object({
  mimeType: MimeType,
  payloadType: PayloadType,
  clockRate: z.number().int().positive(),
  channels: z.number().int().positive().max(8).optional(),
  parameters: CodecParameters.optional(),
  rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
});

export const RtpHeaderExtensionParameters = z.object({
  uri: z.string().min(1).max(256),
  id: z.number().int().min(1).max(255),
  encrypt: z.boolean().optional(),
  parameters: CodecParameters.optional(),
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
  priority: z.enum(['very-low', 'low', 'medium', 'high']).optional(),
  networkPriority: z.enum(['very-low', 'low', 'medium', 'high']).optional(),
});

export const RtcpParameters = z.object({
  cname: z.string().max(256).optional(),
  reducedSize: z.boolean().optional(),
  mux: z.boolean().optional(),
});

export const RtpParameters = z.object({
  mid: z.string().max(32).optional(),
  codecs: z.array(RtpCodecParameters).min(1).max(32),
  headerExtensions: z.array(RtpHeaderExtensionParameters).max(32).optional(),
  encodings: z.array(RtpEncodingParameters).min(1).max(8).optional(),
  rtcp: RtcpParameters.optional(),
});
export type RtpParameters = z.infer<typeof RtpParameters>;

export const RtpCodecCapability = z.object({
  kind: MediaKind,
  mimeType: MimeType,
  preferredPayloadType: PayloadType.optional(),
  clockRate: z.number().int().positive(),
  channels: z.number().int().positive().max(8).optional(),
  parameters: CodecParameters.optional(),
  rtcpFeedback: z.array(RtcpFeedback).max(32).optional(),
});

export const RtpHeaderExtension = z.object({
  kind: MediaKind,
  uri: z.string().min(1).max(256),
  preferredId: z.number().int().min(1).max(255),
  preferredEncrypt: z.boolean().optional(),
  direction: z.enum(['sendrecv', 'sendonly', 'recvonly', 'inactive']).optional(),
});

export const RtpCapabilities = z.object({
  codecs: z.array(RtpCodecCapability).max(64).optional(),
  headerExtensions: z.array(RtpHeaderExtension).max(64).optional(),
});
export type RtpCapabilities = z.infer<typeof RtpCapabilities>;

export const DtlsFingerprint = z.object({
  algorithm: z.enum(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']),
  value: z
    .string()
    .min(1)
    .max(256)
    .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/, 'must be colon-separated hex bytes'),
});

export const DtlsParameters = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z.array(DtlsFingerprint).min(1, 'needs at least one fingerprint').max(8),
});
export type DtlsParameters = z.infer<typeof DtlsParameters>;

/** Server-to-client transport description; not validated on the way out, only typed. */
export const IceParameters = z.object({
  usernameFragment: z.string(),
  password: z.string(),
  iceLite: z.boolean().optional(),
});
export const IceCandidate = z.object({
  foundation: z.string(),
  priority: z.number(),
  address: z.string(),
  ip: z.string().optional(),
  protocol: z.enum(['udp', 'tcp']),
  port: z.number(),
  type: z.enum(['host', 'srflx', 'prflx', 'relay']),
  tcpType: z.enum(['active', 'passive', 'so']).optional(),
});

export const MediaSource = z.enum(['mic', 'camera', 'screen', 'screen-audio']);
export type MediaSource = z.infer<typeof MediaSource>;
