/**
 * sfuSetup: consumer set-up rate over real WebRTC transports (ICE + DTLS + SRTP), issue 12.
 *
 * One publisher (synthetic Opus + VP8 through msc-node) is in an SFU room; then RECEIVERS msc-node
 * peers join at once, each creating its receive transport and consuming both streams. Measured:
 * from the first join to every consumer created (consumers set up per second), and to every
 * consumer receiving packets. Targets: OpenCall (a server process, every step over its WebSocket
 * protocol) against bare mediasoup doing the same steps by direct calls in this process (the same
 * msc-node clients, no signaling), in the same run. The clients are JavaScript (werift: DTLS and
 * SRTP in JS) on the same 2 cores, so they bound both figures; the ratio is what OpenCall adds.
 */

import type { types as ms } from 'mediasoup';
import * as mediasoup from 'mediasoup';
import { routerMediaCodecs } from '../src/sfu/mediaCodecs.ts';
import { MscPeer, type MscSignaling, waitFor } from '../test/helpers/mscPeer.ts';
import { SyntheticSfuClient } from '../test/helpers/sfuClient.ts';
import { freePortBase } from '../test/integration/sfu/sfuTestEnv.ts';
import {
  type BenchOutput,
  CpuMeter,
  childPids,
  log,
  median,
  processRssBytes,
  ratio,
  round,
  sleep,
} from './lib/common.ts';
import { type ServerUnderTest, startOpenCall } from './lib/processes.ts';

const RECEIVERS = 50;
/** Counted rounds per target, after one warm-up round each (median reported). */
const ROUNDS = 5;
const TIMEOUT_MS = 120_000;
/** Issue 12: at least this many consumers set up per second. */
const TARGET_CONSUMERS_PER_S = 200;
/** Issue 12: the publisher sends audio and video at this rate. */
const VIDEO_KBPS = 600;
/** Steady state, once every consumer receives: worker CPU, packets forwarded, loss. */
const STEADY_MS = 5000;
/** Issue 12: OpenCall's worker within this much of bare mediasoup's CPU. */
const TARGET_CPU_RATIO = 1.05;

interface Steady {
  /** The mediasoup worker's CPU, % of one core. */
  workerCpuPct: number;
  /** RTP packets the receivers got per second, summed (what the worker forwarded and SRTP-encrypted). */
  forwardedPps: number;
  /** 1 − received / (sent × receivers) over the window. */
  lossPct: number;
  /** Consumers one worker carries at 80 % of a core, at this per-consumer cost (extrapolated). */
  consumersAt80Pct: number;
  /** OpenCall: the server process's RSS growth per consumer (transports, consumers, sessions). */
  nodeRssPerConsumerKb: number | null;
}

interface Round {
  createdMs: number;
  flowingMs: number;
  consumersPerS: number;
  steady: Steady;
}

/** Worker CPU and delivery over STEADY_MS, with every consumer receiving. */
async function steadyState(
  workerPid: number,
  sent: () => number,
  received: () => number,
  rssPerConsumerKb: () => number | null,
): Promise<Steady> {
  const cpu = new CpuMeter(workerPid);
  const sent0 = sent();
  const received0 = received();
  cpu.start();
  const t0 = performance.now();
  await sleep(STEADY_MS);
  const workerCpuPct = cpu.stop();
  const seconds = (performance.now() - t0) / 1000;
  const got = received() - received0;
  const expected = (sent() - sent0) * RECEIVERS;
  const consumers = RECEIVERS * 2;
  return {
    workerCpuPct: round(workerCpuPct, 1),
    forwardedPps: Math.round(got / seconds),
    lossPct: round(expected > 0 ? Math.max(0, (1 - got / expected) * 100) : 0, 2),
    consumersAt80Pct: workerCpuPct > 0 ? Math.round((80 / workerCpuPct) * consumers) : 0,
    nodeRssPerConsumerKb: rssPerConsumerKb(),
  };
}

const receivedPackets = (peers: Array<MscPeer | undefined>) =>
  peers.reduce((n, p) => n + [...(p?.received.values() ?? [])].reduce((m, s) => m + s.packets, 0), 0);

/** The signaling msc-node needs, as direct calls on one mediasoup router (the bare baseline). */
function bareSignaling(router: ms.Router, producers: Map<string, string>, peerId: string): MscSignaling {
  const transports = new Map<string, ms.WebRtcTransport>();
  const consumers = new Map<string, ms.Consumer>();
  return {
    join: async () => [...producers].map(([producerId, owner]) => ({ producerId, peerId: owner })),
    createTransport: async () => {
      const t = await router.createWebRtcTransport({ listenInfos: [{ protocol: 'udp', ip: '127.0.0.1' }] });
      transports.set(t.id, t);
      return {
        transportId: t.id,
        iceParameters: t.iceParameters,
        iceCandidates: t.iceCandidates,
        dtlsParameters: t.dtlsParameters,
      };
    },
    connectTransport: async (transportId, dtlsParameters) => {
      await transports.get(transportId)?.connect({ dtlsParameters: dtlsParameters as ms.DtlsParameters });
    },
    produce: async ({ transportId, kind, rtpParameters }) => {
      const t = transports.get(transportId);
      if (!t) throw new Error('no transport');
      const p = await t.produce({ kind, rtpParameters: rtpParameters as ms.RtpParameters });
      producers.set(p.id, peerId);
      return p.id;
    },
    consume: async (producerId, rtpCapabilities) => {
      const t = [...transports.values()].at(-1);
      if (!t) throw new Error('no transport');
      const c = await t.consume({
        producerId,
        rtpCapabilities: rtpCapabilities as ms.RtpCapabilities,
        paused: true,
      });
      consumers.set(c.id, c);
      return { consumerId: c.id, producerId, kind: c.kind, rtpParameters: c.rtpParameters };
    },
    resumeConsumer: async (consumerId) => {
      await consumers.get(consumerId)?.resume();
    },
  };
}

async function bareRound(worker: ms.Worker, roundNo: number): Promise<Round> {
  const peers: MscPeer[] = [];
  const router = await worker.createRouter({ mediaCodecs: routerMediaCodecs.map((c) => ({ ...c })) });
  try {
    const producers = new Map<string, string>();
    const publisher = await MscPeer.create({
      peerId: `pub-${roundNo}`,
      routerRtpCapabilities: router.rtpCapabilities,
      signaling: bareSignaling(router, producers, `pub-${roundNo}`),
    });
    peers.push(publisher);
    await publisher.join();
    await publisher.produce('audio');
    await publisher.produce('video', 'camera', { videoKbps: VIDEO_KBPS });
    const ids = [...producers.keys()];
    const t0 = performance.now();
    let createdAt = 0;
    const receivers = await Promise.all(
      Array.from({ length: RECEIVERS }, async (_, i) => {
        const peer = await MscPeer.create({
          peerId: `r${i}`,
          routerRtpCapabilities: router.rtpCapabilities,
          signaling: bareSignaling(router, producers, `r${i}`),
        });
        peers.push(peer);
        await peer.join();
        await peer.ensureRecvTransport();
        await Promise.all(ids.map((id) => peer.consume(id)));
        return peer;
      }),
    );
    createdAt = performance.now();
    await waitFor(
      () => receivers.every((p) => ids.every((id) => p.receivedFrom(id) > 0)),
      'bare: media to all',
      TIMEOUT_MS,
    );
    const flowingAt = performance.now();
    const steady = await steadyState(
      worker.pid,
      () => [...publisher.produced.values()].reduce((n, p) => n + p.generator.packetsSent, 0),
      () => receivedPackets(receivers),
      () => null,
    );
    return result(t0, createdAt, flowingAt, steady);
  } finally {
    for (const p of peers) p.close();
    router.close();
  }
}

async function openCallRound(server: ServerUnderTest, roundNo: number): Promise<Round> {
  const clients: SyntheticSfuClient[] = [];
  try {
    const roomId = `setup-${roundNo}`;
    await fetch(`${server.url}/api/rooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ roomId, mode: 'sfu', maxParticipants: RECEIVERS + 10 }),
    });
    const publisher = await SyntheticSfuClient.join(server.wsUrl, roomId, 'pub', { videoKbps: VIDEO_KBPS });
    clients.push(publisher);
    await publisher.sfuStarted();
    const rssBefore = processRssBytes(server.pid);
    const ids = [...(publisher.peer?.produced.keys() ?? [])];
    const t0 = performance.now();
    const receivers = await Promise.all(
      Array.from({ length: RECEIVERS }, async (_, i) => {
        const c = await SyntheticSfuClient.join(server.wsUrl, roomId, `r${i}`, { produce: false });
        clients.push(c);
        await c.sfuStarted();
        return c;
      }),
    );
    const createdAt = performance.now();
    await waitFor(
      () => receivers.every((c) => c.receivingFromAll(ids, 1)),
      'opencall: media to all',
      TIMEOUT_MS,
    );
    const flowingAt = performance.now();
    const workerPid = childPids(server.pid)[0];
    if (workerPid === undefined) throw new Error('no mediasoup worker under the server');
    const steady = await steadyState(
      workerPid,
      () => [...(publisher.peer?.produced.values() ?? [])].reduce((n, p) => n + p.generator.packetsSent, 0),
      () => receivedPackets(receivers.map((c) => c.peer)),
      () => round((processRssBytes(server.pid) - rssBefore) / 1024 / (RECEIVERS * 2), 1),
    );
    return result(t0, createdAt, flowingAt, steady);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await roomEmptied(server, `setup-${roundNo}`);
  }
}

/** Until the server has let every peer of the round go (its transports closed), so rounds do not overlap. */
async function roomEmptied(server: ServerUnderTest, roomId: string): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${server.url}/api/rooms/${roomId}`);
      return (
        res.status === 404 || ((await res.json()) as { participantCount: number }).participantCount === 0
      );
    },
    `room ${roomId} to empty`,
    TIMEOUT_MS,
  );
}

function result(t0: number, createdAt: number, flowingAt: number, steady: Steady): Round {
  const createdMs = createdAt - t0;
  return {
    createdMs: round(createdMs, 1),
    flowingMs: round(flowingAt - t0, 1),
    consumersPerS: Math.round((RECEIVERS * 2) / (createdMs / 1000)),
    steady,
  };
}

export async function run(): Promise<BenchOutput> {
  const bare: Round[] = [];
  const open: Round[] = [];
  // One worker and one server for all rounds, each round in a new router / room, as a running
  // server meets a join storm. Round 0 of each is a warm-up, reported but not counted: a fresh
  // process compiles its code paths (JIT) during its first storm, which is start-up, not set-up.
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const server = await startOpenCall('sfu-setup', {
    SFU_ENABLED: 'true',
    MEDIASOUP_NUM_WORKERS: '1',
    RTC_PORT: String(await freePortBase(1)),
    WS_RATE_LIMIT_PER_S: '0',
  });
  try {
    for (let r = 0; r <= ROUNDS; r++) {
      bare.push(await bareRound(worker, r));
      log(`sfuSetup: round ${r} bare ${JSON.stringify(bare.at(-1))}`);
      open.push(await openCallRound(server, r));
      log(`sfuSetup: round ${r} opencall ${JSON.stringify(open.at(-1))}`);
    }
  } finally {
    worker.close();
    await server.stop(5000);
  }
  const [bareWarmup, ...bareCounted] = bare;
  const [openWarmup, ...openCounted] = open;
  if (!bareWarmup || !openWarmup) throw new Error('no rounds ran');
  const med = (rs: Round[]) => ({
    createdMs: median(rs.map((x) => x.createdMs)),
    flowingMs: median(rs.map((x) => x.flowingMs)),
    consumersPerS: median(rs.map((x) => x.consumersPerS)),
    workerCpuPct: median(rs.map((x) => x.steady.workerCpuPct)),
    forwardedPps: median(rs.map((x) => x.steady.forwardedPps)),
    lossPct: median(rs.map((x) => x.steady.lossPct)),
    consumersAt80Pct: median(rs.map((x) => x.steady.consumersAt80Pct)),
  });
  const b = { ...med(bareCounted), nodeRssPerConsumerKb: null };
  // RSS growth per consumer from the warm-up round: the first storm on a fresh process, where the
  // growth is not hidden in pages an earlier round freed.
  const o = { ...med(openCounted), nodeRssPerConsumerKb: openWarmup.steady.nodeRssPerConsumerKb };
  return {
    name: 'sfuSetup',
    config: { RECEIVERS, ROUNDS, streamsPerReceiver: 2, clients: 'msc-node (werift) in the bench process' },
    results: { ...o, rounds: openCounted, warmup: openWarmup },
    baseline: { ...b, rounds: bareCounted, warmup: bareWarmup },
    ratios: {
      consumersPerS: ratio(o.consumersPerS, b.consumersPerS),
      workerCpu: ratio(o.workerCpuPct, b.workerCpuPct),
    },
    targets: [
      {
        name: `consumers set up per second (${RECEIVERS} peers joining an SFU room at once)`,
        target: `>= ${TARGET_CONSUMERS_PER_S}`,
        value: o.consumersPerS,
        met: o.consumersPerS >= TARGET_CONSUMERS_PER_S,
      },
      {
        name: `worker CPU vs bare mediasoup, ${RECEIVERS * 2} consumers over WebRTC transports (DTLS/SRTP)`,
        target: `<= ${TARGET_CPU_RATIO} x baseline`,
        value: ratio(o.workerCpuPct, b.workerCpuPct),
        met: (ratio(o.workerCpuPct, b.workerCpuPct) ?? Number.POSITIVE_INFINITY) <= TARGET_CPU_RATIO,
      },
    ],
    table: [
      [
        'target',
        'all consumers created ms',
        'all receiving ms',
        'consumers/s',
        'worker CPU %',
        'forwarded pkt/s',
        'loss %',
        'consumers @80% core',
        'Node RSS/consumer KB',
      ],
      [
        'bare mediasoup (baseline)',
        b.createdMs,
        b.flowingMs,
        b.consumersPerS,
        b.workerCpuPct,
        b.forwardedPps,
        b.lossPct,
        b.consumersAt80Pct,
        'n/a',
      ],
      [
        'OpenCall',
        o.createdMs,
        o.flowingMs,
        o.consumersPerS,
        o.workerCpuPct,
        o.forwardedPps,
        o.lossPct,
        o.consumersAt80Pct,
        o.nodeRssPerConsumerKb ?? 'n/a',
      ],
    ],
    notes: [
      `${RECEIVERS} msc-node receivers join at once, each consuming audio and video of one publisher; median of ${ROUNDS} rounds after one warm-up round each (reported under "warmup", not counted: a fresh process compiles its code during its first storm). One mediasoup worker and one OpenCall server serve all rounds, each round in a new router / room, as a running server meets a join storm.`,
      'Both targets share the same JavaScript clients on the same cores (werift does DTLS and SRTP in JS): they bound both figures.',
      `Steady state: the publisher sends Opus (50 pkt/s) and ${VIDEO_KBPS} kbps VP8 (20 fps in ~1 100-byte packets); over ${STEADY_MS / 1000} s the worker's CPU, the packets the receivers got, and loss against what was sent × receivers.`,
      '"consumers @80% core" extrapolates the worker CPU per consumer linearly (one machine cannot run enough JS receivers to load a worker to 80 %); "Node RSS/consumer" is the OpenCall server process’s RSS growth from before the receivers joined, per consumer, in the warm-up round (the first storm on a fresh process) (its transports, sessions and consumer objects; the worker is a separate process).',
    ],
  };
}
