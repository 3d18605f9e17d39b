import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../src/protocol/index.ts';
import { waitFor } from '../helpers/mscPeer.ts';
import { startProcess, stopProcess } from '../helpers/nodeProcess.ts';
import { SyntheticSfuClient } from '../helpers/sfuClient.ts';
import { TestClient } from '../helpers/wsClient.ts';
import { freePortBase } from './sfu/sfuTestEnv.ts';

const stop = stopProcess;

/** The node flags `npm start` passes (package.json), so the process runs as users run it. */
function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'));
}

describe('the server process', () => {
  it('after a connection storm goes quiet, runs one full GC and logs what it reclaimed', async () => {
    const storm = 40;
    const proc = startProcess({ LOG_LEVEL: 'info', RECLAIM_AFTER_CONNECTIONS: String(storm) }, startFlags());
    const clients: TestClient[] = [];
    try {
      const base = await proc.listening;
      const wsUrl = `${base.replace('http', 'ws')}/ws`;
      for (let i = 0; i < storm; i++) clients.push(await TestClient.connect(wsUrl));
      const lastConnectAt = Date.now();
      const reclaimed = () =>
        proc.output
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l.msg === 'connection storm over: memory reclaimed');
      await waitFor(() => reclaimed() !== undefined, 'the reclaim log line', 25_000);
      const line = reclaimed();
      expect(line).toMatchObject({
        connections: storm,
        rssBeforeMB: expect.any(Number),
        rssAfterMB: expect.any(Number),
        pauseMs: expect.any(Number),
      });
      // Not during the storm: only after 15 s without a new connection.
      expect(new Date(String(line?.time)).getTime() - lastConnectAt).toBeGreaterThanOrEqual(14_900);
      // The server goes on serving the storm's peers and new ones.
      const late = await TestClient.connect(wsUrl);
      clients.push(late);
      expect((await late.join('after-storm', 'p1')).type).toBe('room-joined');
      expect((await clients[0]!.join('after-storm', 'p0')).type).toBe('room-joined');
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      stop(proc.child);
    }
  });

  it('shuts down gracefully on SIGTERM: server-shutdown, close 1001, exit 0', async () => {
    const secrets = { TURN_CREDENTIAL: 'turn-secret-4242', ADMIN_TOKEN: 'admin-secret-4242' };
    const proc = startProcess({
      LOG_LEVEL: 'debug',
      TURN_URL: 'turn:t.example:3478',
      TURN_USERNAME: 'u',
      ...secrets,
    });
    try {
      const base = await proc.listening;
      const ws = await TestClient.connect(`${base.replace('http', 'ws')}/ws`);
      const joined = await ws.join('proc', 'p1');
      expect(joined.iceServers[1]?.credential).toBe('turn-secret-4242');
      await fetch(`${base}/api/rooms`, { headers: { authorization: 'Bearer admin-secret-4242' } });
      const shutdown = ws.next('server-shutdown');
      const started = Date.now();
      proc.child.kill('SIGTERM');
      await shutdown;
      expect((await ws.closed).code).toBe(1001);
      const [code] = await proc.exited;
      expect(code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      const log = proc.output.join('\n');
      expect(log).toContain('shutdown complete');
      for (const secret of Object.values(secrets)) expect(log).not.toContain(secret);
      // Every line on stdout is pino JSON.
      for (const line of proc.output.filter((l) => l.startsWith('{')))
        expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      stop(proc.child);
    }
  });

  it('on SIGTERM with SFU peers connected, tells them server-shutdown before anything else, and exits 0', async () => {
    const proc = startProcess({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      LOG_LEVEL: 'info',
    });
    const clients: SyntheticSfuClient[] = [];
    try {
      const base = await proc.listening;
      const wsUrl = `${base.replace('http', 'ws')}/ws`;
      await fetch(`${base}/api/rooms`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ roomId: 'bye', mode: 'sfu' }),
      });
      for (const id of ['a', 'b', 'c']) clients.push(await SyntheticSfuClient.join(wsUrl, 'bye', id));
      await waitFor(
        () =>
          clients.every(
            (c) =>
              (c.peer?.received.size ?? 0) === 4 &&
              [...c.peer!.received.values()].every((r) => r.packets > 5),
          ),
        'media among three SFU peers',
        20_000,
      ).catch((err: Error) => {
        const state = clients.map((c) => ({
          peer: c.peerId,
          stage: c.stage,
          modes: c.modes,
          errors: c.errors.map((e) => `${e.code}: ${e.error}`),
          failures: c.failures,
          received: [...(c.peer?.received.values() ?? [])].map((r) => r.packets),
        }));
        throw new Error(`${err.message}\n${JSON.stringify(state)}\n${proc.output.slice(-30).join('\n')}`);
      });
      const after: ServerMessage[][] = clients.map(() => []);
      clients.forEach((c, i) => {
        c.ws.ws.on('message', (data) => after[i]!.push(JSON.parse(data.toString())));
      });
      proc.child.kill('SIGTERM');
      const closes = await Promise.all(clients.map((c) => c.ws.closed));
      for (const close of closes) expect(close.code).toBe(1001);
      for (const messages of after) {
        expect(messages[0]?.type).toBe('server-shutdown');
        expect(messages.map((m) => (m.type === 'error' ? m.code : m.type))).not.toContain('SFU_WORKER_DIED');
        expect(messages.map((m) => m.type)).not.toContain('mode-changed');
      }
      const [code] = await proc.exited;
      expect(code).toBe(0);
      const log = proc.output.join('\n');
      expect(log).not.toContain('mediasoup worker died');
      expect(log).not.toContain('lost its router');
    } finally {
      for (const c of clients) c.peer?.close();
      stop(proc.child);
    }
  });

  it('refuses to start on an invalid variable, naming it', async () => {
    const proc = startProcess({ PORT: 'eighty' });
    proc.listening.catch(() => {});
    const [code] = await proc.exited;
    expect(code).toBe(1);
    expect(proc.output.join('\n')).toMatch(/PORT: must be a number/);
  });

  it('starts without any media worker: /ready says sfu unavailable, rooms stay P2P with SFU_UNAVAILABLE', async () => {
    const proc = startProcess({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      MEDIASOUP_WORKER_BIN: '/nonexistent/mediasoup-worker',
    });
    try {
      const base = await proc.listening;
      const ready = await (await fetch(`${base}/ready`)).json();
      expect(ready).toMatchObject({
        status: 'ready',
        sfu: {
          status: 'unavailable',
          reason: expect.stringMatching(/ENOENT|no mediasoup worker/),
          workers: { up: 0, total: 1 },
        },
      });
      const clients = await Promise.all(
        [1, 2, 3, 4].map(() => TestClient.connect(`${base.replace('http', 'ws')}/ws`)),
      );
      for (const [i, c] of clients.entries()) await c.join('no-sfu', `p${i}`);
      for (const c of clients) expect(await c.next('error')).toMatchObject({ code: 'SFU_UNAVAILABLE' });
      const info = await (await fetch(`${base}/api/rooms/no-sfu`)).json();
      expect(info).toMatchObject({ connectionMode: 'p2p', participantCount: 4 });
      await Promise.all(clients.map((c) => c.close()));
      expect(proc.output.join('\n')).toContain('SFU unavailable');
    } finally {
      stop(proc.child);
    }
  });
});

describe('a node restarted after a crash', () => {
  it('removes its own leftover peers at start-up (no DUPLICATE_PEER lock-out), and no one else’s', async () => {
    const { startRedisServer } = await import('../helpers/redisServer.ts');
    const redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `crash${Date.now()}:` };
    const other = startProcess({ ...env, NODE_ID: 'node-b' });
    let first = startProcess({ ...env, NODE_ID: 'node-a' });
    try {
      const baseB = await other.listening;
      const b = await TestClient.connect(`${baseB.replace('http', 'ws')}/ws`);
      await b.join('crash', 'on-b');
      const baseA = await first.listening;
      const a = await TestClient.connect(`${baseA.replace('http', 'ws')}/ws`);
      await a.join('crash', 'p1');
      first.child.kill('SIGKILL');
      await first.exited;
      await a.closed;
      first = startProcess({ ...env, NODE_ID: 'node-a' });
      const again = await TestClient.connect(`${(await first.listening).replace('http', 'ws')}/ws`);
      // Without the start-up clean-up, p1's record would lock it out until its TTL.
      expect(await again.join('crash', 'p1')).toMatchObject({ type: 'room-joined', peerId: 'p1' });
      const info = await fetch(`${baseB}/api/rooms/crash`);
      const peers = ((await info.json()) as { peers: Array<{ peerId: string }> }).peers.map((p) => p.peerId);
      expect(peers.sort()).toEqual(['on-b', 'p1']);
      await again.close();
      await b.close();
    } finally {
      stop(first.child);
      stop(other.child);
      await redis.stop();
    }
  });
});
