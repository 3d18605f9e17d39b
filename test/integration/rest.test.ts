import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

describe('REST API', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('POST /api/rooms creates a room with the seed body and a joinLink from CLIENT_URL', async () => {
    server = await startServer({ CLIENT_URL: 'https://meet.example.com' });
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { hostPeerId: 'host-unique-id', maxParticipants: 10, encryption: 'none' },
    });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body).toMatchObject({
      hostPeerId: 'host-unique-id',
      maxParticipants: 10,
      encryption: 'none',
      mode: 'auto',
    });
    expect(body.roomId).toMatch(/^[a-z0-9]{10}$/);
    expect(body.joinLink).toBe(`https://meet.example.com/meeting/${body.roomId}`);
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);
  });

  it('POST /api/rooms accepts an empty body and a chosen roomId, and refuses a taken one', async () => {
    server = await startServer();
    const a = await server.app.inject({ method: 'POST', url: '/api/rooms' });
    expect(a.statusCode).toBe(201);
    expect(a.json()).toMatchObject({
      hostPeerId: null,
      maxParticipants: 50,
      encryption: 'none',
      mode: 'auto',
    });
    const b = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'standup', mode: 'sfu' },
    });
    expect(b.statusCode).toBe(201);
    expect(b.json()).toMatchObject({ roomId: 'standup', mode: 'sfu' });
    const c = await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'standup' } });
    expect(c.statusCode).toBe(409);
    expect(c.json()).toMatchObject({ code: 'ROOM_EXISTS', statusCode: 409 });
  });

  it('POST /api/rooms answers a bad body with 400 and the zod issues', async () => {
    server = await startServer();
    const res = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { maxParticipants: -3, encryption: 'rot13' },
    });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ code: 'INVALID_REQUEST', statusCode: 400 });
    expect(body.details.map((i: { path: string[] }) => i.path[0]).sort()).toEqual([
      'encryption',
      'maxParticipants',
    ]);
    const junk = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      headers: { 'content-type': 'application/json' },
      payload: '{oops',
    });
    expect(junk.statusCode).toBe(400);
    expect(junk.json()).toHaveProperty('error');
  });

  it('GET /api/rooms/:roomId reports meetingInfo, connectionMode, participantCount and peers', async () => {
    server = await startServer();
    await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'info', hostPeerId: 'h' },
    });
    const ws = await TestClient.connect(server.wsUrl);
    await ws.join('info', 'h', 'Host');
    const res = await server.app.inject({ method: 'GET', url: '/api/rooms/info' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      roomId: 'info',
      meetingInfo: { roomId: 'info', hostPeerId: 'h' },
      connectionMode: 'p2p',
      participantCount: 1,
      peers: [{ peerId: 'h', displayName: 'Host', mediaState: { audio: true, video: true, screen: false } }],
    });
    await ws.close();
  });

  it('GET /api/rooms/:roomId is a JSON 404 for an unknown room', async () => {
    server = await startServer();
    const res = await server.app.inject({ method: 'GET', url: '/api/rooms/ghost' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'Room ghost not found', code: 'ROOM_NOT_FOUND', statusCode: 404 });
    expect((await server.app.inject({ method: 'DELETE', url: '/api/rooms/ghost' })).statusCode).toBe(404);
    expect((await server.app.inject({ method: 'GET', url: '/api/nothing' })).json()).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('GET /api/rooms lists rooms, totals and server stats', async () => {
    server = await startServer();
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'l1' } });
    const ws = await TestClient.connect(server.wsUrl);
    await ws.join('l2', 'p');
    const res = await server.app.inject({ method: 'GET', url: '/api/rooms' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.totalRooms).toBe(2);
    expect(body.totalPeers).toBe(1);
    expect(body.rooms.map((r: { roomId: string }) => r.roomId).sort()).toEqual(['l1', 'l2']);
    expect(body.serverStats).toMatchObject({ store: 'memory', connections: 1, localPeers: 1 });
    await ws.close();
  });

  it('requires the admin token on list and delete when ADMIN_TOKEN is set', async () => {
    server = await startServer({ ADMIN_TOKEN: 's3cret-token' });
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'guarded' } });
    expect((await server.app.inject({ method: 'GET', url: '/api/rooms' })).statusCode).toBe(401);
    const wrong = await server.app.inject({
      method: 'DELETE',
      url: '/api/rooms/guarded',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'UNAUTHORIZED' });
    const auth = { authorization: 'Bearer s3cret-token' };
    expect((await server.app.inject({ method: 'GET', url: '/api/rooms', headers: auth })).statusCode).toBe(
      200,
    );
    expect(
      (await server.app.inject({ method: 'DELETE', url: '/api/rooms/guarded', headers: auth })).statusCode,
    ).toBe(204);
    // Reading one room stays public, as in the seed.
    expect((await server.app.inject({ method: 'GET', url: '/api/rooms/guarded' })).statusCode).toBe(404);
  });

  it('rate-limits the REST API with 429 RATE_LIMITED', async () => {
    server = await startServer({ RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    const codes = [];
    for (let i = 0; i < 5; i++)
      codes.push((await server.app.inject({ method: 'GET', url: '/api/rooms/x' })).statusCode);
    expect(codes).toEqual([404, 404, 404, 429, 429]);
    const limited = await server.app.inject({ method: 'GET', url: '/api/rooms/x' });
    expect(limited.json()).toMatchObject({ code: 'RATE_LIMITED', statusCode: 429 });
    // Health checks are not rate-limited.
    expect((await server.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('allows CORS from CLIENT_URL only', async () => {
    server = await startServer({ CLIENT_URL: 'https://meet.example.com' });
    const ok = await server.app.inject({
      method: 'OPTIONS',
      url: '/api/rooms',
      headers: { origin: 'https://meet.example.com', 'access-control-request-method': 'POST' },
    });
    expect(ok.headers['access-control-allow-origin']).toBe('https://meet.example.com');
    const other = await server.app.inject({
      method: 'GET',
      url: '/health',
      headers: { origin: 'https://evil.example' },
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('GET /health and /ready', async () => {
    server = await startServer();
    expect((await server.app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({
      status: 'ok',
    });
    expect((await server.app.inject({ method: 'GET', url: '/ready' })).json()).toMatchObject({
      status: 'ready',
      store: { status: 'ok', kind: 'memory' },
      sfu: { status: 'unavailable', enabled: false, reason: expect.stringMatching(/SFU_ENABLED=false/) },
    });
  });
});
