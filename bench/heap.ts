/**
 * heap: where an idle peer's memory goes, by constructor, against the bare relay.
 *
 * Each server (OpenCall with its defaults and the memory store; the bare relay) runs with
 * `--heapsnapshot-signal`. A snapshot is taken idle, then PEERS peers connect and join rooms of 4
 * (the capacity benchmark's client children), the heartbeat runs a round, and a second snapshot is
 * taken. Per kind of object (constructor, closure name, strings, arrays), the difference of self
 * sizes divided by PEERS is what each peer costs in the JS heap; the table lists the largest, side
 * by side. RSS per peer (the judged figure) is measured apart, without snapshots, on RSS_ROUNDS
 * fresh servers of each kind taken in turns (median): it includes what the heap does not (native
 * socket state, allocator slack, the young generation).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ClientReply, ConnectCommand } from './lib/capacityClient.ts';
import { type BenchOutput, log, median, processRssBytes, ratio, round, sleep } from './lib/common.ts';
import { type HeapKind, heapByKind, removeSnapshots, takeSnapshot } from './lib/heapSnapshot.ts';
import {
  forkScript,
  RESULTS_DIR,
  type ServerUnderTest,
  startBareRelay,
  startOpenCall,
} from './lib/processes.ts';

const PEERS = 5000;
const ROOM_SIZE = 4;
const HEARTBEAT_INTERVAL_MS = 2000;
const TOP = 25;
const RSS_ROUNDS = 3;

interface Measured {
  rssPerPeerKB: number;
  rssAfterGcPerPeerKB: number;
  heapPerPeerKB: number;
  byKind: Map<string, number>;
}

async function connect(server: ServerUnderTest, label: string): Promise<() => Promise<void>> {
  const client = forkScript(`heap-client-${label}`, 'bench/lib/capacityClient.ts');
  const cmd: ConnectCommand = {
    cmd: 'connect',
    url: server.wsUrl,
    from: 0,
    count: PEERS,
    roomSize: ROOM_SIZE,
    concurrency: 100,
    localAddresses: ['127.0.0.2', '127.0.0.3', '127.0.0.4'],
    prefix: `${label}-`,
    timeoutMs: 120_000,
    maxLifetimeMs: 600_000,
  };
  const reply = await new Promise<ClientReply>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('heap: connect timed out')), 130_000);
    client.process.on('message', (m: ClientReply) => {
      if (m.type !== 'ready') return;
      clearTimeout(timer);
      resolve(m);
    });
    client.process.send(cmd);
  });
  if (reply.type !== 'ready' || reply.joined !== PEERS) {
    throw new Error(`heap ${label}: ${JSON.stringify(reply)}`);
  }
  return async () => {
    client.process.connected && client.process.send({ cmd: 'close' });
    await client.stop(5000);
  };
}

/**
 * RSS per peer without snapshots: a snapshot runs a full compacting GC (which shrinks the young
 * generation that the joins then grow again) and allocates its graph outside the heap, so RSS
 * around it is not what an idle peer costs. Taken 3 s after the joins: before the server reclaims the
 * storm's memory (15 s), so it counts what the capacity benchmark calls the storm's end.
 */
async function measureRss(
  label: string,
  start: (flags: string[]) => Promise<ServerUnderTest>,
): Promise<number> {
  const server = await start([]);
  try {
    await sleep(1000);
    const rss0 = processRssBytes(server.pid);
    const close = await connect(server, `${label}-rss`);
    await sleep(HEARTBEAT_INTERVAL_MS * 1.5);
    const rss1 = processRssBytes(server.pid);
    await close();
    return round((rss1 - rss0) / PEERS / 1024, 2);
  } finally {
    await server.stop(5000);
  }
}

async function measure(
  label: string,
  start: (flags: string[]) => Promise<ServerUnderTest>,
): Promise<Measured> {
  const dir = join(RESULTS_DIR, `heap-${label}`);
  removeSnapshots(dir);
  mkdirSync(dir, { recursive: true });
  const server = await start([`--heapsnapshot-signal=SIGUSR2`, `--diagnostic-dir=${dir}`]);
  try {
    await sleep(1000);
    const idle = heapByKind(await takeSnapshot(server.pid, dir));
    const rss0 = processRssBytes(server.pid);
    const close = await connect(server, label);
    await sleep(HEARTBEAT_INTERVAL_MS * 1.5);
    const rss1 = processRssBytes(server.pid);
    const full = heapByKind(await takeSnapshot(server.pid, dir));
    // The snapshot ran a full GC: what stays resident after it is what the peers really hold.
    await sleep(1000);
    const rss2 = processRssBytes(server.pid);
    await close();
    const byKind = new Map<string, number>();
    let total = 0;
    for (const [kind, after] of full) {
      const before: HeapKind = idle.get(kind) ?? { bytes: 0, count: 0 };
      const perPeer = (after.bytes - before.bytes) / PEERS;
      total += perPeer;
      if (Math.abs(perPeer) >= 1) byKind.set(kind, perPeer);
    }
    log(
      `heap ${label}: ${round(total / 1024, 2)} KB heap, ${round((rss1 - rss0) / PEERS / 1024, 2)} KB RSS per peer, ${round((rss2 - rss0) / PEERS / 1024, 2)} KB after a full GC`,
    );
    return {
      rssPerPeerKB: round((rss1 - rss0) / PEERS / 1024, 2),
      rssAfterGcPerPeerKB: round((rss2 - rss0) / PEERS / 1024, 2),
      heapPerPeerKB: round(total / 1024, 2),
      byKind,
    };
  } finally {
    await server.stop(5000);
    removeSnapshots(dir);
  }
}

export async function run(): Promise<BenchOutput> {
  const env = { HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_INTERVAL_MS) };
  const startBare = (flags: string[]) => startBareRelay('heap-bare', env, flags);
  const startOc = (flags: string[]) => startOpenCall('heap-opencall', env, flags);
  // RSS: RSS_ROUNDS fresh servers each, taken in turns so that both see the machine's noise; the
  // median of each. The bare relay's own figure moves by a third from one start to the next.
  const rss = { bare: [] as number[], oc: [] as number[] };
  for (let i = 0; i < RSS_ROUNDS; i++) {
    rss.bare.push(await measureRss('bare', startBare));
    rss.oc.push(await measureRss('opencall', startOc));
  }
  log(`heap: RSS per peer, bare ${rss.bare.join(' / ')} KB, OpenCall ${rss.oc.join(' / ')} KB`);
  const bareRss = median(rss.bare);
  const ocRss = median(rss.oc);
  const bare = await measure('bare', startBare);
  const oc = await measure('opencall', startOc);
  const kinds = [...new Set([...oc.byKind.keys(), ...bare.byKind.keys()])]
    .map((kind) => ({ kind, oc: oc.byKind.get(kind) ?? 0, bare: bare.byKind.get(kind) ?? 0 }))
    .sort((a, b) => b.oc - b.bare - (a.oc - a.bare))
    .slice(0, TOP);
  return {
    name: 'heap',
    config: { PEERS, ROOM_SIZE, HEARTBEAT_INTERVAL_MS },
    results: {
      rssPerPeerKB: ocRss,
      rssPerPeerRoundsKB: rss.oc,
      rssPerPeerWithSnapshotsKB: oc.rssPerPeerKB,
      heapPerPeerKB: oc.heapPerPeerKB,
      byKind: Object.fromEntries([...oc.byKind].map(([k, v]) => [k, round(v, 1)])),
    },
    baseline: {
      rssPerPeerKB: bareRss,
      rssPerPeerRoundsKB: rss.bare,
      rssPerPeerWithSnapshotsKB: bare.rssPerPeerKB,
      heapPerPeerKB: bare.heapPerPeerKB,
      byKind: Object.fromEntries([...bare.byKind].map(([k, v]) => [k, round(v, 1)])),
    },
    ratios: {
      rssPerPeer: ratio(ocRss, bareRss),
      heapPerPeer: ratio(oc.heapPerPeerKB, bare.heapPerPeerKB),
    },
    targets: [
      {
        name: 'RSS per idle peer vs bare relay (5 000 peers)',
        target: '<= 1.5 x',
        value: ratio(ocRss, bareRss),
        met: (ratio(ocRss, bareRss) ?? Number.POSITIVE_INFINITY) <= 1.5,
      },
    ],
    table: [
      ['kind (heap bytes per peer)', 'OpenCall', 'bare relay', 'difference'],
      [
        '(total heap)',
        round(oc.heapPerPeerKB * 1024),
        round(bare.heapPerPeerKB * 1024),
        round((oc.heapPerPeerKB - bare.heapPerPeerKB) * 1024),
      ],
      [
        '(RSS, median of rounds)',
        round(ocRss * 1024),
        round(bareRss * 1024),
        round((ocRss - bareRss) * 1024),
      ],
      ...kinds.map((k) => [k.kind.slice(0, 60), round(k.oc), round(k.bare), round(k.oc - k.bare)]),
    ],
    notes: [
      'Self sizes of the JS heap per peer, by constructor, largest difference first.',
      `RSS per peer: median of ${RSS_ROUNDS} fresh servers each, without snapshots (a snapshot's full GC and graph distort RSS; rssPerPeerWithSnapshotsKB is the figure around them).`,
    ],
  };
}
