import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../src/protocol/index.ts';
import { startRedisServer } from '../helpers/redisServer.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

/* Chat over signaling, on the memory store and a real redis-server. */

const stores = [
  { name: 'memory', env: async () => ({}) as Record<string, string>, stop: async () => {} },
  (() => {
    let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    return {
      name: 'redis',
      env: async (): Promise<Record<string, string>> => {
        redis ??= await startRedisServer();
        return {
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: `c${Date.now()}${Math.random().toString(36).slice(2, 6)}:`,
        };
      },
      stop: async () => redis?.stop(),
    };
  })(),
];

describe.each(stores)('chat ($name store)', (store) => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(server.wsUrl);
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });
  afterAll(() => store.stop());

  it('stamps and delivers room messages, keeps the last CHAT_HISTORY, and serves them to joiners', async () => {
    server = await startServer({ ...(await store.env()), CHAT_HISTORY: '3' });
    const [a, b] = [await connect(), await connect()];
    await a.join('chat', 'alice', 'Alice');
    await b.join('chat', 'bob', 'Bob');
    const sent = await a.request({ type: 'chat-message', text: '<b>hi</b>', fromPeerId: 'mallory' });
    expect(sent).toMatchObject({
      type: 'chat-message',
      message: { roomId: 'chat', fromPeerId: 'alice', displayName: 'Alice', text: '<b>hi</b>' },
    });
    const got = (await b.next('chat-message')) as ServerMessageOf<'chat-message'>;
    expect(got.message).toEqual((sent as ServerMessageOf<'chat-message'>).message);
    for (const text of ['2', '3', '4']) await a.request({ type: 'chat-message', text });
    const late = await connect();
    await late.join('chat', 'carol');
    const history = (await late.request({ type: 'chat-history' })) as ServerMessageOf<'chat-history'>;
    expect(history.messages.map((m) => m.text)).toEqual(['2', '3', '4']);
  });

  it('private messages reach only their target and are not kept', async () => {
    server = await startServer(await store.env());
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.join('dm', 'a');
    await b.join('dm', 'b');
    await c.join('dm', 'c');
    const sent = await a.request({ type: 'chat-message', text: 'psst', toPeerId: 'b' });
    expect(sent).toMatchObject({ message: { toPeerId: 'b', fromPeerId: 'a' } });
    expect(await b.next('chat-message')).toMatchObject({ message: { text: 'psst', toPeerId: 'b' } });
    await c.request({ type: 'ping' });
    expect(c.received.map((m) => m.type)).not.toContain('chat-message');
    expect(await c.request({ type: 'chat-history' })).toMatchObject({ messages: [] });
    expect(await a.request({ type: 'chat-message', text: 'x', toPeerId: 'nobody' })).toMatchObject({
      code: 'PEER_NOT_FOUND',
    });
  });

  it('refuses empty and oversize text, chat outside a room, and floods', async () => {
    server = await startServer(await store.env());
    const a = await connect();
    expect(await a.request({ type: 'chat-message', text: 'x' })).toMatchObject({ code: 'NOT_IN_ROOM' });
    await a.join('limits', 'a');
    expect(await a.request({ type: 'chat-message', text: '' })).toMatchObject({ code: 'INVALID_MESSAGE' });
    expect(await a.request({ type: 'chat-message', text: 'é'.repeat(2049) })).toMatchObject({
      code: 'INVALID_MESSAGE',
    });
    expect(await a.request({ type: 'chat-message', text: 'é'.repeat(2048) })).toMatchObject({
      type: 'chat-message',
    });
    const replies = [];
    for (let i = 0; i < 30; i++) replies.push(await a.request({ type: 'chat-message', text: `m${i}` }));
    expect(replies.some((r) => r.type === 'error' && r.code === 'RATE_LIMITED')).toBe(true);
  });
});
