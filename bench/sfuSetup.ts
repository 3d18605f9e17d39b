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
import { type BenchOutput, log, median, ratio, round } from './lib/common.ts';
import { startOpenCall } from './lib/processes.ts';

const RECEIVERS = 50;
const ROUNDS = 3;
const TIMEOUT_MS = 120_000;
/** Issue 12: at least this many consumers set up per second. */
const TARGET_CONSUMERS_PER_S = 200;

interface Round {
  createdMs: number;
  flowingMs: number;
  consumersPerS: number;
}

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

async function bareRound(roundNo: number): Promise<Round> {
  const worker = await mediasoup.createWorker({ logLevel: 'warn' });
  const peers: MscPeer[] = [];
  try {
    const router = await worker.createRouter({ mediaCodecs: routerMediaCodecs.map((c) => ({ ...c })) });
    const producers = new Map<string, string>();
    const publisher = await MscPeer.create({
      peerId: `pub-${roundNo}`,
      routerRtpCapabilities: router.rtpCapabilities,
      signaling: bareSignaling(router, producers, `pub-${roundNo}`),
    });
    peers.push(publisher);
    await publisher.join();
    await publisher.produce('audio');
    await publisher.produce('video');
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
    return result(t0, createdAt, flowingAt);
  } finally {
    for (const p of peers) p.close();
    worker.close();
  }
}

async function openCallRound(roundNo: number): Promise<Round> {
  const server = await startOpenCall(`sfu-setup-${roundNo}`, {
    SFU_ENABLED: 'true',
    MEDIASOUP_NUM_WORKERS: '1',
    RTC_PORT: String(await freePortBase(1)),
    WS_RATE_LIMIT_PER_S: '0',
  });
  const clients: SyntheticSfuClient[] = [];
  try {
    const roomId = `setup-${roundNo}`;
    await fetch(`${server.url}/api/rooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ roomId, mode: 'sfu', maxParticipants: RECEIVERS + 10 }),
    });
    const publisher = await SyntheticSfuClient.join(server.wsUrl, roomId, 'pub');
    clients.push(publisher);
    await publisher.sfuStarted();
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
    return result(t0, createdAt, flowingAt);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await server.stop(5000);
  }
}

function result(t0: number, createdAt: number, flowingAt: number): Round {
  const createdMs = createdAt - t0;
  return {
    createdMs: round(createdMs, 1),
    flowingMs: round(flowingAt - t0, 1),
    consumersPerS: Math.round((RECEIVERS * 2) / (createdMs / 1000)),
  };
}

export async function run(): Promise<BenchOutput> {
  const bare: Round[] = [];
  const open: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await bareRound(r));
    log(`sfuSetup: round ${r + 1} bare ${JSON.stringify(bare.at(-1))}`);
    open.push(await openCallRound(r));
    log(`sfuSetup: round ${r + 1} opencall ${JSON.stringify(open.at(-1))}`);
  }
  const med = (rs: Round[]) => ({
    createdMs: median(rs.map((x) => x.createdMs)),
    flowingMs: median(rs.map((x) => x.flowingMs)),
    consumersPerS: median(rs.map((x) => x.consumersPerS)),
  });
  const b = med(bare);
  const o = med(open);
  return {
    name: 'sfuSetup',
    config: { RECEIVERS, ROUNDS, streamsPerReceiver: 2, clients: 'msc-node (werift) in the bench process' },
    results: { ...o, rounds: open },
    baseline: { ...b, rounds: bare },
    ratios: { consumersPerS: ratio(o.consumersPerS, b.consumersPerS) },
    targets: [
      {
        name: `consumers set up per second (${RECEIVERS} peers joining an SFU room at once)`,
        target: `>= ${TARGET_CONSUMERS_PER_S}`,
        value: o.consumersPerS,
        met: o.consumersPerS >= TARGET_CONSUMERS_PER_S,
      },
    ],
    table: [
      ['target', 'all consumers created ms', 'all receiving ms', 'consumers/s'],
      ['bare mediasoup (baseline)', b.createdMs, b.flowingMs, b.consumersPerS],
      ['OpenCall', o.createdMs, o.flowingMs, o.consumersPerS],
    ],
    notes: [
      `${RECEIVERS} msc-node receivers join at once, each consuming audio and video of one publisher; median of ${ROUNDS} rounds.`,
      'Both targets share the same JavaScript clients on the same cores (werift does DTLS and SRTP in JS): they bound both figures.',
    ],
  };
}
