import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../src/protocol/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { SyntheticSfuClient } from '../helpers/sfuClient.ts';
import { TestClient } from '../helpers/wsClient.ts';
import { freePortBase } from './sfu/sfuTestEnv.ts';

/**
 * The room's active speaker, both ways: on the SFU the router's ActiveSpeakerObserver hears the
 * msc-node peers' audio (one loud, two quiet, as their ssrc-audio-level extension says); in P2P the
 * peers' own level reports decide. Either way the loud one is announced, at most every 500 ms.
 */
describe('active speaker', () => {
  let server: TestServer;
  const sfuPeers: SyntheticSfuClient[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
    });
  });
  afterAll(async () => {
    await Promise.all(sfuPeers.map((p) => p.close().catch(() => undefined)));
    await Promise.all(clients.map((c) => c.close()));
    await server?.close();
  });

  it('on the SFU: the router hears who is loud and the room is told', async () => {
    await fetch(`${server.url}/api/rooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ roomId: 'speak-sfu', mode: 'sfu' }),
    });
    for (const [peerId, dBov] of [
      ['quiet-1', 110],
      ['loud', 5],
      ['quiet-2', 120],
    ] as const) {
      sfuPeers.push(
        await SyntheticSfuClient.join(server.wsUrl, 'speak-sfu', peerId, { audioLevelDbov: dBov }),
      );
    }
    const [first] = sfuPeers as [SyntheticSfuClient];
    const announced = await first.ws.next('active-speaker', (m) => m.peerId === 'loud', 15_000);
    expect(announced.roomId).toBe('speak-sfu');
    // Everyone hears it, the speaker too.
    for (const p of sfuPeers.slice(1)) {
      expect((await p.ws.next('active-speaker', (m) => m.peerId === 'loud', 5_000)).roomId).toBe('speak-sfu');
    }
    // Once named, the loud one stays the speaker: no quiet peer takes over while it talks.
    const after = first.ws.received.length;
    await new Promise((r) => setTimeout(r, 2_000));
    const later = first.ws.received.slice(after).filter((m) => m.type === 'active-speaker');
    expect(later.filter((m) => (m as ServerMessageOf<'active-speaker'>).peerId !== 'loud')).toEqual([]);
  });

  it('in P2P: the peers’ own level reports decide, announced at most every 500 ms', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => TestClient.connect(server.wsUrl)));
    clients.push(a as TestClient, b as TestClient, c as TestClient);
    await a?.join('speak-p2p', 'a');
    await b?.join('speak-p2p', 'b');
    await c?.join('speak-p2p', 'c');
    const started = Date.now();
    const heard: Array<{ peerId: string; at: number }> = [];
    a?.ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as { type: string; peerId?: string };
      if (m.type === 'active-speaker') heard.push({ peerId: m.peerId as string, at: Date.now() });
    });
    // b speaks loudly, c softly; then c takes over, b falls silent.
    for (let i = 0; i < 6; i++) {
      b?.send({ type: 'audio-level', level: 0.6 });
      c?.send({ type: 'audio-level', level: 0.1 });
      await new Promise((r) => setTimeout(r, 100));
    }
    for (let i = 0; i < 8; i++) {
      c?.send({ type: 'audio-level', level: 0.7 });
      b?.send({ type: 'audio-level', level: 0.01 }); // below the speech threshold
      await new Promise((r) => setTimeout(r, 100));
    }
    await a?.next('active-speaker', (m) => m.peerId === 'c', 3_000);
    expect(heard.map((h) => h.peerId)).toEqual(['b', 'c']);
    expect((heard[1]?.at ?? 0) - (heard[0]?.at ?? 0)).toBeGreaterThanOrEqual(480);
    expect(Date.now() - started).toBeLessThan(5_000);
    // Out-of-range levels are refused with INVALID_MESSAGE, not taken.
    const bad = await b?.request({ type: 'audio-level', level: 7 });
    expect(bad).toMatchObject({ type: 'error', code: 'INVALID_MESSAGE' });
  });
});
