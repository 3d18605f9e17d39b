import { afterEach, describe, expect, it } from 'vitest';
import { spawnRedis, startRedisServer } from '../helpers/redisServer.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

/*
 * Redis goes away under connected peers (a real redis-server, killed): relays between them keep
 * flowing, store operations fail fast with STORE_UNAVAILABLE, and /ready says 503.
 */

let server: TestServer;
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

describe('a Redis outage', () => {
  it('keeps relays flowing and answers store operations with STORE_UNAVAILABLE, fast', async () => {
    const redis = await startRedisServer();
    server = await startServer({ REDIS_URL: redis.url });
    const [a, b] = [await TestClient.connect(server.wsUrl), await TestClient.connect(server.wsUrl)];
    clients.push(a, b);
    await a.join('outage', 'a');
    await b.join('outage', 'b');
    await redis.stop();

    // Relays never touch the store.
    a.send({ type: 'offer', toPeerId: 'b', offer: { type: 'offer', sdp: 'during outage' } });
    expect(await b.next('offer')).toMatchObject({ offer: { sdp: 'during outage' } });

    // A store write fails fast, with its own code, and the relays after it are not held behind it.
    const started = performance.now();
    const write = await a.request({
      type: 'media-state-changed',
      mediaState: { audio: false, video: false, screen: false },
    });
    expect(write).toMatchObject({ type: 'error', code: 'STORE_UNAVAILABLE' });
    expect(performance.now() - started).toBeLessThan(1_000);
    a.send({ type: 'ice-candidate', toPeerId: 'b', candidate: null });
    expect(await b.next('ice-candidate')).toMatchObject({ fromPeerId: 'a' });

    const c = await TestClient.connect(server.wsUrl);
    clients.push(c);
    expect(await c.request({ type: 'join-room', roomId: 'outage', displayName: 'c' })).toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    const rest = await fetch(`${server.url}/api/rooms/outage`);
    expect(rest.status).toBe(503);
    expect(await rest.json()).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe('Redis back empty after a crash', () => {
  it('gets the live peers and their rooms back without any client reconnecting', async () => {
    const redis = await startRedisServer();
    server = await startServer({ REDIS_URL: redis.url });
    const [a, b] = [await TestClient.connect(server.wsUrl), await TestClient.connect(server.wsUrl)];
    clients.push(a, b);
    await a.join('phoenix', 'a');
    await b.join('phoenix', 'b');
    await redis.stop();
    const restarted = await spawnRedis(redis.port);
    try {
      // ioredis reconnects on its own backoff; then the server writes back what it holds.
      await expect
        .poll(
          async () => {
            const res = await fetch(`${server.url}/api/rooms/phoenix`);
            if (res.status !== 200) return [];
            const body = (await res.json()) as { peers: Array<{ peerId: string }> };
            return body.peers.map((p) => p.peerId).sort();
          },
          { timeout: 15_000, interval: 200 },
        )
        .toEqual(['a', 'b']);
      // The store is right again: media state updates work, and a newcomer sees both peers.
      expect(
        await a.request({
          type: 'media-state-changed',
          mediaState: { audio: true, video: false, screen: false },
        }),
      ).toMatchObject({ type: 'media-state-changed' });
      const c = await TestClient.connect(server.wsUrl);
      clients.push(c);
      const joined = await c.join('phoenix', 'c');
      expect(joined.peers.map((p) => p.peerId).sort()).toEqual(['a', 'b']);
      expect(await a.next('peer-joined', (m) => m.peerId === 'c')).toBeTruthy();
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await server.close();
      await restarted.stop();
    }
  });
});
