import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { sfuServerEnv } from '../integration/sfu/sfuTestEnv.ts';
import { type BrowserHarness, decodesFrom, launchBrowser, until } from './browser.ts';

/*
 * Breakout rooms in the demo, three Chromium pages: the host's Breakouts button sends both guests
 * to a breakout room, where they see each other's video and not the host's; End breakouts brings
 * them back and everyone sees everyone again.
 */
describe.each([
  { path: 'p2p' as const, env: async (): Promise<Record<string, string>> => ({}) },
  {
    // Every room of two or more on the SFU: the meeting, the breakout room, and the meeting again.
    path: 'sfu' as const,
    env: () => sfuServerEnv({ SFU_UPGRADE_AT: '2', SFU_DOWNGRADE_AT: '1' }),
  },
])('breakout rooms in the demo ($path)', ({ path, env }) => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `brk-${path}-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer(await env());
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  it('moves the guests to a breakout room and back, video both times', async () => {
    const host = await harness.open(server.url, room, 'Host');
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    await until(
      () => decodesFrom(ann.page, [host.peerId, ben.peerId], path),
      'Ann sees Host and Ben',
      30_000,
    );

    // A guest may not open breakout rooms.
    await ann.page.click('#btn-breakouts');
    await ann.page.locator('.toast', { hasText: 'host' }).first().waitFor({ timeout: 10_000 });

    await host.page.click('#btn-breakouts');
    for (const guest of [ann, ben]) {
      await guest.page.locator('#breakout-banner', { hasText: 'Room 1' }).waitFor({ timeout: 15_000 });
    }
    expect(await ann.page.evaluate(() => window.opencall.roomId)).toBe(`${room}.b1`);
    await until(() => decodesFrom(ann.page, [ben.peerId], path), 'Ann sees Ben in the breakout room', 30_000);
    await until(() => decodesFrom(ben.page, [ann.peerId], path), 'Ben sees Ann in the breakout room', 30_000);
    expect(await ann.page.evaluate(() => window.opencall.peers.map((p) => p.displayName))).toEqual(['Ben']);
    expect(await host.page.getAttribute('#btn-breakouts', 'aria-pressed')).toBe('true');

    await host.page.click('#btn-breakouts');
    for (const guest of [ann, ben]) {
      await guest.page.locator('#breakout-banner').waitFor({ state: 'hidden', timeout: 15_000 });
    }
    expect(await ben.page.evaluate(() => window.opencall.roomId)).toBe(room);
    await until(
      () => decodesFrom(host.page, [ann.peerId, ben.peerId], path),
      'Host sees both guests again',
      30_000,
    );
    await until(
      () => decodesFrom(ann.page, [host.peerId, ben.peerId], path),
      'Ann sees everyone again',
      30_000,
    );
    for (const p of [host, ann, ben]) await p.close();
  }, 150_000);
});
