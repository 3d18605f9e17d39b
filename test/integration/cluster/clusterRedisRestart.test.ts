import { afterAll, describe, expect, it } from 'vitest';
import { type NodeProcess, startProcess, stopProcess } from '../../helpers/nodeProcess.ts';
import { freePort, type RedisServerHandle, spawnRedis } from '../../helpers/redisServer.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/**
 * Redis is SIGKILLed under a two-node room and comes back empty: the nodes' liveness keys are gone
 * for a moment, yet no node is declared dead (no peer-left, nothing removed), the room and its
 * peers are reconciled into the new Redis, and relays cross nodes again.
 */
const HEARTBEAT_MS = 300;

describe('a cluster when Redis restarts empty', () => {
  const procs: NodeProcess[] = [];
  const clients: TestClient[] = [];
  let redis: RedisServerHandle | undefined;

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const p of procs) stopProcess(p.child);
    await redis?.stop();
  });

  it('declares no live node dead and reconciles the room across nodes', async () => {
    const port = await freePort();
    redis = await spawnRedis(port);
    const start = async (id: string) => {
      const proc = startProcess({
        REDIS_URL: `redis://127.0.0.1:${port}`,
        NODE_ID: id,
        NODE_HEARTBEAT_MS: String(HEARTBEAT_MS),
        LOG_LEVEL: 'info',
      });
      procs.push(proc);
      const base = await proc.listening;
      return { base, ws: `${base.replace('http', 'ws')}/ws` };
    };
    const [a, b] = [await start('node-a'), await start('node-b')];
    const x = await TestClient.connect(a.ws);
    const y = await TestClient.connect(b.ws);
    clients.push(x, y);
    await x.join('restart', 'x');
    await y.join('restart', 'y');
    await x.next('peer-joined');

    await redis.stop();
    redis = undefined;
    await new Promise((r) => setTimeout(r, 1500));
    redis = await spawnRedis(port);

    // The room is back in the new Redis with both peers, as REST on either node says.
    const count = async (base: string) => {
      const res = await fetch(`${base}/api/rooms/restart`);
      return res.ok ? ((await res.json()) as { participantCount: number }).participantCount : -1;
    };
    const deadline = Date.now() + 10_000;
    while ((await count(a.base)) !== 2 || (await count(b.base)) !== 2) {
      if (Date.now() > deadline) throw new Error('the room was not reconciled');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Well past the 3 heartbeats after which a silent node would be declared dead.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 5));
    expect([...x.received, ...y.received].filter((m) => m.type === 'peer-left')).toEqual([]);
    for (const p of procs) expect(p.output.join('\n')).not.toContain('node stopped heartbeating');
    expect(await count(a.base)).toBe(2);

    x.send({ type: 'offer', roomId: 'restart', toPeerId: 'y', offer: { type: 'offer', sdp: 'v=0 after' } });
    expect((await y.next('offer')).offer.sdp).toBe('v=0 after');
    y.send({ type: 'answer', roomId: 'restart', toPeerId: 'x', answer: { type: 'answer', sdp: 'v=0 back' } });
    expect((await x.next('answer')).answer.sdp).toBe('v=0 back');
  });
});
