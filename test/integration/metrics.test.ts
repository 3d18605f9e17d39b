import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';
import { freePortBase } from './sfu/sfuTestEnv.ts';

/* GET /metrics: Prometheus text, series that move under a little load, with a real media worker. */

/** Parses the Prometheus text format strictly enough to catch a malformed line. */
function parse(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/i.exec(line);
    if (!match) throw new Error(`not Prometheus text: ${line}`);
    series.set(match[1] ?? '', Number(match[2]));
  }
  return series;
}

let server: TestServer;
afterEach(() => server?.close());

describe('/metrics', () => {
  it('shows rooms, peers, messages, errors, joins and the media workers', async () => {
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      RTC_LISTEN_IP: '127.0.0.1',
    });
    const before = parse(await (await fetch(`${server.url}/metrics`)).text());
    expect(before.get('opencall_ws_connections')).toBe(0);
    const [a, b] = [await TestClient.connect(server.wsUrl), await TestClient.connect(server.wsUrl)];
    await a.join('m', 'a');
    await b.join('m', 'b');
    await a.request({ type: 'offer', toPeerId: 'nobody', offer: { type: 'offer', sdp: 'x' } });
    await a.request({ type: 'ping' });
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const after = parse(await res.text());
    expect(after.get('opencall_ws_connections')).toBe(2);
    expect(after.get('opencall_ws_messages_in_total{type="join-room"}')).toBe(2);
    expect(after.get('opencall_ws_messages_in_total{type="ping"}')).toBe(1);
    expect(after.get('opencall_errors_total{code="PEER_NOT_FOUND"}')).toBe(1);
    expect(after.get('opencall_rooms{mode="p2p"}')).toBe(1);
    expect(after.get('opencall_peers{mode="p2p"}')).toBe(2);
    expect(after.get('opencall_join_seconds_count')).toBe(2);
    expect(after.get('opencall_ws_frames_out_total')).toBeGreaterThan(
      before.get('opencall_ws_frames_out_total') ?? 0,
    );
    expect(after.get('opencall_sfu_workers{state="up"}')).toBe(1);
    expect(after.get('opencall_sfu_worker_cpu_seconds{worker="0"}')).toBeGreaterThan(0);
    expect(after.get('opencall_sfu_objects{kind="transport"}')).toBe(0);
    expect(after.get('opencall_store_ping_seconds')).toBeGreaterThanOrEqual(0);
    expect(after.has('opencall_process_resident_memory_bytes')).toBe(true);
    await a.close();
    await b.close();
  });

  it('needs the bearer when METRICS_TOKEN is set', async () => {
    server = await startServer({ METRICS_TOKEN: 'scrape-me' });
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const ok = await fetch(`${server.url}/metrics`, { headers: { authorization: 'Bearer scrape-me' } });
    expect(ok.status).toBe(200);
  });
});

describe('the shipped Grafana dashboard', () => {
  it('queries only series a node with Redis, a media worker and a peer exposes', async () => {
    const { readFileSync } = await import('node:fs');
    const { startRedisServer } = await import('../helpers/redisServer.ts');
    const redis = await startRedisServer();
    server = await startServer({
      REDIS_URL: redis.url,
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      NODE_HEARTBEAT_MS: '200',
      SFU_UPGRADE_AT: '2',
      SFU_DOWNGRADE_AT: '1',
    });
    const client = await TestClient.connect(server.wsUrl);
    const other = await TestClient.connect(server.wsUrl);
    try {
      // A little of everything the panels show: joins, an upgrade (mode change), an error.
      await client.join('dash', 'p');
      await other.join('dash', 'q');
      await client.next('mode-changed');
      client.send('not json');
      await client.next('error');
      const dashboard = JSON.parse(readFileSync('config/grafana-dashboard.json', 'utf8')) as {
        panels: Array<{ targets?: Array<{ expr: string }> }>;
      };
      const used = new Set(
        dashboard.panels
          .flatMap((p) => p.targets ?? [])
          .flatMap((t) => t.expr.match(/opencall_[a-z_]+/g) ?? [])
          .map((name) => name.replace(/_(bucket|count|sum)$/, '')),
      );
      expect(used).toContain('opencall_redis_command_seconds');
      // The heartbeat and the node's own pub/sub ping have run at least once.
      let names = new Set<string>();
      for (let i = 0; i < 50 && ![...used].every((n) => names.has(n)); i++) {
        const text = await (await fetch(`${server.url}/metrics`)).text();
        names = new Set(
          [...parse(text).keys()].map((k) => k.replace(/\{.*$/, '').replace(/_(bucket|count|sum)$/, '')),
        );
        await new Promise((r) => setTimeout(r, 100));
      }
      expect([...used].filter((n) => !names.has(n))).toEqual([]);
    } finally {
      await client.close();
      await other.close();
      await server.close();
      await redis.stop();
    }
  });
});
