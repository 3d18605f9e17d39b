import { connect as tcpConnect } from 'node:net';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startRedisServer } from '../../helpers/redisServer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/*
 * The HTTP side of the threat model: the admin API, room creation, the caps on rooms and
 * creations, forwarded addresses, slow handshakes, per-address sockets, Origin, and headers.
 */

const REMOTE = '203.0.113.9';
let server: TestServer;
afterEach(() => server?.close());

describe('admin API', () => {
  it('without ADMIN_TOKEN answers loopback only (403 elsewhere)', async () => {
    server = await startServer();
    const local = await server.app.inject({ method: 'GET', url: '/api/rooms' });
    expect(local.statusCode).toBe(200);
    for (const [method, url] of [
      ['GET', '/api/rooms'],
      ['DELETE', '/api/rooms/x'],
    ] as const) {
      const remote = await server.app.inject({ method, url, remoteAddress: REMOTE });
      expect(remote.statusCode).toBe(403);
      expect(remote.json()).toMatchObject({ code: 'FORBIDDEN', statusCode: 403 });
    }
    // Room info and creation stay public while auth is off.
    expect(
      (await server.app.inject({ method: 'POST', url: '/api/rooms', remoteAddress: REMOTE })).statusCode,
    ).toBe(201);
  });

  it('with ADMIN_TOKEN needs the bearer from anywhere, loopback included', async () => {
    server = await startServer({ ADMIN_TOKEN: 'admin-secret' });
    expect((await server.app.inject({ method: 'GET', url: '/api/rooms' })).statusCode).toBe(401);
    const ok = await server.app.inject({
      method: 'GET',
      url: '/api/rooms',
      remoteAddress: REMOTE,
      headers: { authorization: 'Bearer admin-secret' },
    });
    expect(ok.statusCode).toBe(200);
  });

  it('pages GET /api/rooms with limit and cursor, on Redis too', async () => {
    const redis = await startRedisServer();
    try {
      server = await startServer({ REDIS_URL: redis.url, RATE_LIMIT_MAX: '100000' });
      for (let i = 0; i < 7; i++) {
        await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: `room-${i}` } });
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 5; page++) {
        const res = await server.app.inject({
          method: 'GET',
          url: `/api/rooms?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
        });
        const body = res.json();
        expect(body.totalRooms).toBe(7);
        expect(body.rooms.length).toBeLessThanOrEqual(3);
        seen.push(...body.rooms.map((r: { roomId: string }) => r.roomId));
        cursor = body.nextCursor;
        if (!cursor) break;
      }
      expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `room-${i}`));
      const tooMany = await server.app.inject({ method: 'GET', url: '/api/rooms?limit=501' });
      expect(tooMany.statusCode).toBe(400);
    } finally {
      await server.close();
      await redis.stop();
    }
  });

  it('with auth on, creating a room needs the admin token or a host token for that room', async () => {
    const secret = 'x'.repeat(40);
    server = await startServer({ AUTH_JWT_SECRET: secret, ADMIN_TOKEN: 'admin-secret' });
    const token = (role: string, room: string) =>
      new SignJWT({ sub: 'h', room, role })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(secret));
    const create = (roomId: string, authorization?: string) =>
      server.app.inject({
        method: 'POST',
        url: '/api/rooms',
        payload: { roomId },
        ...(authorization ? { headers: { authorization } } : {}),
      });
    expect((await create('a')).statusCode).toBe(401);
    expect((await create('a', `Bearer ${await token('participant', 'a')}`)).statusCode).toBe(401);
    expect((await create('a', `Bearer ${await token('host', 'b')}`)).statusCode).toBe(401);
    expect((await create('a', `Bearer ${await token('host', 'a')}`)).statusCode).toBe(201);
    expect((await create('c', 'Bearer admin-secret')).statusCode).toBe(201);
  });
});

describe('caps on rooms', () => {
  it('MAX_ROOMS: ROOM_LIMIT once reached, over REST (503) and auto-create', async () => {
    server = await startServer({ MAX_ROOMS: '2', RATE_LIMIT_MAX: '100000' });
    for (const roomId of ['r1', 'r2']) {
      expect(
        (await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId } })).statusCode,
      ).toBe(201);
    }
    const third = await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'r3' } });
    expect(third.statusCode).toBe(503);
    expect(third.json()).toMatchObject({ code: 'ROOM_LIMIT' });
    const c = await TestClient.connect(server.wsUrl);
    expect(await c.request({ type: 'join-room', roomId: 'r4', displayName: 'x' })).toMatchObject({
      code: 'ROOM_LIMIT',
    });
    // Rooms that exist still take joins.
    expect(await c.request({ type: 'join-room', roomId: 'r1', displayName: 'x' })).toMatchObject({
      type: 'room-joined',
    });
    await c.close();
  });

  it('room creations per address per minute', async () => {
    server = await startServer({ ROOM_CREATE_PER_IP_PER_MIN: '3', RATE_LIMIT_MAX: '100000' });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) {
      codes.push(
        (await server.app.inject({ method: 'POST', url: '/api/rooms', remoteAddress: REMOTE })).statusCode,
      );
    }
    expect(codes).toEqual([201, 201, 201, 429, 429]);
    // Another address has its own budget.
    expect(
      (await server.app.inject({ method: 'POST', url: '/api/rooms', remoteAddress: '198.51.100.1' }))
        .statusCode,
    ).toBe(201);
  });
});

describe('forwarded addresses (TRUST_PROXY)', () => {
  const createFrom = (forwardedFor: string) =>
    fetch(`${server.url}/api/rooms`, { method: 'POST', headers: { 'x-forwarded-for': forwardedFor } });

  it('are ignored by default: rotating X-Forwarded-For does not escape the rate limit', async () => {
    server = await startServer({ RATE_LIMIT_MAX: '3', ROOM_CREATE_PER_IP_PER_MIN: '0' });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await createFrom(`198.51.100.${i}`)).status);
    expect(codes).toEqual([201, 201, 201, 429, 429]);
  });

  it('count behind a trusted proxy', async () => {
    server = await startServer({
      RATE_LIMIT_MAX: '3',
      ROOM_CREATE_PER_IP_PER_MIN: '0',
      TRUST_PROXY: '127.0.0.1',
    });
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await createFrom(`198.51.100.${i}`)).status);
    expect(codes).toEqual([201, 201, 201, 201, 201]);
  });
});

describe('connections', () => {
  it('closes a handshake that does not complete in time (slow loris)', async () => {
    server = await startServer({ HTTP_HEADERS_TIMEOUT_MS: '500' });
    const { port } = new URL(server.url);
    const socket = tcpConnect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    const ended = await new Promise<string>((resolve) => {
      let data = '';
      socket.on('data', (chunk) => {
        data += chunk.toString();
      });
      socket.once('close', () => resolve(data));
    });
    expect(ended).toMatch(/^HTTP\/1\.1 408/);
  });

  it('MAX_CONNECTIONS_PER_IP refuses the next socket of an address with 429; loopback is exempt', async () => {
    server = await startServer({ MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '127.0.0.1' });
    const from = (ip: string) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(server.wsUrl, { headers: { 'x-forwarded-for': ip } });
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
    const open = [await from(REMOTE), await from(REMOTE)];
    expect(open.every((x) => x instanceof WebSocket)).toBe(true);
    expect(await from(REMOTE)).toBe(429);
    expect(await from('198.51.100.7')).toBeInstanceOf(WebSocket);
    // Closing one frees a slot.
    const first = open[0] as WebSocket;
    const closed = new Promise((resolve) => first.once('close', resolve));
    first.close();
    await closed;
    await expect
      .poll(async () => {
        const r = await from(REMOTE);
        if (r instanceof WebSocket) r.close();
        return r instanceof WebSocket;
      })
      .toBe(true);
    // Loopback clients are never counted.
    const locals = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.wsUrl)));
    await Promise.all(locals.map((c) => c.close()));
    for (const ws of open) if (ws instanceof WebSocket) ws.terminate();
  });

  it('refuses WebSocket upgrades from foreign Origins; CLIENT_URL, ALLOWED_ORIGINS and its own pass', async () => {
    server = await startServer({
      CLIENT_URL: 'https://app.example.com/',
      ALLOWED_ORIGINS: 'https://partner.example',
    });
    const withOrigin = (origin: string | undefined) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(server.wsUrl, origin ? { origin } : {});
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
    expect(await withOrigin('https://evil.example')).toBe(403);
    expect(await withOrigin('https://app.example.com')).toBe(101);
    expect(await withOrigin('https://partner.example')).toBe(101);
    expect(await withOrigin(server.url)).toBe(101);
    expect(await withOrigin(undefined)).toBe(101);
  });
});

describe('headers and static files', () => {
  it('sends a CSP and friends, compresses the bundle, and serves no source maps by default', async () => {
    server = await startServer();
    const page = await fetch(`${server.url}/`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`ws://${new URL(server.url).host}`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const bundle = await fetch(`${server.url}/client/opencall.js`, {
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get('content-encoding')).toBe('gzip');
    expect((await fetch(`${server.url}/client/opencall.js.map`)).status).toBe(404);
  });

  it('serves source maps with SERVE_SOURCE_MAPS=true', async () => {
    server = await startServer({ SERVE_SOURCE_MAPS: 'true' });
    expect((await fetch(`${server.url}/client/opencall.js.map`)).status).toBe(200);
  });
});
