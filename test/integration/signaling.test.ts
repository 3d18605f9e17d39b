import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServerMessage } from '../../src/protocol/index.ts';
import { startRedisServer } from '../helpers/redisServer.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

/*
 * The seed's WebSocket protocol, driven the way an outside client drives it: raw JSON over `ws`.
 * The whole suite runs on the memory store and on a real redis-server.
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
          REDIS_KEY_PREFIX: `t${Date.now()}${Math.random().toString(36).slice(2, 6)}:`,
        };
      },
      stop: async () => redis?.stop(),
    };
  })(),
];

describe.each(stores)('signaling over /ws ($name store)', (store) => {
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

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });
  afterAll(() => store.stop());

  it('joins, discovers peers and announces newcomers', async () => {
    await start();
    const a = await connect();
    const joinedA = await a.join('room1', 'alice', 'Alice');
    expect(joinedA).toMatchObject({ type: 'room-joined', roomId: 'room1', peerId: 'alice', peers: [] });
    expect(joinedA.iceServers).toEqual([{ urls: ['stun:stun.l.google.com:19302'] }]);
    expect(typeof joinedA.timestamp).toBe('number');

    const b = await connect();
    const joinedB = await b.join('room1', 'bob', 'Bob');
    expect(joinedB.peers).toEqual([
      { peerId: 'alice', displayName: 'Alice', mediaState: { audio: true, video: true, screen: false } },
    ]);
    const announced = await a.next('peer-joined');
    expect(announced).toMatchObject({
      roomId: 'room1',
      peerId: 'bob',
      displayName: 'Bob',
      mediaState: { audio: true, video: true, screen: false },
    });
    expect(typeof announced.timestamp).toBe('number');
  });

  it('builds iceServers from STUN_URLS and TURN_*', async () => {
    await start({
      STUN_URLS: 'stun:a.example:3478,stun:b.example:3478',
      TURN_URL: 'turn:turn.example:3478',
      TURN_USERNAME: 'user',
      TURN_CREDENTIAL: 'pass',
    });
    const a = await connect();
    const joined = await a.join('ice', 'a');
    expect(joined.iceServers).toEqual([
      { urls: ['stun:a.example:3478', 'stun:b.example:3478'] },
      { urls: ['turn:turn.example:3478'], username: 'user', credential: 'pass', credentialType: 'password' },
    ]);
  });

  it('assigns a peer id when the client gives none', async () => {
    await start();
    const a = await connect();
    const joined = await a.join('anon-room');
    expect(joined.peerId).toMatch(/^[A-Za-z0-9_-]{8,}$/);
  });

  it('relays offer, answer and ice-candidate to the addressed peer only, stamped with the sender', async () => {
    await start();
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.join('relay', 'a');
    await b.join('relay', 'b');
    await c.join('relay', 'c');

    a.send({
      type: 'offer',
      roomId: 'relay',
      fromPeerId: 'a',
      toPeerId: 'b',
      offer: { type: 'offer', sdp: 'v=0 offer' },
      timestamp: 1,
      extra: 'dropped',
    });
    const offer = await b.next('offer');
    expect(offer).toMatchObject({
      roomId: 'relay',
      fromPeerId: 'a',
      toPeerId: 'b',
      offer: { type: 'offer', sdp: 'v=0 offer' },
    });
    expect(offer).not.toHaveProperty('extra');
    expect(offer.timestamp).not.toBe(1);

    b.send({ type: 'answer', roomId: 'relay', toPeerId: 'a', answer: { type: 'answer', sdp: 'v=0 answer' } });
    expect(await a.next('answer')).toMatchObject({
      fromPeerId: 'b',
      toPeerId: 'a',
      answer: { sdp: 'v=0 answer' },
    });

    const candidate = {
      candidate: 'candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host',
      sdpMLineIndex: 0,
      sdpMid: '0',
    };
    a.send({ type: 'ice-candidate', roomId: 'relay', fromPeerId: 'a', toPeerId: 'b', candidate });
    expect(await b.next('ice-candidate')).toMatchObject({ fromPeerId: 'a', toPeerId: 'b', candidate });
    a.send({ type: 'ice-candidate', toPeerId: 'b', candidate: null });
    expect((await b.next('ice-candidate')).candidate).toBeNull();
    // Awkward characters survive the hand-written relay frame, and every frame is a valid message.
    const awkward = { candidate: 'candidate:"q\\u00e9 \u2028 \n', sdpMid: null, sdpMLineIndex: null };
    a.send({ type: 'ice-candidate', toPeerId: 'b', candidate: awkward });
    const relayed = await b.next('ice-candidate');
    expect(relayed.candidate).toEqual(awkward);
    for (const m of [offer, relayed]) expect(ServerMessage.safeParse(m).success).toBe(true);

    // c saw nothing of it: a ping round trip proves everything before it has been processed.
    await c.request({ type: 'ping' });
    expect(c.received.filter((m) => ['offer', 'answer', 'ice-candidate'].includes(m.type))).toEqual([]);
  });

  it('refuses a spoofed fromPeerId and never delivers it', async () => {
    await start();
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.join('spoof', 'a');
    await b.join('spoof', 'b');
    await c.join('spoof', 'c');
    const err = await a.request({
      type: 'offer',
      fromPeerId: 'c',
      toPeerId: 'b',
      offer: { type: 'offer', sdp: 'x' },
    });
    expect(err).toMatchObject({ type: 'error', code: 'FORBIDDEN', relatedType: 'offer' });
    await b.request({ type: 'ping' });
    expect(b.received.some((m) => m.type === 'offer')).toBe(false);
  });

  it('refuses relays to unknown peers and from connections not in a room', async () => {
    await start();
    const [a, b] = [await connect(), await connect()];
    expect(
      await a.request({ type: 'offer', toPeerId: 'x', offer: { type: 'offer', sdp: 'x' } }),
    ).toMatchObject({ code: 'NOT_IN_ROOM' });
    await a.join('r1', 'a');
    await b.join('r2', 'b');
    expect(
      await a.request({ type: 'offer', toPeerId: 'b', offer: { type: 'offer', sdp: 'x' } }),
    ).toMatchObject({ code: 'PEER_NOT_FOUND' });
    expect(
      await a.request({ type: 'offer', roomId: 'r2', toPeerId: 'b', offer: { type: 'offer', sdp: 'x' } }),
    ).toMatchObject({ code: 'NOT_IN_ROOM' });
  });

  it('stores and broadcasts media-state-changed', async () => {
    await start();
    const [a, b] = [await connect(), await connect()];
    await a.join('media', 'a');
    await b.join('media', 'b');
    a.send({
      type: 'media-state-changed',
      roomId: 'media',
      peerId: 'a',
      mediaState: { audio: false, video: true, screen: true },
    });
    expect(await b.next('media-state-changed')).toMatchObject({
      peerId: 'a',
      mediaState: { audio: false, video: true, screen: true },
    });
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/media' });
    expect(info.json().peers.find((p: { peerId: string }) => p.peerId === 'a').mediaState).toEqual({
      audio: false,
      video: true,
      screen: true,
    });
    expect(
      await a.request({
        type: 'media-state-changed',
        peerId: 'b',
        mediaState: { audio: true, video: true, screen: true },
      }),
    ).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('leave-room removes the peer and broadcasts peer-left', async () => {
    await start();
    const [a, b] = [await connect(), await connect()];
    await a.join('leave', 'a');
    await b.join('leave', 'b');
    expect(await b.request({ type: 'leave-room', roomId: 'leave', peerId: 'b' })).toMatchObject({
      type: 'room-left',
      roomId: 'leave',
    });
    expect(await a.next('peer-left')).toMatchObject({ roomId: 'leave', peerId: 'b' });
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/leave' });
    expect(info.json().participantCount).toBe(1);
    // The connection is usable again: it can join another room.
    expect((await b.join('elsewhere', 'b')).roomId).toBe('elsewhere');
  });

  it('a closed socket removes the peer and broadcasts peer-left once the resume window ends', async () => {
    await start({ RESUME_WINDOW_MS: '300' });
    const [a, b] = [await connect(), await connect()];
    await a.join('close', 'a');
    await b.join('close', 'b');
    await b.close();
    expect(await a.next('peer-left')).toMatchObject({ peerId: 'b' });
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/close' });
    expect(info.json().peers.map((p: { peerId: string }) => p.peerId)).toEqual(['a']);
  });

  it('removes a peer that misses two pongs', async () => {
    await start({ HEARTBEAT_INTERVAL_MS: '100', RESUME_WINDOW_MS: '0' });
    const a = await connect();
    const silent = await TestClient.connect(server.wsUrl, { autoPong: false });
    clients.push(silent);
    await a.join('hb', 'a');
    await silent.join('hb', 'silent');
    const left = await a.next('peer-left', (m) => m.peerId === 'silent', 3000);
    expect(left.roomId).toBe('hb');
    await silent.closed;
    // The answering peer stays.
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/hb' });
    expect(info.json().peers.map((p: { peerId: string }) => p.peerId)).toEqual(['a']);
  });

  it('enforces maxParticipants with ROOM_FULL', async () => {
    await start();
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'small', maxParticipants: 2 },
    });
    expect(created.statusCode).toBe(201);
    const [a, b, c] = [await connect(), await connect(), await connect()];
    await a.join('small', 'a');
    await b.join('small', 'b');
    expect(
      await c.request({ type: 'join-room', roomId: 'small', peerId: 'c', displayName: 'C' }),
    ).toMatchObject({ type: 'error', code: 'ROOM_FULL' });
  });

  it('refuses a second live connection with the same peerId (DUPLICATE_PEER)', async () => {
    await start();
    const [a, a2] = [await connect(), await connect()];
    await a.join('dup', 'same');
    expect(
      await a2.request({ type: 'join-room', roomId: 'dup', peerId: 'same', displayName: 'Again' }),
    ).toMatchObject({ code: 'DUPLICATE_PEER' });
  });

  it('allows one room per connection (ALREADY_IN_ROOM)', async () => {
    await start();
    const a = await connect();
    await a.join('one', 'a');
    expect(
      await a.request({ type: 'join-room', roomId: 'two', peerId: 'a2', displayName: 'A' }),
    ).toMatchObject({ code: 'ALREADY_IN_ROOM' });
  });

  it('gives ROOM_NOT_FOUND for unknown rooms when AUTO_CREATE_ROOMS=false', async () => {
    await start({ AUTO_CREATE_ROOMS: 'false' });
    const a = await connect();
    expect(await a.request({ type: 'join-room', roomId: 'nope', displayName: 'A' })).toMatchObject({
      code: 'ROOM_NOT_FOUND',
    });
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'made' } });
    expect((await a.join('made', 'a')).roomId).toBe('made');
  });

  it('answers malformed JSON, unknown types and missing fields, and stays usable', async () => {
    await start();
    const a = await connect();
    a.send('{not json');
    expect(await a.next('error')).toMatchObject({ code: 'INVALID_MESSAGE', error: 'Malformed JSON' });
    a.send({ type: 'teleport', requestId: 7 });
    expect(await a.next('error')).toMatchObject({ code: 'UNKNOWN_TYPE', requestId: 7 });
    a.send({ type: 'join-room', roomId: 'x', requestId: 'q' });
    const missing = await a.next('error');
    expect(missing).toMatchObject({ code: 'INVALID_MESSAGE', requestId: 'q', relatedType: 'join-room' });
    expect(missing.error).toContain('displayName');
    a.send('[1,2]');
    expect(await a.next('error')).toMatchObject({ code: 'INVALID_MESSAGE' });
    a.send({ type: 'offer', toPeerId: 'b', offer: { type: 'answer', sdp: 'x' } });
    expect(await a.next('error')).toMatchObject({ code: 'INVALID_MESSAGE' });
    a.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await a.next('error')).toMatchObject({ code: 'INVALID_MESSAGE' });
    expect((await a.join('still-works', 'a')).type).toBe('room-joined');
  });

  it('closes an oversize frame with MESSAGE_TOO_LARGE and 1009', async () => {
    await start({ MAX_MESSAGE_BYTES: '2048' });
    const a = await connect();
    await a.join('big', 'a');
    a.send({ type: 'ping', pad: 'x'.repeat(4096) });
    expect(await a.next('error')).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect((await a.closed).code).toBe(1009);
  });

  it('closes a frame far above the limit with 1009 too', async () => {
    await start({ MAX_MESSAGE_BYTES: '2048' });
    const a = await connect();
    a.send('x'.repeat(2 * 1024 * 1024));
    expect((await a.closed).code).toBe(1009);
  });

  it('rate-limits a flooding connection with RATE_LIMITED', async () => {
    await start({ WS_RATE_LIMIT_PER_S: '1', WS_RATE_LIMIT_BURST: '3' });
    const a = await connect();
    for (let i = 0; i < 6; i++) a.send({ type: 'ping', requestId: i });
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await a.nextAny((m) => m.requestId === i));
    expect(replies.map((m) => m.type)).toEqual(['pong', 'pong', 'pong', 'error']);
    // One RATE_LIMITED, for the first message over the rate; the rest of the excess is dropped.
    expect(replies[3]).toMatchObject({ code: 'RATE_LIMITED', requestId: 3 });
    // Within the rate again (a token a second), the next message is answered: 4 and 5 never were.
    await new Promise((r) => setTimeout(r, 1100));
    expect(await a.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
    expect(a.received.filter((m) => m.requestId === 4 || m.requestId === 5)).toEqual([]);
  });

  it('tells peers room-closed when the room is deleted, and removes them', async () => {
    await start();
    const [a, b] = [await connect(), await connect()];
    await a.join('doomed', 'a');
    await b.join('doomed', 'b');
    const res = await server.app.inject({ method: 'DELETE', url: '/api/rooms/doomed' });
    expect(res.statusCode).toBe(204);
    expect(await a.next('room-closed')).toMatchObject({ roomId: 'doomed' });
    expect(await b.next('room-closed')).toMatchObject({ roomId: 'doomed' });
    expect(
      await a.request({ type: 'offer', toPeerId: 'b', offer: { type: 'offer', sdp: 'x' } }),
    ).toMatchObject({ code: 'NOT_IN_ROOM' });
    expect((await server.app.inject({ method: 'GET', url: '/api/rooms/doomed' })).statusCode).toBe(404);
  });

  it('says server-shutdown and closes with 1001 on shutdown', async () => {
    await start();
    const a = await connect();
    await a.join('bye', 'a');
    const shutdown = a.next('server-shutdown');
    await server.close();
    expect(await shutdown).toMatchObject({ type: 'server-shutdown' });
    expect((await a.closed).code).toBe(1001);
  });
});

describe('concurrent joins over WebSocket on Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>>;
  beforeAll(async () => {
    redis = await startRedisServer();
  });
  afterAll(() => redis.stop());

  it('lets exactly maxParticipants of 20 racing clients in', async () => {
    const server = await startServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `race${Date.now()}:` });
    try {
      await server.app.inject({
        method: 'POST',
        url: '/api/rooms',
        payload: { roomId: 'race', maxParticipants: 10 },
      });
      const clients = await Promise.all(Array.from({ length: 20 }, () => TestClient.connect(server.wsUrl)));
      const replies = await Promise.all(
        clients.map((c, i) =>
          c.request({ type: 'join-room', roomId: 'race', peerId: `p${i}`, displayName: `P${i}` }),
        ),
      );
      expect(replies.filter((r) => r.type === 'room-joined')).toHaveLength(10);
      expect(replies.filter((r) => r.type === 'error' && r.code === 'ROOM_FULL')).toHaveLength(10);
      const info = await server.app.inject({ method: 'GET', url: '/api/rooms/race' });
      expect(info.json().participantCount).toBe(10);
      await Promise.all(clients.map((c) => c.close()));
    } finally {
      await server.close();
    }
  });
});
