/**
 * joins: join latency under a steady open-loop load.
 *
 * 1 000 joins over 250 rooms (4 per room, interleaved so every room fills over the run) at a steady
 * 500 joins/s: join i is sent at t0 + i * 2 ms by the wall clock, whatever the replies do. Each
 * join uses its own, already open, WebSocket. Latency = send of join-room → receipt of its
 * room-joined. Targets: OpenCall with the Redis store (its own redis-server on a free port, no
 * persistence, killed at the end), OpenCall with the memory store, and the bare relay, whose join is
 * "register and answer". A warm-up of 200 joins in other rooms precedes each round; ROUNDS rounds,
 * the three targets alternating; reported figures are the median over rounds.
 */
import type WebSocket from 'ws';
import type { RedisServerHandle } from '../test/helpers/redisServer.ts';
import { type BenchOutput, log, median, percentiles, ratio, round, sleep } from './lib/common.ts';
import { type ServerUnderTest, startBareRelay, startOpenCall, startRedis } from './lib/processes.ts';
import { joinFrame, mapLimit, openSocket } from './lib/ws.ts';

const JOINS = 1000;
const ROOMS = 250;
const RATE_PER_S = 500;
const WARMUP_JOINS = 200;
const ROUNDS = 5;
/**
 * A round whose own scheduler sent joins later than this (p99) was disturbed by something else on
 * the machine, not by the server: it is recorded but not counted, and redone (at most MAX_REDOS
 * times per target).
 */
const MAX_SEND_LAG_P99_MS = 5;
const MAX_REDOS = 3;
const REPLY_TIMEOUT_MS = 10_000;
const TARGET_P99_MS = 10;

interface RoundResult {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  timeouts: number;
  /** How late the scheduler sent joins, p99 (open-loop fidelity). */
  sendLagP99Ms: number;
  achievedRatePerS: number;
}

/** Sends `count` joins at `rate`/s by the clock; resolves with the latencies (NaN = no reply). */
async function openLoop(
  sockets: WebSocket[],
  roomOf: (i: number) => string,
  peerOf: (i: number) => string,
  rate: number,
): Promise<{ latencies: number[]; errors: number; lags: number[]; durationS: number }> {
  const count = sockets.length;
  const latencies = new Array<number>(count).fill(Number.NaN);
  const sentAt = new Array<number>(count).fill(0);
  const lags: number[] = [];
  let errors = 0;
  let replies = 0;
  let allReplied: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    allReplied = resolve;
  });
  sockets.forEach((ws, i) => {
    const onMessage = (data: Buffer) => {
      const text = data.toString();
      const isReply = text.includes('"type":"room-joined"');
      const isError = !isReply && text.includes('"type":"error"');
      if (!isReply && !isError) return;
      ws.off('message', onMessage);
      if (isReply) latencies[i] = performance.now() - (sentAt[i] as number);
      else errors++;
      if (++replies === count) allReplied();
    };
    ws.on('message', onMessage);
  });
  const interval = 1000 / rate;
  const t0 = performance.now() + 20;
  let next = 0;
  while (next < count) {
    const now = performance.now();
    while (next < count && t0 + next * interval <= now) {
      const i = next++;
      lags.push(now - (t0 + i * interval));
      sentAt[i] = performance.now();
      (sockets[i] as WebSocket).send(joinFrame(roomOf(i), peerOf(i), `j${i}`));
    }
    if (next < count) await sleep(Math.max(0, t0 + next * interval - performance.now()));
  }
  const durationS = (performance.now() - t0) / 1000;
  await Promise.race([done, sleep(REPLY_TIMEOUT_MS)]);
  return { latencies, errors, lags, durationS };
}

async function oneRound(server: ServerUnderTest, label: string, roundNo: number): Promise<RoundResult> {
  const open = (n: number) =>
    mapLimit(
      Array.from({ length: n }, (_, i) => i),
      100,
      () => openSocket(server.wsUrl),
    );
  const warm = await open(WARMUP_JOINS);
  const sockets = await open(JOINS);
  try {
    await openLoop(
      warm,
      (i) => `warm-${label}-${roundNo}-${i % (WARMUP_JOINS / 4)}`,
      (i) => `w${roundNo}-${i}`,
      RATE_PER_S,
    );
    await sleep(200);
    const r = await openLoop(
      sockets,
      (i) => `join-${label}-${roundNo}-${i % ROOMS}`,
      (i) => `p${roundNo}-${i}`,
      RATE_PER_S,
    );
    const ok = r.latencies.filter((l) => Number.isFinite(l));
    const [p50, p99, max] = percentiles(ok, [50, 99, 100]);
    const [lag99] = percentiles(r.lags, [99]);
    return {
      p50Ms: round(p50 ?? Number.NaN, 3),
      p99Ms: round(p99 ?? Number.NaN, 3),
      maxMs: round(max ?? Number.NaN, 3),
      errors: r.errors,
      timeouts: JOINS - ok.length - r.errors,
      sendLagP99Ms: round(lag99 ?? Number.NaN, 3),
      achievedRatePerS: Math.round(JOINS / r.durationS),
    };
  } finally {
    for (const ws of [...warm, ...sockets]) ws.terminate();
    await sleep(300);
  }
}

function summarize(rounds: RoundResult[]) {
  return {
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    maxMs: Math.max(...rounds.map((r) => r.maxMs)),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    timeouts: rounds.reduce((n, r) => n + r.timeouts, 0),
    sendLagP99Ms: median(rounds.map((r) => r.sendLagP99Ms)),
    achievedRatePerS: median(rounds.map((r) => r.achievedRatePerS)),
    rounds,
  };
}

export async function run(): Promise<BenchOutput> {
  let redis: RedisServerHandle | undefined;
  const servers: ServerUnderTest[] = [];
  try {
    redis = await startRedis();
    const bare = await startBareRelay('joins-bare');
    servers.push(bare);
    const memory = await startOpenCall('joins-opencall-memory');
    servers.push(memory);
    const onRedis = await startOpenCall('joins-opencall-redis', { REDIS_URL: redis.url });
    servers.push(onRedis);
    const targets = [
      ['bare', bare],
      ['memory', memory],
      ['redis', onRedis],
    ] as const;
    const rounds: Record<string, RoundResult[]> = { bare: [], memory: [], redis: [] };
    const discarded: Record<string, RoundResult[]> = { bare: [], memory: [], redis: [] };
    let roundNo = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const [label, server] of targets) {
        for (let attempt = 0; ; attempt++) {
          log(`joins: round ${r + 1}/${ROUNDS}: ${label}${attempt > 0 ? ` (redo ${attempt})` : ''}`);
          const result = await oneRound(server, label, roundNo++);
          const redos = discarded[label] ?? [];
          if (result.sendLagP99Ms <= MAX_SEND_LAG_P99_MS || redos.length >= MAX_REDOS) {
            rounds[label]?.push(result);
            break;
          }
          redos.push(result);
        }
      }
    }
    const base = summarize(rounds.bare ?? []);
    const mem = summarize(rounds.memory ?? []);
    const red = summarize(rounds.redis ?? []);
    const row = (label: string, s: ReturnType<typeof summarize>) => [
      label,
      s.p50Ms,
      s.p99Ms,
      s.maxMs,
      ratio(s.p50Ms, base.p50Ms) ?? 'n/a',
      ratio(s.p99Ms, base.p99Ms) ?? 'n/a',
      s.errors + s.timeouts,
      s.achievedRatePerS,
      s.sendLagP99Ms,
    ];
    return {
      name: 'joins',
      config: {
        joins: JOINS,
        rooms: ROOMS,
        ratePerS: RATE_PER_S,
        warmupJoins: WARMUP_JOINS,
        rounds: ROUNDS,
        disturbedRound: `generator send lag p99 > ${MAX_SEND_LAG_P99_MS} ms: recorded under discardedRounds, redone (at most ${MAX_REDOS} per target)`,
        serverEnv: { LOG_LEVEL: 'warn', SFU_ENABLED: 'false' },
        redis: 'redis-server --save "" --appendonly no on a free port, started and killed by the benchmark',
        wsRateLimitPerS: 'default (2000)',
        logLevelNote:
          'LOG_LEVEL=warn: the default (info) logs one "peer joined" line per join, which is not measured here.',
      },
      results: {
        redis: red,
        memory: mem,
        discardedRounds: { redis: discarded.redis, memory: discarded.memory },
      },
      baseline: { ...base, discardedRounds: discarded.bare },
      ratios: {
        redisP50: ratio(red.p50Ms, base.p50Ms),
        redisP99: ratio(red.p99Ms, base.p99Ms),
        memoryP50: ratio(mem.p50Ms, base.p50Ms),
        memoryP99: ratio(mem.p99Ms, base.p99Ms),
      },
      targets: [
        {
          name: 'join p99 on Redis',
          target: `<= ${TARGET_P99_MS} ms`,
          value: red.p99Ms,
          met: red.p99Ms <= TARGET_P99_MS && red.errors + red.timeouts === 0,
        },
      ],
      table: [
        [
          'joins',
          'p50 ms',
          'p99 ms',
          'max ms',
          'p50 / base',
          'p99 / base',
          'failed',
          'joins/s',
          'send lag p99 ms',
        ],
        row('bare relay (baseline)', base),
        row('OpenCall, memory store', mem),
        row('OpenCall, Redis store', red),
      ],
      notes: [
        `${JOINS} joins over ${ROOMS} rooms at ${RATE_PER_S}/s open loop; median of ${ROUNDS} rounds; max is over all rounds.`,
        `Rounds in which the load generator itself ran late (send lag p99 > ${MAX_SEND_LAG_P99_MS} ms: the machine, not the server) were redone: ${Object.entries(
          discarded,
        )
          .map(([k, v]) => `${k} ${v.length}`)
          .join(', ')}.`,
      ],
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await redis?.stop();
  }
}
