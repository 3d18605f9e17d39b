/**
 * capacity: 15 000 WebSocket peers in rooms of 4, held for HOLD_MS with the heartbeat on
 * (HEARTBEAT_INTERVAL_MS=5000, so four ping rounds happen during the hold).
 *
 * The client sockets live in CLIENT_PROCS child processes (7 500 each: open files are capped at
 * 20 000 per process), spread over source addresses 127.0.0.x; the server holds all 15 000.
 * Connect + join run at a bounded concurrency (CONCURRENCY in flight over all children).
 * Measured on the server process: RSS growth per peer, CPU while idle during the hold
 * (/proc/<pid>/stat), and the time to connect and join everyone. Baseline: the bare relay, same load
 * (it pings at the same interval).
 */
import type { ChildProcess } from 'node:child_process';
import type { ClientReply, ConnectCommand } from './lib/capacityClient.ts';
import { type BenchOutput, CpuMeter, log, processRssBytes, ratio, round, sleep } from './lib/common.ts';
import { forkScript, type ServerUnderTest, startBareRelay, startOpenCall } from './lib/processes.ts';

const PEERS = 15_000;
const ROOM_SIZE = 4;
const CLIENT_PROCS = 2;
const CONCURRENCY = 200;
/** Longer than the 15 s after which OpenCall reclaims a storm's memory: the idle peer is judged after it. */
const HOLD_MS = 20_000;
const HEARTBEAT_INTERVAL_MS = 5000;
const CONNECT_TIMEOUT_MS = 180_000;
const SETTLE_MS = 1000;
const TARGET_KB_PER_PEER_ABOVE_BASELINE = 20;

interface CapacityResult {
  peers: number;
  joined: number;
  failed: number;
  connectJoinS: number;
  connectsPerS: number;
  rssBeforeMB: number;
  rssAfterJoinMB: number;
  rssAfterHoldMB: number;
  rssPerPeerKB: number;
  rssPerPeerAfterHoldKB: number;
  idleCpuPct: number;
  pingsReceived: number;
  openAfterHold: number;
  firstErrors: string[];
}

function request(
  child: ChildProcess,
  message: unknown,
  type: ClientReply['type'],
  timeoutMs: number,
): Promise<ClientReply> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`capacity client: no ${type} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (reply: ClientReply) => {
      if (reply.type !== type) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(reply);
    };
    child.on('message', onMessage);
    child.send(message as object);
  });
}

async function measure(server: ServerUnderTest, label: string, addressBase: number): Promise<CapacityResult> {
  await sleep(SETTLE_MS);
  const rssBefore = processRssBytes(server.pid);
  const per = PEERS / CLIENT_PROCS;
  const clients = Array.from({ length: CLIENT_PROCS }, (_, i) =>
    forkScript(`capacity-client-${label}-${i}`, 'bench/lib/capacityClient.ts'),
  );
  try {
    const t0 = performance.now();
    const ready = await Promise.all(
      clients.map((client, i) => {
        // Four source addresses per child: ~1 900 sockets per address, far from running out of ports.
        const localAddresses = Array.from({ length: 4 }, (_, k) => `127.0.0.${addressBase + i * 4 + k}`);
        const cmd: ConnectCommand = {
          cmd: 'connect',
          url: server.wsUrl,
          from: i * per,
          count: per,
          roomSize: ROOM_SIZE,
          concurrency: CONCURRENCY / CLIENT_PROCS,
          localAddresses,
          prefix: `${label}-`,
          timeoutMs: CONNECT_TIMEOUT_MS,
          maxLifetimeMs: CONNECT_TIMEOUT_MS + HOLD_MS + 60_000,
        };
        return request(client.process, cmd, 'ready', CONNECT_TIMEOUT_MS + 10_000);
      }),
    );
    const connectJoinS = (performance.now() - t0) / 1000;
    const joined = ready.reduce((n, r) => n + (r.type === 'ready' ? r.joined : 0), 0);
    const failed = ready.reduce((n, r) => n + (r.type === 'ready' ? r.failed : 0), 0);
    const firstErrors = ready.flatMap((r) => (r.type === 'ready' ? r.firstErrors : []));
    const rssAfterJoin = processRssBytes(server.pid);
    log(`capacity ${label}: ${joined} joined, ${failed} failed in ${connectJoinS.toFixed(1)} s; holding`);

    const cpu = new CpuMeter(server.pid);
    cpu.start();
    await sleep(HOLD_MS);
    const idleCpuPct = cpu.stop();
    const rssAfterHold = processRssBytes(server.pid);
    const stats = await Promise.all(
      clients.map((c) => request(c.process, { cmd: 'stats' }, 'stats', 10_000)),
    );
    const pings = stats.reduce((n, s) => n + (s.type === 'stats' ? s.pings : 0), 0);
    const open = stats.reduce((n, s) => n + (s.type === 'stats' ? s.open : 0), 0);
    const mb = (b: number) => round(b / 1024 / 1024, 1);
    return {
      peers: PEERS,
      joined,
      failed,
      connectJoinS: round(connectJoinS, 2),
      connectsPerS: Math.round(joined / connectJoinS),
      rssBeforeMB: mb(rssBefore),
      rssAfterJoinMB: mb(rssAfterJoin),
      rssAfterHoldMB: mb(rssAfterHold),
      rssPerPeerKB: round((rssAfterJoin - rssBefore) / PEERS / 1024, 2),
      rssPerPeerAfterHoldKB: round((rssAfterHold - rssBefore) / PEERS / 1024, 2),
      idleCpuPct: round(idleCpuPct, 2),
      pingsReceived: pings,
      openAfterHold: open,
      firstErrors,
    };
  } finally {
    for (const c of clients) c.process.connected && c.process.send({ cmd: 'close' });
    await Promise.all(clients.map((c) => c.stop(5000)));
  }
}

export async function run(): Promise<BenchOutput> {
  let bare: ServerUnderTest | undefined;
  let oc: ServerUnderTest | undefined;
  try {
    log('capacity: baseline (bare relay)');
    bare = await startBareRelay('capacity-bare', { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) });
    const base = await measure(bare, 'bare', 10);
    await bare.stop();
    bare = undefined;

    log('capacity: opencall');
    oc = await startOpenCall('capacity-opencall', { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) });
    const open = await measure(oc, 'oc', 30);
    await oc.stop(30_000);
    oc = undefined;

    const aboveKB = round(open.rssPerPeerKB - base.rssPerPeerKB, 2);
    const allJoined = open.joined === PEERS && base.joined === PEERS;
    const row = (label: string, r: CapacityResult) => [
      label,
      r.joined,
      r.connectJoinS,
      r.connectsPerS,
      r.rssBeforeMB,
      r.rssAfterJoinMB,
      r.rssPerPeerKB,
      r.rssPerPeerAfterHoldKB,
      r.idleCpuPct,
      r.pingsReceived,
    ];
    return {
      name: 'capacity',
      config: {
        peers: PEERS,
        roomSize: ROOM_SIZE,
        clientProcesses: CLIENT_PROCS,
        connectConcurrency: CONCURRENCY,
        holdMs: HOLD_MS,
        serverEnv: {
          LOG_LEVEL: 'warn',
          SFU_ENABLED: 'false',
          HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS),
        },
        baselineEnv: { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) },
        wsRateLimitPerS: 'default (2000)',
        notes:
          'RSS per peer = (RSS after everyone joined - RSS of the idle server before) / peers; idle CPU = server utime+stime over the hold, % of one core.',
      },
      results: open,
      baseline: base,
      ratios: {
        rssPerIdlePeer: ratio(open.rssPerPeerAfterHoldKB, base.rssPerPeerAfterHoldKB),
        rssPerPeerAtStormEnd: ratio(open.rssPerPeerKB, base.rssPerPeerKB),
        idleCpu: ratio(open.idleCpuPct, base.idleCpuPct),
        connectJoinTime: ratio(open.connectJoinS, base.connectJoinS),
      },
      targets: [
        {
          name: 'RSS per peer above bare relay',
          target: `<= ${TARGET_KB_PER_PEER_ABOVE_BASELINE} KB`,
          value: aboveKB,
          met: allJoined && aboveKB <= TARGET_KB_PER_PEER_ABOVE_BASELINE,
        },
        { name: 'all peers joined', target: String(PEERS), value: open.joined, met: open.joined === PEERS },
        {
          // Idle: after the hold, with the heartbeat on. At the storm's end (rssPerPeerKB) the heap
          // still holds the joins' garbage, which OpenCall reclaims once connections stop (15 s).
          name: `RSS per idle peer vs bare relay (${PEERS} peers, after the ${HOLD_MS / 1000} s hold, issue 12)`,
          target: '<= 1.5 x',
          value: ratio(open.rssPerPeerAfterHoldKB, base.rssPerPeerAfterHoldKB),
          met:
            allJoined &&
            (ratio(open.rssPerPeerAfterHoldKB, base.rssPerPeerAfterHoldKB) ?? Number.POSITIVE_INFINITY) <=
              1.5,
        },
      ],
      table: [
        [
          'capacity',
          'joined',
          'connect+join s',
          'joins/s',
          'RSS before MB',
          'RSS joined MB',
          'KB/peer',
          'KB/peer after hold',
          'idle CPU %',
          'pings rcvd',
        ],
        row('bare relay (baseline)', base),
        row('OpenCall', open),
        [
          'OpenCall - baseline',
          '',
          round(open.connectJoinS - base.connectJoinS, 2),
          '',
          '',
          '',
          aboveKB,
          round(open.rssPerPeerAfterHoldKB - base.rssPerPeerAfterHoldKB, 2),
          round(open.idleCpuPct - base.idleCpuPct, 2),
          '',
        ],
      ],
      notes: [
        `${PEERS} peers, rooms of ${ROOM_SIZE}, held ${HOLD_MS / 1000} s with pings every ${HEARTBEAT_INTERVAL_MS / 1000} s; clients in ${CLIENT_PROCS} processes, ${CONCURRENCY} connects in flight.`,
        '"KB/peer" is RSS growth at the end of the connection storm; "KB/peer after hold" is the idle peer (the issue-12 target): OpenCall runs one memory-reducing GC 15 s after the last connection opened (RECLAIM_AFTER_CONNECTIONS), inside the hold, so its idle CPU includes that collection.',
      ],
    };
  } finally {
    await bare?.stop();
    await oc?.stop(30_000);
  }
}
