import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { freePortBase } from '../integration/sfu/sfuTestEnv.ts';
import { type BrowserHarness, launchBrowser } from './browser.ts';

/*
 * The active speaker in the demo, two Chromium pages with the fake microphone (a periodic beep).
 * P2P: each SDK reports its own level and the server names a speaker; SFU: the router's
 * ActiveSpeakerObserver names one. Either way the pages outline that peer's tile.
 */
describe.each([
  { mode: 'p2p' as const, env: async (): Promise<Record<string, string>> => ({}) },
  {
    mode: 'sfu' as const,
    env: async (): Promise<Record<string, string>> => ({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      RTC_LISTEN_IP: '127.0.0.1',
      STUN_URLS: '',
    }),
  },
])('active speaker in the demo ($mode room)', ({ mode, env }) => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `spk-${mode}-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer(await env());
    if (mode === 'sfu') {
      const created = await server.app.inject({
        method: 'POST',
        url: '/api/rooms',
        payload: { roomId: room, mode },
      });
      expect(created.statusCode).toBe(201);
    }
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  it('outlines the tile of the peer the server names', async () => {
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    for (const p of [ann, ben]) expect(await p.page.evaluate(() => window.opencall.mode)).toBe(mode);
    // Whoever the server names first, Ann's page outlines that peer's camera tile.
    const outlined = await ann.page.waitForSelector('.tile[data-source="camera"][data-speaking="true"]', {
      timeout: 15_000,
    });
    expect([ann.peerId, ben.peerId]).toContain(await outlined.getAttribute('data-peer-id'));
    expect(await ann.page.locator('.tile[data-speaking="true"]').count()).toBe(1);
    for (const p of [ann, ben]) await p.close();
  }, 60_000);
});
