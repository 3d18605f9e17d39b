/**
 * cluster: what spreading peers over two nodes costs, against one node, in the same run.
 *
 * Targets, each with the Redis store (one private redis-server, no persistence):
 * - `1 node`: one OpenCall process; every peer connects to it;
 * - `2 nodes`: two OpenCall processes on the same Redis (a cluster); the two peers of every pair,
 *   and the joiners of every room, alternate between the nodes, so every relay and every room
 *   crosses nodes (the worst case: a load balancer without any stickiness).
 *
 * Relay: PAIRS pairs, each sender keeps WINDOW ice-candidates in flight to its partner; messages
 * delivered per second over MEASURE_MS (after WARMUP_MS), and the servers' CPU per message (all
 * nodes summed). Joins: an open loop of JOIN_RATE joins/s for JOIN_S seconds, rooms of 4; latency is
 * join-room → room-joined. RUNS rounds, the two targets alternating; medians reported.
 *
 * On this 2-core machine the two nodes, Redis and the load generator share the cores: the cluster
 * figures show the cost of the extra hop (Redis pub/sub), not extra capacity.
 */
import type WebSocket from 'ws';
import { type BenchOutput, CpuMeter, log, median, percentiles, ratio, round, sleep } from './lib/common.ts';
import { type ServerUnderTest, startOpenCall, startRedis } from './lib/processes.ts';
import { joinFrame, joinRoom, mapLimit, openSocket } from './lib/ws.ts';

const PAIRS = 40;
const WINDOW = 16;
const RUNS = 3;
const WARMUP_MS = 1500;
const MEASURE_MS = 4000;
const JOIN_RATE = 500;
const JOIN_S = 2;
const PEERS_PER_ROOM = 4;
const CANDIDATE =
  'candidate:842163049 1 udp 1677729535 203.0.113.77 46154 typ srflx raddr 10.0.1.23 rport 46154 generation 0 ufrag EsAw';

interface Target {
  label: string;
  nodes: ServerUnderTest[];
}

interface RelayResult {
  messagesPerS: number;
  p99Ms: number;
  cpuUsPerMsg: number;
}

interface JoinResult {
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** Pairs whose two peers sit on different nodes (when there are two). */
async function relayRound(target: Target, roundNo: number): Promise<RelayResult> {
  const urls = target.nodes.map((n) => n.wsUrl);
  const sockets = await mapLimit(
    Array.from({ length: PAIRS * 2 }, (_, i) => i),
    40,
    (i) => openSocket(urls[i % urls.length] as string),
  );
  const latencies: number[] = [];
  let delivered = 0;
  let measuring = false;
  let sending = true;
  try {
    const pairs = Array.from({ length: PAIRS }, (_, p) => ({
      roomId: `cl-${target.label.replace(' ', '')}-${roundNo}-${p}`,
      a: sockets[p * 2] as WebSocket,
      b: sockets[p * 2 + 1] as WebSocket,
    }));
    for (const [p, pair] of pairs.entries()) {
      for (const [ws, id] of [
        [pair.a, `a${p}`],
        [pair.b, `b${p}`],
      ] as const) {
        const reply = await joinRoom(ws, pair.roomId, id);
        if (reply.type !== 'room-joined') throw new Error(`join failed: ${JSON.stringify(reply)}`);
      }
    }
    for (const [p, pair] of pairs.entries()) {
      for (const [from, to, fromId, toId] of [
        [pair.a, pair.b, `a${p}`, `b${p}`],
        [pair.b, pair.a, `b${p}`, `a${p}`],
      ] as const) {
        let inFlight = 0;
        const fill = () => {
          while (sending && inFlight < WINDOW) {
            inFlight++;
            from.send(
              `{"type":"ice-candidate","roomId":"${pair.roomId}","toPeerId":"${toId}","candidate":{"candidate":"${CANDIDATE}","sdpMid":"0","usernameFragment":"t${performance.now().toFixed(3)}"}}`,
            );
          }
        };
        to.on('message', (data: Buffer) => {
          const text = data.toString();
          const at = text.indexOf('"usernameFragment":"t');
          if (at < 0 || !text.includes(`"fromPeerId":"${fromId}"`)) return;
          inFlight--;
          if (measuring) {
            delivered++;
            latencies.push(performance.now() - Number(text.slice(at + 21, text.indexOf('"', at + 21))));
          }
          fill();
        });
        fill();
      }
    }
    await sleep(WARMUP_MS);
    const meters = target.nodes.map((n) => new CpuMeter(n.pid));
    for (const m of meters) m.start();
    const t0 = performance.now();
    measuring = true;
    await sleep(MEASURE_MS);
    measuring = false;
    const elapsed = (performance.now() - t0) / 1000;
    const cpuPct = meters.reduce((sum, m) => sum + m.stop(), 0);
    sending = false;
    const [p99] = percentiles(latencies, [99]);
    const perS = delivered / elapsed;
    return {
      messagesPerS: Math.round(perS),
      p99Ms: round(p99 ?? Number.NaN, 3),
      cpuUsPerMsg: round(((cpuPct / 100) * 1e6) / perS, 2),
    };
  } finally {
    sending = false;
    for (const ws of sockets) ws.terminate();
    await sleep(300);
  }
}

/** Open-loop joins; the joiners of a room alternate between the nodes. */
async function joinRound(target: Target, roundNo: number): Promise<JoinResult> {
  const count = JOIN_RATE * JOIN_S;
  const rooms = count / PEERS_PER_ROOM;
  const urls = target.nodes.map((n) => n.wsUrl);
  const sockets = await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    100,
    (i) => openSocket(urls[Math.floor(i / rooms) % urls.length] as string),
  );
  const latencies: number[] = [];
  let errors = 0;
  let replies = 0;
  try {
    const done = new Promise<void>((resolve) => {
      sockets.forEach((ws, i) => {
        const sentAt = () => sent[i] as number;
        const onMessage = (data: Buffer) => {
          const text = data.toString();
          if (text.includes('"type":"room-joined"')) latencies.push(performance.now() - sentAt());
          else if (text.includes('"type":"error"')) errors++;
          else return;
          ws.off('message', onMessage);
          if (++replies === count) resolve();
        };
        ws.on('message', onMessage);
      });
    });
    const sent = new Array<number>(count).fill(0);
    const t0 = performance.now() + 20;
    let next = 0;
    while (next < count) {
      const now = performance.now();
      while (next < count && t0 + (next * 1000) / JOIN_RATE <= now) {
        const i = next++;
        sent[i] = performance.now();
        (sockets[i] as WebSocket).send(
          joinFrame(`cj-${target.label.replace(' ', '')}-${roundNo}-${i % rooms}`, `j${i}`, `r${i}`),
        );
      }
      await sleep(1);
    }
    await Promise.race([done, sleep(10_000)]);
    const [p50, p99] = percentiles(latencies, [50, 99]);
    return {
      p50Ms: round(p50 ?? Number.NaN, 3),
      p99Ms: round(p99 ?? Number.NaN, 3),
      errors: errors + (count - replies),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await sleep(300);
  }
}

export async function run(): Promise<BenchOutput> {
  const redis = await startRedis();
  const env = (prefix: string, node: string) => ({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    NODE_ID: node,
  });
  const single: Target = { label: '1 node', nodes: [await startOpenCall('single', env('bench1:', 'solo'))] };
  const pair: Target = {
    label: '2 nodes',
    nodes: [
      await startOpenCall('node-1', env('bench2:', 'node-1')),
      await startOpenCall('node-2', env('bench2:', 'node-2')),
    ],
  };
  const relay: Record<string, RelayResult[]> = { '1 node': [], '2 nodes': [] };
  const joins: Record<string, JoinResult[]> = { '1 node': [], '2 nodes': [] };
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const target of r % 2 === 0 ? [single, pair] : [pair, single]) {
        const rr = await relayRound(target, r);
        const jr = await joinRound(target, r);
        relay[target.label]?.push(rr);
        joins[target.label]?.push(jr);
        log(
          `cluster: round ${r + 1} ${target.label}: relay ${rr.messagesPerS} msg/s, join p99 ${jr.p99Ms} ms`,
        );
      }
    }
  } finally {
    for (const node of [...single.nodes, ...pair.nodes]) await node.stop(5000);
    await redis.stop();
  }
  const med = (label: string) => ({
    relayMessagesPerS: median((relay[label] ?? []).map((x) => x.messagesPerS)),
    relayP99Ms: median((relay[label] ?? []).map((x) => x.p99Ms)),
    cpuUsPerMsg: median((relay[label] ?? []).map((x) => x.cpuUsPerMsg)),
    joinP50Ms: median((joins[label] ?? []).map((x) => x.p50Ms)),
    joinP99Ms: median((joins[label] ?? []).map((x) => x.p99Ms)),
    joinErrors: (joins[label] ?? []).reduce((n, x) => n + x.errors, 0),
  });
  const one = med('1 node');
  const two = med('2 nodes');
  const ratios = {
    relayThroughput: ratio(two.relayMessagesPerS, one.relayMessagesPerS),
    cpuPerMessage: ratio(two.cpuUsPerMsg, one.cpuUsPerMsg),
    joinP99: ratio(two.joinP99Ms, one.joinP99Ms),
  };
  return {
    name: 'cluster',
    config: { PAIRS, WINDOW, RUNS, WARMUP_MS, MEASURE_MS, JOIN_RATE, JOIN_S, PEERS_PER_ROOM },
    results: { twoNodes: two, rounds: { relay, joins } },
    baseline: { oneNode: one },
    ratios,
    targets: [
      {
        name: 'relay across 2 nodes vs 1 node',
        target: 'reported',
        value: ratios.relayThroughput,
        met: null,
      },
      { name: 'join p99 across 2 nodes vs 1 node', target: 'reported', value: ratios.joinP99, met: null },
      {
        name: 'joins answered across 2 nodes',
        target: '0 errors',
        value: two.joinErrors,
        met: two.joinErrors === 0,
      },
    ],
    table: [
      [
        'target',
        'relay msg/s',
        'relay p99 ms',
        'server CPU µs/msg',
        'join p50 ms',
        'join p99 ms',
        'join errors',
      ],
      [
        '1 node',
        one.relayMessagesPerS,
        one.relayP99Ms,
        one.cpuUsPerMsg,
        one.joinP50Ms,
        one.joinP99Ms,
        one.joinErrors,
      ],
      [
        '2 nodes',
        two.relayMessagesPerS,
        two.relayP99Ms,
        two.cpuUsPerMsg,
        two.joinP50Ms,
        two.joinP99Ms,
        two.joinErrors,
      ],
    ],
    notes: [
      'Every relay and every room crosses nodes in the 2-node target (no stickiness): relays take one Redis pub/sub hop, joins of a room whose media another node runs one forwarded request.',
      'Both nodes, Redis and the load generator share this machine’s cores: the figures show the cost of the hop, not added capacity.',
    ],
  };
}
