import type { types as ms } from 'mediasoup';

/**
 * The codecs every room router offers. Opus for audio; VP8 first for video (every browser and
 * msc-node/werift speak it), then VP9 profile 0 and H264 constrained baseline (packetization-mode 1,
 * profile-level-id 42e01f) for Safari and hardware encoders. mediasoup assigns payload types and
 * adds RTX itself. x-google-start-bitrate (kbps) makes Chrome start near a usable bitrate.
 */
export const routerMediaCodecs: readonly ms.RouterRtpCodecCapability[] = Object.freeze([
  {
    kind: 'audio',
    mimeType: 'audio/opus',
    clockRate: 48000,
    channels: 2,
  },
  {
    kind: 'video',
    mimeType: 'video/VP8',
    clockRate: 90000,
    parameters: { 'x-google-start-bitrate': 1000 },
  },
  {
    kind: 'video',
    mimeType: 'video/VP9',
    clockRate: 90000,
    parameters: { 'profile-id': 0, 'x-google-start-bitrate': 1000 },
  },
  {
    kind: 'video',
    mimeType: 'video/H264',
    clockRate: 90000,
    parameters: {
      'packetization-mode': 1,
      'profile-level-id': '42e01f',
      'level-asymmetry-allowed': 1,
      'x-google-start-bitrate': 1000,
    },
  },
]);
