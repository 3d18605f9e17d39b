import { SignJWT } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRedisServer } from '../../helpers/redisServer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/*
 * Host controls over real sockets, on the memory store and a real redis-server: lock, password,
 * waiting room (knock, admit, deny), kick, mute requests; FORBIDDEN for everyone else.
 */

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
          REDIS_KEY_PREFIX: `h${Date.now()}${Math.random().toString(36).slice(2, 6)}:`,
        };
      },
      stop: async () => redis?.stop(),
    };
  })(),
];

describe.each(stores)('host controls ($name store)', (store) => {
  let server: TestServer;
  const clients: TestClient[] = [];
  const connect = async () => {
    const c = await TestClient.connect(server.wsUrl);
    clients.push(c);
    return c;
  };
  /** A room whose host is `host` (hostPeerId), with the host joined. */
  const roomWithHost = async (roomId: string, env: Record<string, string> = {}) => {
    server = await startServer({ ...(await store.env()), ...env });
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId, hostPeerId: 'host' } });
    const host = await connect();
    await host.join(roomId, 'host');
    return host;
  };
  const joinAs = (c: TestClient, roomId: string, peerId: string, extra: Record<string, unknown> = {}) =>
    c.request({ type: 'join-room', roomId, peerId, displayName: peerId, ...extra });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });
  afterAll(() => store.stop());

  it('only the host may use them: FORBIDDEN for others, NOT_IN_ROOM outside', async () => {
    const host = await roomWithHost('h1');
    const guest = await connect();
    await joinAs(guest, 'h1', 'guest');
    for (const message of [
      { type: 'lock-room', locked: true },
      { type: 'set-room-password', password: 'x' },
      { type: 'set-waiting-room', enabled: true },
      { type: 'kick-peer', peerId: 'host' },
      { type: 'mute-peer', peerId: 'host', kinds: ['audio'] },
      { type: 'admit-peer', peerId: 'someone' },
    ]) {
      expect(await guest.request(message), message.type).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    }
    expect(await (await connect()).request({ type: 'lock-room', locked: true })).toMatchObject({
      code: 'NOT_IN_ROOM',
    });
    expect(await host.request({ type: 'lock-room', locked: false })).toMatchObject({ type: 'room-access' });
  });

  it('locks the room: ROOM_LOCKED for newcomers, everyone hears room-access; unlock lets them in', async () => {
    const host = await roomWithHost('h2');
    const member = await connect();
    await joinAs(member, 'h2', 'member');
    expect(await host.request({ type: 'lock-room', locked: true })).toMatchObject({
      type: 'room-access',
      locked: true,
      hasPassword: false,
      waitingRoom: false,
    });
    expect(await member.next('room-access')).toMatchObject({ locked: true });
    expect(await joinAs(await connect(), 'h2', 'late')).toMatchObject({ code: 'ROOM_LOCKED' });
    // The host itself still gets back in (a second host connection, say after a reload).
    await host.request({ type: 'lock-room', locked: false });
    expect(await joinAs(await connect(), 'h2', 'late2')).toMatchObject({ type: 'room-joined' });
  });

  it('sets a password: WRONG_PASSWORD without it, never echoed anywhere', async () => {
    const host = await roomWithHost('h3');
    const set = await host.request({ type: 'set-room-password', password: 'open sesame' });
    expect(set).toMatchObject({ type: 'room-access', hasPassword: true });
    expect(JSON.stringify(set)).not.toContain('sesame');
    expect(await joinAs(await connect(), 'h3', 'a')).toMatchObject({ code: 'WRONG_PASSWORD' });
    expect(await joinAs(await connect(), 'h3', 'b', { password: 'wrong' })).toMatchObject({
      code: 'WRONG_PASSWORD',
    });
    const ok = await joinAs(await connect(), 'h3', 'c', { password: 'open sesame' });
    expect(ok).toMatchObject({ type: 'room-joined' });
    expect(JSON.stringify(ok)).not.toContain('sesame');
    const rest = await server.app.inject({ method: 'GET', url: '/api/rooms/h3' });
    expect(rest.body).not.toContain('sesame');
    expect(rest.body).not.toContain('scrypt');
    const list = await server.app.inject({ method: 'GET', url: '/api/rooms' });
    expect(list.body).not.toContain('scrypt');
  });

  it('waiting room: a held guest hears nothing and reaches no one until admitted; deny refuses', async () => {
    const host = await roomWithHost('h4');
    const member = await connect();
    await joinAs(member, 'h4', 'member');
    await host.next('peer-joined');
    await host.request({ type: 'set-waiting-room', enabled: true });
    const guest = await connect();
    const joinReply = joinAs(guest, 'h4', 'guest');
    expect(await guest.next('waiting')).toMatchObject({ roomId: 'h4', peerId: 'guest' });
    expect(await host.next('knock')).toMatchObject({ peerId: 'guest', displayName: 'guest' });
    // Held: it cannot send to the room, and the room does not see it.
    expect(
      await guest.request({ type: 'offer', toPeerId: 'member', offer: { type: 'offer', sdp: 'x' } }),
    ).toMatchObject({ code: 'NOT_IN_ROOM' });
    member.send({ type: 'media-state-changed', mediaState: { audio: false, video: false, screen: false } });
    await member.request({ type: 'ping' });
    const info = await server.app.inject({ method: 'GET', url: '/api/rooms/h4' });
    expect(
      info
        .json()
        .peers.map((p: { peerId: string }) => p.peerId)
        .sort(),
    ).toEqual(['host', 'member']);
    expect(await host.request({ type: 'admit-peer', peerId: 'guest' })).toMatchObject({
      type: 'host-action-done',
      action: 'admit',
    });
    expect(await joinReply).toMatchObject({ type: 'room-joined', peerId: 'guest' });
    expect(guest.received.map((m) => m.type)).not.toContain('media-state-changed');
    expect(await member.next('peer-joined', (m) => m.peerId === 'guest')).toBeTruthy();

    // Deny: the join is answered FORBIDDEN, and the socket may try again later.
    const other = await connect();
    const denied = joinAs(other, 'h4', 'other');
    await host.next('knock', (m) => m.peerId === 'other');
    await host.request({ type: 'deny-peer', peerId: 'other', reason: 'not today' });
    expect(await denied).toMatchObject({ type: 'error', code: 'FORBIDDEN', error: 'not today' });
  });

  it('kicks a peer (kicked, socket closed, peer-left) and asks one to mute', async () => {
    const host = await roomWithHost('h5');
    const a = await connect();
    const b = await connect();
    await joinAs(a, 'h5', 'a');
    await joinAs(b, 'h5', 'b');
    expect(await host.request({ type: 'mute-peer', peerId: 'a', kinds: ['audio', 'video'] })).toMatchObject({
      action: 'mute',
    });
    expect(await a.next('mute-requested')).toMatchObject({ byPeerId: 'host', kinds: ['audio', 'video'] });
    expect(await host.request({ type: 'kick-peer', peerId: 'b', reason: 'bye' })).toMatchObject({
      action: 'kick',
    });
    expect(await b.next('kicked')).toMatchObject({ roomId: 'h5', reason: 'bye' });
    expect((await b.closed).code).toBe(1000);
    expect(await a.next('peer-left', (m) => m.peerId === 'b')).toBeTruthy();
    expect(await host.request({ type: 'kick-peer', peerId: 'nobody' })).toMatchObject({
      code: 'PEER_NOT_FOUND',
    });
  });

  it('a token with role host is a host of any room it may join', async () => {
    const secret = 's'.repeat(40);
    server = await startServer({ ...(await store.env()), AUTH_JWT_SECRET: secret });
    const token = (sub: string, role: string) =>
      new SignJWT({ sub, room: 'h6', role })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
    const moderator = await connect();
    await joinAs(moderator, 'h6', 'mod', { token: await token('mod', 'host') });
    const user = await connect();
    await joinAs(user, 'h6', 'user', { token: await token('user', 'participant') });
    expect(await user.request({ type: 'lock-room', locked: true })).toMatchObject({ code: 'FORBIDDEN' });
    expect(await moderator.request({ type: 'lock-room', locked: true })).toMatchObject({ locked: true });
  });
});
