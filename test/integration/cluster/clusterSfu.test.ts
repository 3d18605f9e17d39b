import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../helpers/mscPeer.ts';
import { type NodeProcess, startProcess, stopProcess } from '../../helpers/nodeProcess.ts';
import { type RedisServerHandle, startRedisServer, uniqueKeyPrefix } from '../../helpers/redisServer.ts';
import { SyntheticSfuClient } from '../../helpers/sfuClient.ts';
import { freePortBase } from '../sfu/sfuTestEnv.ts';

/**
 * One SFU per room, pinned to a node: three real OpenCall processes with real mediasoup workers,
 * msc-node peers connected through all three. The room crosses the threshold, the owner's SFU
 * forwards everyone's media (packets counted by the receivers), then the owner is SIGKILLed and
 * the room is re-pinned to a live node, where media flows again.
 */
const HEARTBEAT_MS = 300;
const ROOM = 'pinned';

interface Node {
  id: string;
  proc: NodeProcess;
  base: string;
  ws: string;
}

/** Transports of this node's SFU, from its /metrics. */
async function sfuTransports(node: Node): Promise<number> {
  const text = await (await fetch(`${node.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('opencall_sfu_objects{kind="transport"}'));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe('a cluster room on the SFU', () => {
  let redis: RedisServerHandle;
  let client: Redis;
  const prefix = uniqueKeyPrefix('cluster-sfu');
  const nodes: Node[] = [];
  const peers: SyntheticSfuClient[] = [];
  /** A node of this cluster: one media worker on a free port, rooms of three on the SFU. */
  const nodeEnv = async (id: string, heartbeatMs = HEARTBEAT_MS) => ({
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: prefix,
    NODE_ID: id,
    NODE_HEARTBEAT_MS: String(heartbeatMs),
    SFU_ENABLED: 'true',
    MEDIASOUP_NUM_WORKERS: '1',
    RTC_PORT: String(await freePortBase(1)),
    SFU_UPGRADE_AT: '3',
    SFU_DOWNGRADE_AT: '1',
    LOG_LEVEL: 'info',
  });

  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url);
    for (const id of ['node-a', 'node-b', 'node-c']) {
      const proc = startProcess(await nodeEnv(id));
      const base = await proc.listening;
      nodes.push({ id, proc, base, ws: `${base.replace('http', 'ws')}/ws` });
    }
  });

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close().catch(() => undefined)));
    for (const node of nodes) stopProcess(node.proc.child);
    client?.disconnect();
    await redis?.stop();
  });

  const diagnose = (err: Error): never => {
    const state = peers.map((c) => ({
      peer: c.peerId,
      stage: c.stage,
      modes: c.modes,
      restarts: c.restarts,
      errors: c.errors.map((e) => `${e.code}: ${e.error}`),
      failures: c.failures,
      received: [...(c.peer?.received.values() ?? [])].map((r) => r.packets),
    }));
    const logs = nodes.map((n) => `--- ${n.id}\n${n.proc.output.slice(-15).join('\n')}`).join('\n');
    throw new Error(`${err.message}\n${JSON.stringify(state)}\n${logs}`);
  };

  /** Every live peer receives packets from every stream of every other live peer. */
  const flowing = (live: SyntheticSfuClient[], minPackets: number) =>
    live.every((c) => {
      const streams = [...(c.peer?.received.values() ?? [])];
      return (
        c.mode === 'sfu' && streams.filter((s) => s.packets >= minPackets).length >= (live.length - 1) * 2
      );
    });

  it('crosses the threshold with peers on all three nodes; one node’s SFU forwards everyone’s media', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    peers.push(await SyntheticSfuClient.join(a.ws, ROOM, 'pa'));
    peers.push(await SyntheticSfuClient.join(b.ws, ROOM, 'pb'));
    peers.push(await SyntheticSfuClient.join(c.ws, ROOM, 'pc'));
    await waitFor(() => flowing(peers, 10), 'media through the pinned SFU', 30_000).catch(diagnose);

    // The room's media lives on the node that pinned it (the first joiner's): all six transports.
    expect(await client.get(`${prefix}room:{${ROOM}}:sfu-node`)).toBe('node-a');
    expect(await sfuTransports(a)).toBe(6);
    expect(await sfuTransports(b)).toBe(0);
    expect(await sfuTransports(c)).toBe(0);
  });

  it('re-pins the room when its node dies; the others rebuild their transports and media flows again', async () => {
    const [a, b, c] = nodes as [Node, Node, Node];
    const [, pb, pc] = peers as [SyntheticSfuClient, SyntheticSfuClient, SyntheticSfuClient];
    a.proc.child.kill('SIGKILL');
    await a.proc.exited;
    await waitFor(() => pb.restarts > 0 && pc.restarts > 0, 'sfu-restart after the owner died', 10_000).catch(
      diagnose,
    );
    const owner = await client.get(`${prefix}room:{${ROOM}}:sfu-node`);
    expect(['node-b', 'node-c']).toContain(owner);
    // Fresh packets on the new router: counts restart from zero with the new consumers.
    await waitFor(() => flowing([pb, pc], 10), 'media again after the re-pin', 20_000).catch(diagnose);
    const [onB, onC] = [await sfuTransports(b), await sfuTransports(c)];
    expect(owner === 'node-b' ? [onB, onC] : [onC, onB]).toEqual([4, 0]);
  }, 60_000);

  it('a peer of a stopped node resumes on another node with new transports, and media flows again', async () => {
    const [, pb, pc] = peers as [SyntheticSfuClient, SyntheticSfuClient, SyntheticSfuClient];
    const proc = startProcess(await nodeEnv('node-d'));
    const base = await proc.listening;
    const d: Node = { id: 'node-d', proc, base, ws: `${base.replace('http', 'ws')}/ws` };
    nodes.push(d);
    const pd = await SyntheticSfuClient.join(d.ws, ROOM, 'pd');
    peers.push(pd);
    await waitFor(() => flowing([pb, pc, pd], 10), 'media with the peer of node-d', 20_000).catch(diagnose);

    const owner = nodes.find((n) => n.id === 'node-b') as Node;
    const other = nodes.find((n) => n.id === 'node-c') as Node;
    const pinned = await client.get(`${prefix}room:{${ROOM}}:sfu-node`);
    const target = pinned === 'node-b' ? other : owner;
    const started = Date.now();
    d.proc.child.kill('SIGTERM');
    await pd.ws.closed;
    await pd.close();
    const back = await SyntheticSfuClient.join(target.ws, ROOM, 'pd', {
      resumeToken: pd.resumeToken as string,
    });
    peers.push(back);
    expect(back.resumed).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(() => back.restarts > 0, 'sfu-restart for the resumed peer', 10_000).catch(diagnose);
    // Its new producers reach the others and theirs reach it: new transports, same peer.
    const fresh = () => [...(back.peer?.produced.keys() ?? [])];
    await waitFor(
      () =>
        flowing([pb, pc, back], 10) &&
        fresh().length === 2 &&
        [pb, pc].every((c) => c.receivingFromAll(fresh(), 10)),
      'media again after the resume',
      20_000,
    ).catch(diagnose);
    expect(pb.ws.received.filter((m) => m.type === 'peer-left' && m.peerId === 'pd')).toEqual([]);
  }, 60_000);

  it('a node restarted under the same NODE_ID before anyone notices hands its SFU rooms back', async () => {
    const [, pb, pc] = peers as [SyntheticSfuClient, SyntheticSfuClient, SyntheticSfuClient];
    // Node E beats slowly: its liveness key outlives a quick restart, so nobody declares it dead.
    const env = () => nodeEnv('node-e', 5000);
    const first = startProcess(await env());
    const e: Node = { id: 'node-e', proc: first, base: await first.listening, ws: '' };
    e.ws = `${e.base.replace('http', 'ws')}/ws`;
    nodes.push(e);
    const pe = await SyntheticSfuClient.join(e.ws, 'pinned2', 'pe');
    peers.push(pe);
    const b = nodes.find((n) => n.id === 'node-b') as Node;
    const c = nodes.find((n) => n.id === 'node-c') as Node;
    const qb = await SyntheticSfuClient.join(b.ws, 'pinned2', 'qb');
    const qc = await SyntheticSfuClient.join(c.ws, 'pinned2', 'qc');
    peers.push(qb, qc);
    await waitFor(() => flowing([pe, qb, qc], 10), 'media through node-e', 30_000).catch(diagnose);
    expect(await client.get(`${prefix}room:{pinned2}:sfu-node`)).toBe('node-e');

    first.child.kill('SIGKILL');
    await first.exited;
    const second = startProcess(await env());
    nodes.push({ id: 'node-e', proc: second, base: await second.listening, ws: '' });
    // The new life says its old peer left, and a live node with peers there takes the room over.
    const left = await qb.ws
      .next('peer-left', (m) => m.peerId === 'pe', 15_000)
      .catch((err: Error) => {
        throw new Error(
          `${err.message}\n${second.output.filter((l) => !l.includes('"level":30') || l.includes('removed')).join('\n')}`,
        );
      });
    expect(left.roomId).toBe('pinned2');
    await waitFor(() => qb.restarts > 0 && qc.restarts > 0, 'sfu-restart after the restart', 15_000).catch(
      diagnose,
    );
    expect(['node-b', 'node-c']).toContain(await client.get(`${prefix}room:{pinned2}:sfu-node`));
    await waitFor(() => flowing([qb, qc], 10), 'media again on the adopting node', 30_000).catch(diagnose);
    void pb;
    void pc;
  }, 90_000);
});
