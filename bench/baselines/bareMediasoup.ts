/**
 * Baseline for bench/sfu.ts: the same topology built straight on mediasoup, without OpenCall —
 * one worker (mediasoup.createWorker, log level warn as OpenCall's default), one router with the
 * same codec list as OpenCall's rooms, and the PlainTransport topology of bench/lib/sfuTopology.ts.
 * Runs as a child of bench/sfu.ts (IPC); MEDIASOUP_WORKER_BIN is honoured by mediasoup itself.
 */

import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { serveTopology } from '../lib/sfuTopology.ts';

/** The same codecs as src/sfu/mediaCodecs.ts, copied so that this script imports nothing of OpenCall. */
const mediaCodecs: ms.RouterRtpCodecCapability[] = [
  { kind: 'audio', mimeType: 'audio/opus', clockRate: 48000, channels: 2 },
  { kind: 'video', mimeType: 'video/VP8', clockRate: 90000, parameters: { 'x-google-start-bitrate': 1000 } },
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
];

const worker = await mediasoup.createWorker({ logLevel: 'warn' });
worker.on('died', (err) => {
  process.stderr.write(`bareMediasoup: worker died: ${err.message}\n`);
  process.exit(1);
});
const router = await worker.createRouter({ mediaCodecs });
serveTopology(router, worker.pid, 'mediasoup.createWorker + worker.createRouter', () => worker.close());
