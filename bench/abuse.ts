/**
 * abuse: what one attacker costs everyone else.
 *
 * 1. Flood fairness. A well-behaved pair relays one ice-candidate every 10 ms (the receiver takes
 *    one-way latency from a send time in the message) for MEASURE_MS, alone and then with one
 *    flooding socket (bench/lib/flooder.ts, its own process) sending pings as fast as the server
 *    reads them. Alternating rounds, median of the rounds' p99. Target: p99 with the flood at most
 *    2x the p99 without it, measured in the same run. The server runs with its shipped limits.
 * 2. Slow consumers, each on a fresh server for ATTACK_MS: a peer sends 60 KB offers as fast as
 *    its socket takes them to a peer of its room that never reads; NON_READERS sockets send pings
 *    and never read the replies. Reported: the server's RSS growth (peak during the attack minus
 *    before), and whether the server closed them with 1008. Target: < 100 MB.
 */
import type WebSocket from 'ws';
import {
  type BenchOutput,
  log,
  median,
  percentiles,
  processRssBytes,
  ratio,
  round,
  sleep,
} from './lib/common.ts';
import { forkScript, type ServerUnderTest, startOpenCall } from './lib/processes.ts';
import { joinRoom, openSocket } from './lib/ws.ts';

const ROUNDS = 3;
const MEASURE_MS = 3000;
const SEND_EVERY_MS = 10;
const NON_READERS = 2;
const ATTACK_MS = 12_000;
const OFFER_BYTES = 60_000;
const TARGET_P99_RATIO = 2;
const TARGET_RSS_MB = 100;

interface RelayRound {
  p50Ms: number;
  p99Ms: number;
  delivered: number;
  flooderSent: number;
}

/** The calm pair: a sends to b every SEND_EVERY_MS; b measures one-way latency. */
async function relayRound(server: ServerUnderTest, flood: boolean, index: number): Promise<RelayRound> {
  const [a, b] = [await openSocket(server.wsUrl), await openSocket(server.wsUrl)];
  const room = `calm-${flood ? 'f' : 'q'}${index}`;
  await joinRoom(a, room, 'a');
  await joinRoom(b, room, 'b');
  const flooder = flood
    ? forkScript('flooder', 'bench/lib/flooder.ts', { FLOOD_URL: server.wsUrl })
    : undefined;
  if (flooder) await sleep(500); // let the flood reach full speed before measuring
  const latencies: number[] = [];
  b.on('message', (data: WebSocket.RawData) => {
    const text = data.toString();
    const at = /"usernameFragment":"t(\d+(?:\.\d+)?)"/.exec(text)?.[1];
    if (at !== undefined) latencies.push(performance.now() - Number(at));
  });
  const timer = setInterval(() => {
    a.send(
      JSON.stringify({
        type: 'ice-candidate',
        toPeerId: 'b',
        candidate: {
          candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: `t${performance.now()}`,
        },
      }),
    );
  }, SEND_EVERY_MS);
  await sleep(MEASURE_MS);
  clearInterval(timer);
  await sleep(200);
  let flooderSent = 0;
  if (flooder) {
    await flooder.stop(3000);
    const line = flooder.output().trim().split('\n').at(-1) ?? '{}';
    flooderSent = (JSON.parse(line) as { sent?: number }).sent ?? 0;
  }
  a.terminate();
  b.terminate();
  const [p50, p99] = percentiles(latencies, [50, 99]);
  return {
    p50Ms: round(p50 ?? Number.NaN, 3),
    p99Ms: round(p99 ?? Number.NaN, 3),
    delivered: latencies.length,
    flooderSent,
  };
}

interface AttackResult {
  rssBeforeMb: number;
  rssPeakMb: number;
  rssGrowthMb: number;
  /** Bytes the attackers got onto the wire towards the server. */
  sentMb: number;
  /** Sockets the server closed with 1008 (seen once they read again), of those attacked/attacking. */
  closed1008: number;
  of: number;
  /** The victim left the attacker's room (peer-left), the server's side of it. */
  victimLeft: boolean;
}

type Paused = WebSocket & { _socket: { pause(): void; resume(): void } };

const pause = (ws: WebSocket) => (ws as Paused)._socket.pause();
const resume = (ws: WebSocket) => (ws as Paused)._socket.resume();

/** Resumes reading and resolves with the close code the server sent (0 if none within 10 s). */
function closeCodeAfterReading(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(0), 10_000);
    ws.once('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    resume(ws);
  });
}

/**
 * The attack on a fresh server: `victim` — one peer sends 60 KB offers to a peer of its
 * room that never reads; `non-readers` — two sockets send pings and never read the replies.
 */
async function attack(kind: 'victim' | 'non-readers'): Promise<AttackResult> {
  const server = await startOpenCall(`opencall-${kind}`, {});
  try {
    const attackers: WebSocket[] = [];
    const targets: WebSocket[] = [];
    let victimLeft = false;
    let frame: string;
    if (kind === 'victim') {
      const attacker = await openSocket(server.wsUrl);
      const victim = await openSocket(server.wsUrl);
      await joinRoom(attacker, 'victims', 'attacker');
      await joinRoom(victim, 'victims', 'victim');
      pause(victim);
      attacker.on('message', (data: WebSocket.RawData) => {
        if (data.toString().includes('"peer-left"')) victimLeft = true;
      });
      attackers.push(attacker);
      targets.push(victim);
      frame = JSON.stringify({
        type: 'offer',
        toPeerId: 'victim',
        offer: { type: 'offer', sdp: 'a'.repeat(OFFER_BYTES) },
      });
    } else {
      for (let i = 0; i < NON_READERS; i++) {
        const ws = await openSocket(server.wsUrl);
        pause(ws);
        attackers.push(ws);
        targets.push(ws);
      }
      frame = '{"type":"ping","requestId":"r"}';
    }
    await sleep(300);
    const rssBefore = processRssBytes(server.pid);
    let rssPeak = rssBefore;
    let sent = 0;
    const end = performance.now() + ATTACK_MS;
    while (performance.now() < end) {
      for (const ws of attackers) {
        for (let i = 0; i < 50 && ws.readyState === ws.OPEN && ws.bufferedAmount < 512 * 1024; i++) {
          ws.send(frame);
          sent += frame.length;
        }
      }
      rssPeak = Math.max(rssPeak, processRssBytes(server.pid));
      await sleep(1);
    }
    rssPeak = Math.max(rssPeak, processRssBytes(server.pid));
    const codes = await Promise.all(targets.map(closeCodeAfterReading));
    for (const ws of [...attackers, ...targets]) ws.terminate();
    return {
      rssBeforeMb: round(rssBefore / 2 ** 20, 1),
      rssPeakMb: round(rssPeak / 2 ** 20, 1),
      rssGrowthMb: round((rssPeak - rssBefore) / 2 ** 20, 1),
      sentMb: round(sent / 2 ** 20, 0),
      closed1008: codes.filter((c) => c === 1008).length,
      of: targets.length,
      victimLeft: kind === 'victim' ? victimLeft : true,
    };
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<BenchOutput> {
  const server = await startOpenCall('opencall-abuse', {});
  const calm: RelayRound[] = [];
  const flooded: RelayRound[] = [];
  try {
    for (let r = 0; r < ROUNDS; r++) {
      log(`abuse: round ${r + 1}/${ROUNDS}: calm`);
      calm.push(await relayRound(server, false, r));
      log(`abuse: round ${r + 1}/${ROUNDS}: with a flooding socket`);
      flooded.push(await relayRound(server, true, r));
    }
  } finally {
    await server.stop();
  }
  log('abuse: slow consumer: a peer that never reads, sent 60 KB offers');
  const victim = await attack('victim');
  log('abuse: slow consumer: sockets that never read their replies');
  const nonReaders = await attack('non-readers');
  const worstGrowth = Math.max(victim.rssGrowthMb, nonReaders.rssGrowthMb);
  const calmP99 = median(calm.map((r) => r.p99Ms));
  const floodP99 = median(flooded.map((r) => r.p99Ms));
  const p99Ratio = ratio(floodP99, calmP99);
  return {
    name: 'abuse',
    config: {
      ROUNDS,
      MEASURE_MS,
      SEND_EVERY_MS,
      NON_READERS,
      ATTACK_MS,
      OFFER_BYTES,
      server: 'shipped limits',
    },
    results: { flooded, victim, nonReaders },
    baseline: { calm },
    ratios: { floodP99VsCalm: p99Ratio },
    targets: [
      {
        name: 'relay p99 with a flooder vs without',
        target: `<= ${TARGET_P99_RATIO} x`,
        value: p99Ratio,
        met: p99Ratio === null ? null : p99Ratio <= TARGET_P99_RATIO,
      },
      {
        name: 'RSS growth, slow-consumer attack',
        target: `< ${TARGET_RSS_MB} MB`,
        value: worstGrowth,
        met: worstGrowth < TARGET_RSS_MB,
      },
    ],
    table: [
      ['case', 'p50 ms', 'p99 ms', 'delivered', 'flooder msgs', 'RSS growth MB'],
      [
        'calm (baseline)',
        median(calm.map((r) => r.p50Ms)),
        calmP99,
        median(calm.map((r) => r.delivered)),
        0,
        '-',
      ],
      [
        'one flooding socket',
        median(flooded.map((r) => r.p50Ms)),
        floodP99,
        median(flooded.map((r) => r.delivered)),
        median(flooded.map((r) => r.flooderSent)),
        '-',
      ],
      ...(
        [
          ['a victim that never reads', victim],
          ['two sockets that never read', nonReaders],
        ] as const
      ).map(([label, r]) => [
        label,
        '-',
        '-',
        '-',
        '-',
        `${r.rssGrowthMb} (${r.rssBeforeMb} -> ${r.rssPeakMb})`,
      ]),
    ],
    notes: [
      `Median of ${ROUNDS} alternating rounds of ${MEASURE_MS} ms; p99 ratio ${p99Ratio} (target <= ${TARGET_P99_RATIO}).`,
      `Slow consumers, ${ATTACK_MS} ms each on a fresh server: the victim (${victim.sentMb} MB of offers sent at it) was closed by the server: ${victim.closed1008 === 1 ? '1008' : 'cut after the grace period'}, and left the room: ${victim.victimLeft}; non-readers (${nonReaders.sentMb} MB of pings) closed with 1008: ${nonReaders.closed1008}/${nonReaders.of}.`,
    ],
  };
}
