import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterBus, parseEnvelope } from '../../../src/cluster/ClusterBus.ts';
import type { Envelope } from '../../../src/cluster/ClusterBusTypes.ts';
import { type RedisServerHandle, startRedisServer, uniqueKeyPrefix } from '../../helpers/redisServer.ts';

/** ClusterBus against a real redis-server: channels, liveness, and the grace after an empty Redis. */
describe('ClusterBus', () => {
  let redis: RedisServerHandle;
  const buses: ClusterBus[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await redis.stop();
  });

  async function bus(
    nodeId: string,
    prefix: string,
    heartbeatMs: number,
    knownNodes: string[] = [],
  ): Promise<ClusterBus> {
    const b = new ClusterBus({
      nodeId,
      pub: new Redis(redis.url),
      sub: new Redis(redis.url),
      keyPrefix: prefix,
      heartbeatMs,
      logger: pino({ level: 'silent' }),
      knownNodes: () => knownNodes,
    });
    buses.push(b);
    await b.start();
    return b;
  }

  it('delivers envelopes to one node’s channel, in order, payloads with newlines intact', async () => {
    const prefix = uniqueKeyPrefix('bus');
    const [a, b] = [await bus('a', prefix, 5000), await bus('b', prefix, 5000)];
    const got: Envelope[] = [];
    const all = new Promise<void>((resolve) =>
      b.on('envelope', (e) => {
        got.push(e);
        if (got.length === 100) resolve();
      }),
    );
    for (let i = 0; i < 100; i++) a.send('b', 'T', 'room', 'peer', `frame ${i}\nsecond line`);
    await all;
    expect(got.map((e) => e.payload)).toEqual(
      Array.from({ length: 100 }, (_, i) => `frame ${i}\nsecond line`),
    );
    expect(got[0]).toMatchObject({ origin: 'a', kind: 'T', roomId: 'room', peerId: 'peer' });
    expect(parseEnvelope('garbage')).toBeUndefined();
    expect(parseEnvelope('a\nZ\nr\np\n1\nx')).toBeUndefined();
  });

  it('declares a silent node dead once, naming one cleaner; a Redis that lost every key is not a death', async () => {
    const prefix = uniqueKeyPrefix('bus');
    // Long enough that the half interval of slack in the bound below is more than timer and Redis
    // jitter on a loaded 2-core machine (at 400 ms a CI run once saw death 14 ms past 3.5 beats).
    const heartbeatMs = 800;
    // The watcher holds peers of 'other' (its directory names it), as a node with a shared room does.
    const watcher = await bus('watcher', prefix, heartbeatMs, ['other']);
    const other = await bus('other', prefix, heartbeatMs);
    const deaths: Array<[string, boolean]> = [];
    watcher.on('nodedead', (id, cleaner) => deaths.push([id, cleaner]));
    await watcher.sweep();
    expect(watcher.isAlive('other')).toBe(true);

    // Every key gone at once (Redis restarted empty): right after, the other node is still alive.
    const admin = new Redis(redis.url);
    await admin.flushall();
    await watcher.sweep();
    expect(deaths).toEqual([]);
    expect(watcher.isAlive('other')).toBe(true);

    // It beats again within its interval, so it never dies; then it stops for good, and dies.
    await new Promise((r) => setTimeout(r, heartbeatMs * 3));
    expect(deaths).toEqual([]);
    const stoppedAt = performance.now();
    await other.close();
    while (deaths.length === 0 && performance.now() - stoppedAt < heartbeatMs * 6) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(deaths).toEqual([['other', true]]);
    expect(performance.now() - stoppedAt).toBeLessThanOrEqual(heartbeatMs * 3.5);
    expect(watcher.isAlive('other')).toBe(false);
    admin.disconnect();
  });
});
