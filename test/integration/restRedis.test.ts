import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisServer } from '../helpers/redisServer.ts';
import { startServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

describe('REST on the Redis store', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  it('keeps a room created through REST across a restart of the server process', async () => {
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `restart${Date.now()}:` };
    const first = await startServer(env);
    const created = await first.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { hostPeerId: 'h', maxParticipants: 3 },
    });
    const { roomId } = created.json();
    await first.close();

    const second = await startServer(env);
    try {
      const info = await second.app.inject({ method: 'GET', url: `/api/rooms/${roomId}` });
      expect(info.statusCode).toBe(200);
      expect(info.json()).toMatchObject({
        roomId,
        meetingInfo: { hostPeerId: 'h', maxParticipants: 3 },
        participantCount: 0,
      });
      const ws = await TestClient.connect(second.wsUrl);
      expect((await ws.join(roomId, 'h')).roomId).toBe(roomId);
      await ws.close();
      const list = await second.app.inject({ method: 'GET', url: '/api/rooms' });
      expect(list.json()).toMatchObject({ totalRooms: 1, serverStats: { store: 'redis' } });
    } finally {
      await second.close();
    }
  });

  it('reports /ready 503 while Redis is unreachable, and ready when it answers', async () => {
    const server = await startServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `ready${Date.now()}:` });
    try {
      expect((await server.app.inject({ method: 'GET', url: '/ready' })).json()).toMatchObject({
        status: 'ready',
        store: { status: 'ok', kind: 'redis' },
      });
    } finally {
      await server.close();
    }
    // A port nobody listens on: the store cannot connect.
    const down = await startServer({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_KEY_PREFIX: 'down:' });
    try {
      const res = await down.app.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({
        status: 'not-ready',
        store: { status: 'unreachable', kind: 'redis' },
      });
      expect((await down.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    } finally {
      await down.close();
    }
  });
});
