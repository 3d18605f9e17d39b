import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { sfuServerEnv } from '../integration/sfu/sfuTestEnv.ts';
import {
  type BrowserHarness,
  type DemoPage,
  decodesFrom,
  launchBrowser,
  screenshot,
  until,
} from './browser.ts';

/*
 * An SFU that no page can reach: the workers listen on 127.0.0.1 and announce 127.0.0.2, where
 * nothing listens (and the traffic stays on this machine). The fourth join starts an upgrade that
 * can never carry media: it must be aborted, not committed. The mesh is never closed, so the first
 * three pages decode each other throughout; the fourth opens P2P when its SFU does not flow; the
 * room ends p2p and every page is told SFU_UNREACHABLE. Switch timeouts are the shipped ones.
 */

describe('an unreachable SFU in headless Chromium', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const pages: DemoPage[] = [];
  const room = `unreachable-${Date.now().toString(36)}`;
  const media = () => server.media;
  const others = (self: DemoPage, among: DemoPage[]) => among.filter((p) => p !== self).map((p) => p.peerId);
  // The pages at once: a check takes one 300 ms look, so the upgrade's window holds many of them.
  const decodeEachOther = async (among: DemoPage[], path: 'p2p' | 'sfu') =>
    (await Promise.all(among.map((p) => decodesFrom(p.page, others(p, among), path)))).every(Boolean);

  beforeAll(async () => {
    server = await startServer(await sfuServerEnv({ ANNOUNCED_IP: '127.0.0.2' }));
    harness = await launchBrowser();
  });

  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await harness?.close();
    await server?.close();
  });

  it('aborts the upgrade: the pages keep decoding each other over P2P, the room ends p2p, SFU_UNREACHABLE', async () => {
    for (const name of ['Ada', 'Grace', 'Linus']) pages.push(await harness.open(server.url, room, name));
    await until(() => decodeEachOther(pages, 'p2p'), 'three pages decoding each other over P2P');
    const first = [...pages];

    pages.push(await harness.open(server.url, room, 'Margaret'));
    const newcomer = pages[3]!;
    expect(media().modeOf(room)).toBe('upgrading');

    // While the upgrade runs (and fails), the first three never stop decoding each other over P2P,
    // and the newcomer, whose SFU does not flow, gets P2P from everyone.
    let checks = 0;
    let newcomerDecodedDuringUpgrade = false;
    while (media().modeOf(room) === 'upgrading') {
      const [firstThree, newcomerDecodes] = await Promise.all([
        decodeEachOther(first, 'p2p'),
        newcomerDecodedDuringUpgrade || decodesFrom(newcomer.page, others(newcomer, pages), 'p2p'),
      ]);
      expect(firstThree, `check ${checks}: the first three decode each other`).toBe(true);
      checks++;
      if (newcomerDecodes) newcomerDecodedDuringUpgrade = true;
    }
    expect(checks).toBeGreaterThan(3);
    expect(newcomerDecodedDuringUpgrade).toBe(true);
    expect(media().modeOf(room)).toBe('p2p');

    await until(() => decodeEachOther(pages, 'p2p'), 'all four pages decoding each other over P2P');
    for (const p of pages) {
      await p.page.waitForSelector('#sfu-banner[data-code="SFU_UNREACHABLE"]:not([hidden])', {
        timeout: 10_000,
      });
      expect(await p.page.evaluate(() => window.opencall.mode)).toBe('p2p');
      expect(await p.page.evaluate(() => window.opencall.sfuActive)).toBe(false);
    }
    // No router is left, /ready shows what failed, and no new attempt is made before the backoff.
    expect((await media().pool!.dump()).workers.flatMap((w) => w.routerIds)).toEqual([]);
    const ready = (await server.app.inject({ method: 'GET', url: '/ready' })).json();
    expect(ready.sfu.clientReachability.failed).toBeGreaterThan(0);
    expect(ready.sfu.clientReachability.connected).toBe(0);
    expect(ready.sfu.announcedAddresses.map((c: { address: string }) => c.address)).toEqual([
      '127.0.0.2',
      '127.0.0.2',
    ]);
    await screenshot(newcomer.page, 'unreachable-banner');
    expect(await decodeEachOther(pages, 'p2p')).toBe(true);
    expect(media().modeOf(room)).toBe('p2p');
  });
});
