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
