import type { types as msc } from 'mediasoup-client';
import type {
  ConsumerRtpParameters,
  RouterRtpCapabilities,
  RtpCapabilities,
  RtpHeaderExtensionUri,
  RtpParameters,
} from '../protocol/index.ts';

/*
 * The SDK's side of the typed mediasoup payloads (protocol/mediasoup.ts): conversions between the
 * wire types and mediasoup-client's own, without casts.
 *
 * The two libraries' types differ where versions differ: the server's mediasoup knows header
 * extensions (toffset) that this mediasoup-client does not, and mediasoup-client types codec
 * parameters as `unknown` where the wire carries scalars. What the other side cannot express is
 * dropped here (a header extension the Device would not negotiate anyway, a non-scalar parameter
 * the server would refuse), so a version skew degrades a feature instead of breaking the call, and
 * a type change in either library fails `tsc` here.
 */

type WireRtpCapabilities = RtpCapabilities;
type WireRtpParameters = RtpParameters;
type Scalar = string | number | boolean;

/** Every header extension URI this mediasoup-client knows; `satisfies` keeps it in step with its type. */
const clientHeaderExtensionUris = {
  'urn:ietf:params:rtp-hdrext:sdes:mid': true,
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id': true,
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id': true,
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time': true,
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01': true,
  'urn:ietf:params:rtp-hdrext:ssrc-audio-level': true,
  'https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension': true,
  'urn:3gpp:video-orientation': true,
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time': true,
  'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay': true,
  'urn:mediasoup:params:rtp-hdrext:packet-id': true,
} satisfies Record<msc.RtpHeaderExtensionUri, true>;

function isClientUri(uri: RtpHeaderExtensionUri): uri is msc.RtpHeaderExtensionUri {
  return Object.hasOwn(clientHeaderExtensionUris, uri);
}

function scalars(parameters: Record<string, unknown> | undefined): Record<string, Scalar> | undefined {
  if (!parameters) return undefined;
  const out: Record<string, Scalar> = {};
  for (const [key, value] of Object.entries(parameters)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      out[key] = value;
  }
  return out;
}

/** A router's capabilities (room-joined, mode-changed, sfu-restart) for Device.load. */
export function toDeviceRtpCapabilities(caps: RouterRtpCapabilities): msc.RtpCapabilities {
  const headerExtensions: msc.RtpHeaderExtension[] = [];
  for (const ext of caps.headerExtensions ?? []) {
    const uri = ext.uri;
    if (isClientUri(uri)) headerExtensions.push({ ...ext, uri });
  }
  return { ...(caps.codecs ? { codecs: caps.codecs } : {}), headerExtensions };
}

/** A consumer's RTP parameters (sfu-consumed) for transport.consume. */
export function toDeviceRtpParameters(parameters: ConsumerRtpParameters): msc.RtpParameters {
  const headerExtensions: msc.RtpHeaderExtensionParameters[] = [];
  for (const ext of parameters.headerExtensions ?? []) {
    const uri = ext.uri;
    if (isClientUri(uri)) headerExtensions.push({ ...ext, uri });
  }
  return { ...parameters, headerExtensions };
}

/** The Device's receive capabilities, for sfu-join. */
export function toWireRtpCapabilities(caps: msc.RtpCapabilities): WireRtpCapabilities {
  return {
    ...(caps.codecs
      ? {
          codecs: caps.codecs.map(({ parameters, ...codec }) => {
            const wire = scalars(parameters);
            return wire ? { ...codec, parameters: wire } : codec;
          }),
        }
      : {}),
    ...(caps.headerExtensions ? { headerExtensions: caps.headerExtensions } : {}),
  };
}

/** A producer's RTP parameters, for sfu-produce. */
export function toWireRtpParameters(parameters: msc.RtpParameters): WireRtpParameters {
  return {
    ...parameters,
    codecs: parameters.codecs.map(({ parameters: codecParameters, ...codec }) => {
      const wire = scalars(codecParameters);
      return wire ? { ...codec, parameters: wire } : codec;
    }),
    ...(parameters.headerExtensions
      ? {
          headerExtensions: parameters.headerExtensions.map(({ parameters: extParameters, ...ext }) => {
            const wire = scalars(extParameters);
            return wire ? { ...ext, parameters: wire } : ext;
          }),
        }
      : {}),
  };
}
