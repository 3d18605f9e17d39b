import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { type BrowserHarness, launchBrowser } from './browser.ts';
import { P2P_AND_SFU_ROOMS, prepareRoom } from './roomModes.ts';

/*
 * The active speaker in the demo, two Chromium pages with the fake microphone (a periodic beep).
 * P2P: each SDK reports its own level and the server names a speaker; SFU: the router's
 * ActiveSpeakerObserver names one. Either way the pages outline that peer's tile.
 */
describe.each(P2P_AND_SFU_ROOMS)('active speaker in the demo ($mode room)', ({ mode, env }) => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `spk-${mode}-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer(await env());
    await prepareRoom(server, room, mode);
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
