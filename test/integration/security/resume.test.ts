import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../../src/protocol/index.ts';
import { startRedisServer } from '../../helpers/redisServer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/*
 * Resume: a dropped socket's peer is kept for RESUME_WINDOW_MS for whoever presents its
 * resumeToken; the room never sees it leave. Memory store and a real redis-server.
 */

const stores = [
  { name: 'memory', env: async () => ({}), stop: async () => {} },
  (() => {
    let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    return {
      name: 'redis',
      env: async () => {
        redis ??= await startRedisServer();
        return {
          REDIS_URL: redis.url,
          REDIS_KEY_PREFIX: `r${Date.now()}${Math.random().toString(36).slice(2, 6)}:`,
        };
      },
      stop: async () => redis?.stop(),
    };
  })(),
];

const MEDIA = { audio: true, video: false, screen: true };

describe.each(stores)('resume ($name store)', (store) => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(server.wsUrl);
    clients.push(c);
    return c;
  };
  const start = async (env: Record<string, string> = {}) => {
    server = await startServer({ ...(await store.env()), ...env });
  };
  const joinAs = async (c: TestClient, peerId: string, extra: Record<string, unknown> = {}) =>
    c.request({ type: 'join-room', roomId: 'r', peerId, displayName: peerId, mediaState: MEDIA, ...extra });
  /** The server's end of the connection opened last. */
  const lastServerSocket = () => {
    const socket = server.app.signalingSockets().at(-1);
    if (!socket) throw new Error('no connection');
    return socket;
  };
  /** Everything the room sent `c` up to now: a ping's pong comes after all of it. */
  const settled = async (c: TestClient) => {
    await c.request({ type: 'ping' });
    return c.received.map((m) => m.type);
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });
  afterAll(() => store.stop());

  it('gives the peer back to its resumeToken: same id and media state, queued messages, no peer-left', async () => {
    await start();
    const a = await connect();
    const b = await connect();
    await joinAs(a, 'a');
    const bOnServer = lastServerSocket();
    const joined = (await joinAs(b, 'b')) as ServerMessageOf<'room-joined'>;
    expect(joined.resumeToken).toMatch(/^[\w-]{32}$/);
    await a.next('peer-joined');
    // The server notices the drop (its side closes) before the room sends b anything more.
    const gone = new Promise((resolve) => bOnServer.once('close', resolve));
    bOnServer.terminate();
    await gone;
    // The room keeps sending to b meanwhile; it waits for b's return.
    a.send({ type: 'offer', toPeerId: 'b', offer: { type: 'offer', sdp: 'while-away' } });
    expect(await settled(a)).not.toContain('error');

    // Without the token, or with a wrong one, the id is taken.
    expect(await joinAs(await connect(), 'b')).toMatchObject({ code: 'DUPLICATE_PEER' });
    expect(await joinAs(await connect(), 'b', { resumeToken: 'x'.repeat(32) })).toMatchObject({
      code: 'DUPLICATE_PEER',
    });

    const back = await connect();
    const resumed = await joinAs(back, 'b', { resumeToken: joined.resumeToken, mediaState: undefined });
    expect(resumed).toMatchObject({ type: 'room-joined', peerId: 'b', resumed: true });
    if (resumed.type !== 'room-joined') throw new Error('not resumed');
    expect(resumed.resumeToken).not.toBe(joined.resumeToken);
    expect(resumed.peers.map((p) => p.peerId)).toEqual(['a']);
    expect(await back.next('offer')).toMatchObject({ fromPeerId: 'a', offer: { sdp: 'while-away' } });
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/r' });
    expect(info.json().peers).toContainEqual(expect.objectContaining({ peerId: 'b', mediaState: MEDIA }));
    // a never saw b leave or come back, and can reach it on the new socket.
    const seen = await settled(a);
    expect(seen).not.toContain('peer-left');
    expect(seen).not.toContain('peer-joined');
    a.send({ type: 'answer', toPeerId: 'b', answer: { type: 'answer', sdp: 'after' } });
    expect(await back.next('answer')).toMatchObject({ answer: { sdp: 'after' } });
  });

  it('after the window the peer leaves as before, and its token starts a new join', async () => {
    await start({ RESUME_WINDOW_MS: '200' });
    const a = await connect();
    const b = await connect();
    await joinAs(a, 'a');
    const joined = (await joinAs(b, 'b')) as ServerMessageOf<'room-joined'>;
    b.ws.terminate();
    expect(await a.next('peer-left', (m) => m.peerId === 'b')).toMatchObject({ roomId: 'r' });
    const again = await joinAs(await connect(), 'b', { resumeToken: joined.resumeToken });
    expect(again).toMatchObject({ type: 'room-joined', peerId: 'b' });
    expect(again).not.toHaveProperty('resumed');
    expect(await a.next('peer-joined', (m) => m.peerId === 'b')).toBeTruthy();
  });

  it('a token for a socket the server still thinks open takes it over', async () => {
    await start();
    const a = await connect();
    const b = await connect();
    await joinAs(a, 'a');
    const joined = (await joinAs(b, 'b')) as ServerMessageOf<'room-joined'>;
    const b2 = await connect();
    expect(await joinAs(b2, 'b', { resumeToken: joined.resumeToken })).toMatchObject({ resumed: true });
    expect((await b.closed).code).toBe(1000);
    expect(await settled(a)).not.toContain('peer-left');
  });
});
