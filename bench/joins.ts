/**
 * joins: join latency under a steady open-loop load, in steps of 500, 1 000 and 2 000 joins/s.
 *
 * At each rate, 2 s of joins (rate x 2) over rate / 2 rooms (4 per room, interleaved so every room
 * fills over the run): join i is sent at t0 + i / rate by the wall clock, whatever the replies do.
 * Each join uses its own, already open, WebSocket. Latency = send of join-room → receipt of its
 * room-joined. Targets: OpenCall with the Redis store (its own redis-server on a free port, no
 * persistence, killed at the end), OpenCall with the memory store, and the bare relay, whose join is
 * "register and answer". A warm-up of 200 joins in other rooms precedes each round; ROUNDS rounds per
 * step, the three targets alternating; reported figures are the median over rounds.
 *
 * Redis round trips per join: counted through MONITOR in a separate pass after the latency rounds
 * (see redisRoundTripsPerJoin). A join is one EVALSHA of the join script (membership, capacity and
 * order in one atomic call); whatever else shows up there is logged by command name.
 */
import { Redis } from 'ioredis';
import type WebSocket from 'ws';
import type { RedisServerHandle } from '../test/helpers/redisServer.ts';
import { type BenchOutput, log, median, percentiles, ratio, round, sleep } from './lib/common.ts';
import { type ServerUnderTest, startBareRelay, startOpenCall, startRedis } from './lib/processes.ts';
import { joinFrame, mapLimit, openSocket } from './lib/ws.ts';

const STEPS_PER_S = [500, 1000, 2000];
/** Seconds of joins per round at each rate. */
const LOAD_S = 2;
const PEERS_PER_ROOM = 4;
const WARMUP_JOINS = 200;
const WARMUP_RATE_PER_S = 500;
const ROUNDS = 3;
/**
 * A round whose own scheduler sent joins later than this (p99) was disturbed by something else on
 * the machine, not by the server: it is recorded but not counted, and redone (at most MAX_REDOS
 * times per target).
 */
const MAX_SEND_LAG_P99_MS = 5;
const MAX_REDOS = 3;
const REPLY_TIMEOUT_MS = 10_000;
/** Issue 12: p99 ≤ 5 ms at 2 000 joins/s on Redis. */
const TARGET_P99_MS = 5;
const TARGET_RATE_PER_S = 2000;

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

async function oneRound(
  server: ServerUnderTest,
  label: string,
  roundNo: number,
  rate: number,
): Promise<RoundResult> {
  const joins = rate * LOAD_S;
  const rooms = joins / PEERS_PER_ROOM;
  const open = (n: number) =>
    mapLimit(
      Array.from({ length: n }, (_, i) => i),
      100,
      () => openSocket(server.wsUrl),
    );
  const warm = await open(WARMUP_JOINS);
  const sockets = await open(joins);
  try {
    await openLoop(
      warm,
      (i) => `warm-${label}-${roundNo}-${i % (WARMUP_JOINS / PEERS_PER_ROOM)}`,
      (i) => `w${roundNo}-${i}`,
      WARMUP_RATE_PER_S,
    );
    await sleep(200);
    const r = await openLoop(
      sockets,
      (i) => `join-${label}-${roundNo}-${i % rooms}`,
      (i) => `p${roundNo}-${i}`,
      rate,
    );
    const ok = r.latencies.filter((l) => Number.isFinite(l));
    const [p50, p99, max] = percentiles(ok, [50, 99, 100]);
    const [lag99] = percentiles(r.lags, [99]);
    return {
      p50Ms: round(p50 ?? Number.NaN, 3),
      p99Ms: round(p99 ?? Number.NaN, 3),
      maxMs: round(max ?? Number.NaN, 3),
      errors: r.errors,
      timeouts: joins - ok.length - r.errors,
      sendLagP99Ms: round(lag99 ?? Number.NaN, 3),
      achievedRatePerS: Math.round(joins / r.durationS),
    };
  } finally {
    for (const ws of [...warm, ...sockets]) ws.terminate();
    await sleep(300);
  }
}

/**
 * Counts the commands the server sends Redis (round trips, at most: ioredis may pipeline several in
 * one) while `joins` peers join, through MONITOR, which marks commands run inside a Lua script with
 * the source "lua": those are not round trips and are left out. MONITOR slows Redis down, so this is
 * a separate, small pass after the latency rounds, never during them.
 */
async function redisRoundTripsPerJoin(
  server: ServerUnderTest,
  redisUrl: string,
  joins: number,
): Promise<number> {
  // MONITOR takes over a connection of its own; the client that opened it must be closed too, or it
  // keeps reconnecting (and reporting ECONNREFUSED) once the Redis under test has stopped.
  const client = new Redis(redisUrl, { lazyConnect: true });
  await client.connect();
  const monitor = await client.monitor();
  monitor.on('error', () => {});
  const byCommand = new Map<string, number>();
  let total = 0;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    total++;
    const name = String(args[0]).toLowerCase();
    byCommand.set(name, (byCommand.get(name) ?? 0) + 1);
  });
  const sockets = await mapLimit(
    Array.from({ length: joins }, (_, i) => i),
    50,
    () => openSocket(server.wsUrl),
  );
  try {
    await openLoop(
      sockets,
      (i) => `rtt-${i % (joins / PEERS_PER_ROOM)}`,
      (i) => `rtt-${i}`,
      WARMUP_RATE_PER_S,
    );
    await sleep(200);
  } finally {
    monitor.disconnect();
    client.disconnect();
    for (const ws of sockets) ws.terminate();
    await sleep(300);
  }
  log(
    `joins: Redis commands during ${joins} joins: ${[...byCommand].map(([k, v]) => `${k} ${v}`).join(', ')}`,
  );
  return round(total / joins, 2);
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

type Label = 'bare' | 'memory' | 'redis';
type Summary = ReturnType<typeof summarize>;

interface StepResult {
  ratePerS: number;
  joins: number;
  rooms: number;
  bare: Summary;
  memory: Summary;
  redis: Summary;
  discardedRounds: Record<Label, RoundResult[]>;
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
    const targets: Array<readonly [Label, ServerUnderTest]> = [
      ['bare', bare],
      ['memory', memory],
      ['redis', onRedis],
    ];
    const steps: StepResult[] = [];
    let roundNo = 0;
    for (const rate of STEPS_PER_S) {
      const rounds: Record<Label, RoundResult[]> = { bare: [], memory: [], redis: [] };
      const discarded: Record<Label, RoundResult[]> = { bare: [], memory: [], redis: [] };
      for (let r = 0; r < ROUNDS; r++) {
        for (const [label, server] of targets) {
          for (let attempt = 0; ; attempt++) {
            log(
              `joins: ${rate}/s round ${r + 1}/${ROUNDS}: ${label}${attempt > 0 ? ` (redo ${attempt})` : ''}`,
            );
            const result = await oneRound(server, label, roundNo++, rate);
            if (result.sendLagP99Ms <= MAX_SEND_LAG_P99_MS || discarded[label].length >= MAX_REDOS) {
              rounds[label].push(result);
              break;
            }
            discarded[label].push(result);
          }
        }
      }
      steps.push({
        ratePerS: rate,
        joins: rate * LOAD_S,
        rooms: (rate * LOAD_S) / PEERS_PER_ROOM,
        bare: summarize(rounds.bare),
        memory: summarize(rounds.memory),
        redis: summarize(rounds.redis),
        discardedRounds: discarded,
      });
    }
    const roundTripsPerJoin = await redisRoundTripsPerJoin(onRedis, redis.url, 400);
    const row = (step: StepResult, label: string, s: Summary) => [
      step.ratePerS,
      label,
      s.p50Ms,
      s.p99Ms,
      s.maxMs,
      ratio(s.p99Ms, step.bare.p99Ms) ?? 'n/a',
      s.errors + s.timeouts,
      s.achievedRatePerS,
      s.sendLagP99Ms,
    ];
    const top = steps.find((s) => s.ratePerS === TARGET_RATE_PER_S) ?? (steps.at(-1) as StepResult);
    const ratios: Record<string, number | null> = {};
    for (const step of steps) {
      ratios[`redisP99At${step.ratePerS}`] = ratio(step.redis.p99Ms, step.bare.p99Ms);
      ratios[`memoryP99At${step.ratePerS}`] = ratio(step.memory.p99Ms, step.bare.p99Ms);
    }
    return {
      name: 'joins',
      config: {
        stepsPerS: STEPS_PER_S,
        loadS: LOAD_S,
        peersPerRoom: PEERS_PER_ROOM,
        warmupJoins: WARMUP_JOINS,
        roundsPerStep: ROUNDS,
        disturbedRound: `generator send lag p99 > ${MAX_SEND_LAG_P99_MS} ms: recorded under discardedRounds, redone (at most ${MAX_REDOS} per target)`,
        serverEnv: { LOG_LEVEL: 'warn', SFU_ENABLED: 'false' },
        redis: 'redis-server --save "" --appendonly no on a free port, started and killed by the benchmark',
        redisRoundTripsPerJoin:
          'commands the server sent Redis (MONITOR, commands inside Lua scripts excluded) during 400 joins at 500/s, in a separate pass after the latency rounds, / joins',
        logLevelNote:
          'LOG_LEVEL=warn: the default (info) logs one "peer joined" line per join, which is not measured here.',
      },
      results: {
        steps: steps.map(({ bare: _bare, ...rest }) => rest),
        redisRoundTripsPerJoin: roundTripsPerJoin,
      },
      baseline: { steps: steps.map((s) => ({ ratePerS: s.ratePerS, bare: s.bare })) },
      ratios,
      targets: [
        {
          name: `join p99 on Redis at ${top.ratePerS}/s`,
          target: `<= ${TARGET_P99_MS} ms`,
          value: top.redis.p99Ms,
          met: top.redis.p99Ms <= TARGET_P99_MS && top.redis.errors + top.redis.timeouts === 0,
        },
        {
          name: 'Redis round trips per join',
          target: 'reported (one Lua call per join)',
          value: roundTripsPerJoin,
          met: null,
        },
      ],
      table: [
        [
          'joins/s',
          'target',
          'p50 ms',
          'p99 ms',
          'max ms',
          'p99 / base',
          'failed',
          'achieved/s',
          'send lag p99 ms',
          'redis cmds/join',
        ],
        ...steps.flatMap((step) => [
          row(step, 'bare relay (baseline)', step.bare),
          row(step, 'OpenCall, memory store', step.memory),
          row(step, 'OpenCall, Redis store', step.redis),
        ]),
      ],
      notes: [
        `${LOAD_S} s of joins per round at each rate, ${PEERS_PER_ROOM} peers per room, open loop; median of ${ROUNDS} rounds; max is over all rounds.`,
        `Rounds in which the load generator itself ran late (send lag p99 > ${MAX_SEND_LAG_P99_MS} ms: the machine, not the server) were redone: ${steps
          .map(
            (s) =>
              `${s.ratePerS}/s: ${Object.entries(s.discardedRounds)
                .map(([k, v]) => `${k} ${v.length}`)
                .join(', ')}`,
          )
          .join('; ')}.`,
      ],
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await redis?.stop();
  }
}
