/**
 * The SFU benchmark's topology on a given mediasoup Router, shared by both hosts (OpenCall's in
 * bench/lib/openCallSfuHost.ts, the bare one in bench/baselines/bareMediasoup.ts), driven over IPC
 * by bench/sfu.ts:
 *
 *   producer side: one PlainTransport (comedia, rtcpMux) with an opus and a VP8 producer, fed by
 *                  synthetic RTP from the bench process;
 *   consumer side: one PlainTransport per consumer, connected to a UDP sink of the bench process,
 *                  consuming both producers (created paused, then resumed, as OpenCall's clients do).
 *
 * Uses mediasoup's types only: nothing of OpenCall.
 */
import type { types as ms } from 'mediasoup';

export interface StreamSpec {
  pt: number;
  ssrc: number;
}

export type HostCommand =
  | { cmd: 'setup'; audio: StreamSpec; video: StreamSpec }
  | { cmd: 'grow'; total: number; sinkPorts: number[]; concurrency: number }
  | { cmd: 'producer-stats' }
  | { cmd: 'close' };

export type HostReply =
  | { type: 'hello' }
  | { type: 'ready'; workerPid: number; producerPort: number; routerId: string; via: string }
  | {
      type: 'grown';
      consumers: number;
      /** SSRC and kind of every consumer stream created by this command. */
      ssrcs: Array<[number, 'audio' | 'video']>;
      ms: number;
    }
  | { type: 'producer-stats'; audioPackets: number; videoPackets: number }
  | { type: 'error'; message: string };

const LOOPBACK = '127.0.0.1';

export function producerRtpParameters(kind: 'audio' | 'video', spec: StreamSpec): ms.RtpParameters {
  return kind === 'audio'
    ? {
        codecs: [
          {
            mimeType: 'audio/opus',
            payloadType: spec.pt,
            clockRate: 48000,
            channels: 2,
            parameters: { useinbandfec: 1 },
            rtcpFeedback: [],
          },
        ],
        encodings: [{ ssrc: spec.ssrc }],
      }
    : {
        codecs: [
          {
            mimeType: 'video/VP8',
            payloadType: spec.pt,
            clockRate: 90000,
            rtcpFeedback: [
              { type: 'nack' },
              { type: 'nack', parameter: 'pli' },
              { type: 'ccm', parameter: 'fir' },
            ],
          },
        ],
        encodings: [{ ssrc: spec.ssrc }],
      };
}

/**
 * What the consumers declare they can receive: the router's capabilities without transport-cc.
 * The sink never sends transport-wide feedback, and without feedback mediasoup's send-side history
 * (webrtc::SendTimeHistory) keeps every packet for its whole window: a cost (and memory) that no
 * real receiver causes. REMB stays, so bandwidth estimation runs in its light form.
 */
export function consumerRtpCapabilities(router: ms.Router): ms.RtpCapabilities {
  const caps = router.rtpCapabilities;
  return {
    codecs: (caps.codecs ?? []).map((c) => ({
      ...c,
      rtcpFeedback: (c.rtcpFeedback ?? []).filter((fb) => fb.type !== 'transport-cc'),
    })),
    headerExtensions: (caps.headerExtensions ?? []).filter((h) => !h.uri.includes('transport-wide-cc')),
  };
}

/** Serves the IPC protocol above for one router; `close` runs on the close command. */
export function serveTopology(router: ms.Router, workerPid: number, via: string, close: () => void): void {
  let audio: ms.Producer | undefined;
  let video: ms.Producer | undefined;
  const consumerTransports: ms.PlainTransport[] = [];
  const consumerCaps = consumerRtpCapabilities(router);

  const reply = (r: HostReply) => process.send?.(r);

  const addConsumer = async (sinkPort: number): Promise<Array<[number, 'audio' | 'video']>> => {
    const transport = await router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: LOOPBACK },
      rtcpMux: true,
      comedia: false,
    });
    consumerTransports.push(transport);
    await transport.connect({ ip: LOOPBACK, port: sinkPort });
    const out: Array<[number, 'audio' | 'video']> = [];
    for (const producer of [audio, video]) {
      if (!producer) throw new Error('setup first');
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: consumerCaps,
        paused: true,
      });
      await consumer.resume();
      const ssrc = consumer.rtpParameters.encodings?.[0]?.ssrc;
      if (ssrc !== undefined) out.push([ssrc, consumer.kind]);
    }
    return out;
  };

  process.on('message', (command: HostCommand) => {
    void (async () => {
      try {
        if (command.cmd === 'setup') {
          const transport = await router.createPlainTransport({
            listenInfo: { protocol: 'udp', ip: LOOPBACK },
            rtcpMux: true,
            comedia: true,
          });
          audio = await transport.produce({
            kind: 'audio',
            rtpParameters: producerRtpParameters('audio', command.audio),
          });
          video = await transport.produce({
            kind: 'video',
            rtpParameters: producerRtpParameters('video', command.video),
          });
          reply({
            type: 'ready',
            workerPid,
            producerPort: transport.tuple.localPort,
            routerId: router.id,
            via,
          });
        } else if (command.cmd === 'grow') {
          const t0 = performance.now();
          const ssrcs: Array<[number, 'audio' | 'video']> = [];
          const base = consumerTransports.length;
          let next = base;
          const lane = async () => {
            while (next < command.total) {
              const i = next++;
              const port = command.sinkPorts[i % command.sinkPorts.length] as number;
              ssrcs.push(...(await addConsumer(port)));
            }
          };
          await Promise.all(Array.from({ length: command.concurrency }, lane));
          reply({ type: 'grown', consumers: consumerTransports.length, ssrcs, ms: performance.now() - t0 });
        } else if (command.cmd === 'producer-stats') {
          const count = async (p: ms.Producer | undefined) =>
            p ? (await p.getStats()).reduce((n, s) => n + s.packetCount, 0) : 0;
          reply({
            type: 'producer-stats',
            audioPackets: await count(audio),
            videoPackets: await count(video),
          });
        } else if (command.cmd === 'close') {
          close();
          setTimeout(() => process.exit(0), 100);
        }
      } catch (err) {
        reply({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
  process.on('disconnect', () => {
    close();
    process.exit(0);
  });
  reply({ type: 'hello' });
}
