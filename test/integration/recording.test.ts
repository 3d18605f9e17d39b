import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';
import { freePortBase } from './sfu/sfuTestEnv.ts';

/*
 * What cannot be recorded gets RECORDING_UNAVAILABLE with the reason, never a crash, and the room
 * goes on as it was: an E2EE room (the server cannot see its media), a server without ffmpeg,
 * a room without a media server. Who may start one: the admin, or a host token for the room.
 */
describe('recording refusals', () => {
  let server: TestServer;
  const clients: TestClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });

  const sfuEnv = async () => ({
    SFU_ENABLED: 'true',
    MEDIASOUP_NUM_WORKERS: '1',
    RTC_PORT: String(await freePortBase(1)),
  });
  const record = (roomId: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/rooms/${roomId}/recordings`, { method: 'POST', headers });

  it('refuses an end-to-end encrypted room, saying why', async () => {
    server = await startServer(await sfuEnv());
    await fetch(`${server.url}/api/rooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ roomId: 'secret', encryption: 'e2ee' }),
    });
    const res = await record('secret');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      code: 'RECORDING_UNAVAILABLE',
      error: expect.stringContaining('end-to-end'),
    });
  });

  it('refuses without ffmpeg, leaving the P2P room as it was', async () => {
    server = await startServer({ ...(await sfuEnv()), FFMPEG_PATH: '/nonexistent/ffmpeg' });
    const a = await TestClient.connect(server.wsUrl);
    const b = await TestClient.connect(server.wsUrl);
    clients.push(a, b);
    await a.join('plain', 'a');
    await b.join('plain', 'b');
    const res = await record('plain');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({
      code: 'RECORDING_UNAVAILABLE',
      error: expect.stringContaining('ffmpeg'),
    });
    expect(
      ((await (await fetch(`${server.url}/api/rooms/plain`)).json()) as { connectionMode: string })
        .connectionMode,
    ).toBe('p2p');
    await a.request({ type: 'ping' });
    expect(a.received.map((m) => m.type)).not.toContain('mode-changed');
  });

  it('refuses without a media server, and unknown rooms and recordings are 404', async () => {
    server = await startServer();
    const a = await TestClient.connect(server.wsUrl);
    clients.push(a);
    await a.join('nosfu', 'a');
    const res = await record('nosfu');
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ code: 'RECORDING_UNAVAILABLE' });
    expect((await record('ghost')).status).toBe(404);
    const stop = await fetch(`${server.url}/api/rooms/nosfu/recordings/abc`, { method: 'DELETE' });
    expect(stop.status).toBe(404);
  });

  it('needs the admin token once one is set', async () => {
    server = await startServer({ ADMIN_TOKEN: 'admin-token-for-recordings' });
    expect((await record('any')).status).toBe(401);
    expect((await record('any', { authorization: 'Bearer admin-token-for-recordings' })).status).toBe(404);
  });
});
