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

  it('GET /api/sfu/capabilities is 503 SFU_UNAVAILABLE when the SFU is off', async () => {
    server = await startServer(); // SFU_ENABLED=false
    const res = await server.app.inject({ method: 'GET', url: '/api/sfu/capabilities' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: 'SFU_UNAVAILABLE', statusCode: 503 });
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

  it('serves a room whose id has the full 128 characters the protocol allows', async () => {
    server = await startServer();
    const roomId = 'r'.repeat(128);
    expect(
      (await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId } })).statusCode,
    ).toBe(201);
    const info = await server.app.inject({ method: 'GET', url: `/api/rooms/${roomId}` });
    expect(info.statusCode).toBe(200);
    expect(info.json().roomId).toBe(roomId);
    expect((await server.app.inject({ method: 'DELETE', url: `/api/rooms/${roomId}` })).statusCode).toBe(204);
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

  it('answers a bad room id with 400 INVALID_REQUEST and the zod error tree, after the admin check', async () => {
    server = await startServer({ ADMIN_TOKEN: 's3cret-token' });
    const details = {
      errors: [],
      properties: { roomId: { errors: [expect.stringMatching(/letters, digits/)] } },
    };
    const bad = await server.app.inject({ method: 'GET', url: '/api/rooms/bad%20id' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({
      error: 'Invalid room id',
      code: 'INVALID_REQUEST',
      statusCode: 400,
      details,
    });
    // Without the token, DELETE says 401 before it looks at the id.
    const anonymous = await server.app.inject({ method: 'DELETE', url: '/api/rooms/bad%20id' });
    expect(anonymous.statusCode).toBe(401);
    const admin = await server.app.inject({
      method: 'DELETE',
      url: '/api/rooms/bad%20id',
      headers: { authorization: 'Bearer s3cret-token' },
    });
    expect(admin.statusCode).toBe(400);
    expect(admin.json()).toEqual({
      error: 'Invalid room id',
      code: 'INVALID_REQUEST',
      statusCode: 400,
      details,
    });
  });

  it('POST /api/rooms takes a JSON null as an empty body and refuses unknown fields', async () => {
    server = await startServer();
    const empty = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      headers: { 'content-type': 'application/json' },
      payload: 'null',
    });
    expect(empty.statusCode).toBe(201);
    expect(empty.json()).toMatchObject({ hostPeerId: null, encryption: 'none', mode: 'auto' });
    const extra = await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { colour: 'red' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json()).toEqual({
      error: 'Invalid request body',
      code: 'INVALID_REQUEST',
      statusCode: 400,
      details: [
        { code: 'unrecognized_keys', keys: ['colour'], path: [], message: 'Unrecognized key: "colour"' },
      ],
    });
  });

  it('answers 429 in the whole error shape, with when to retry', async () => {
    server = await startServer({ RATE_LIMIT_MAX: '1', RATE_LIMIT_WINDOW_MS: '60000' });
    await server.app.inject({ method: 'GET', url: '/api/rooms/x' });
    const limited = await server.app.inject({ method: 'POST', url: '/api/rooms' });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('60');
    expect(limited.json()).toEqual({
      error: 'Rate limit exceeded: retry in 60 s',
      code: 'RATE_LIMITED',
      statusCode: 429,
    });
  });

  it('GET /api/rooms reports the media status as serverStats.sfu, and /ready the same per component', async () => {
    server = await startServer();
    const status = server.app.media.status();
    const list = await server.app.inject({ method: 'GET', url: '/api/rooms' });
    expect(list.json().serverStats.sfu).toEqual(status);
    const ready = await server.app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ready',
      store: { status: 'ok', kind: 'memory' },
      sfu: {
        status: 'unavailable',
        enabled: false,
        reason: status.reason,
        workers: { up: 0, total: 0 },
        down: [],
        announcedAddresses: [],
        addressSource: 'none',
        routers: 0,
        clientReachability: { windowS: 600, connected: 0, failed: 0 },
      },
    });
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
