import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { freePortBase } from '../integration/sfu/sfuTestEnv.ts';
import {
  type BrowserHarness,
  type DemoPage,
  decodesFrom,
  launchBrowser,
  recordSentTypes,
  screenshot,
  sentTypes,
  startGapSampler,
  stopGapSampler,
  until,
} from './browser.ts';

/*
 * The switch only counts when a browser survives it: four headless Chromium pages on the demo page,
 * with fake cameras, through P2P -> SFU -> P2P, and a screen share. The phases run in order.
 */

const DOWNGRADE_DELAY_MS = 1000;

describe('P2P <-> SFU in headless Chromium', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const pages: DemoPage[] = [];
  const room = `e2e-${Date.now().toString(36)}`;
  const media = () => server.media;
  const routers = async () => (await media().pool!.dump()).workers.flatMap((w) => w.routerIds);
  const others = (self: DemoPage, among: DemoPage[]) => among.filter((p) => p !== self).map((p) => p.peerId);
  const everyoneDecodes = async (among: DemoPage[], path: 'p2p' | 'sfu') => {
    for (const p of among) if (!(await decodesFrom(p.page, others(p, among), path))) return false;
    return true;
  };

  beforeAll(async () => {
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      RTC_LISTEN_IP: '127.0.0.1',
      SFU_DOWNGRADE_DELAY_MS: String(DOWNGRADE_DELAY_MS),
      STUN_URLS: '',
    });
    harness = await launchBrowser();
  });

  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await harness?.close();
    await server?.close();
  });

  it('two pages stay P2P and decode each other, with no router on the server', async () => {
    pages.push(await harness.open(server.url, room, 'Ada'));
    pages.push(await harness.open(server.url, room, 'Grace'));
    await until(() => everyoneDecodes(pages, 'p2p'), 'two pages decoding each other over P2P');
    for (const p of pages) expect(await p.page.evaluate(() => window.opencall.mode)).toBe('p2p');
    expect(media().modeOf(room)).toBe('p2p');
    expect(await routers()).toEqual([]);
    await screenshot(pages[0]!.page, '1-p2p-two-pages');
  });

  it('pages 3 and 4 join: the room switches to the SFU without a visible gap', async () => {
    pages.push(await harness.open(server.url, room, 'Linus'));
    await until(() => everyoneDecodes(pages, 'p2p'), 'three pages decoding each other over P2P');
    // One short of the threshold the room is prewarmed: every page has its SFU session up, its
    // producers paused (sending nothing), while the app still shows P2P and the room stays p2p.
    await until(
      async () => (media().sfuRoomOf(room)?.getProducers().length ?? 0) === 6,
      'six prewarmed producers (3 pages x mic + camera)',
    );
    expect(
      media()
        .sfuRoomOf(room)!
        .getProducers()
        .every((p) => p.paused),
    ).toBe(true);
    expect(media().modeOf(room)).toBe('p2p');
    for (const p of pages) {
      expect(await p.page.evaluate(() => [window.opencall.mode, window.opencall.sfuActive])).toEqual([
        'p2p',
        true,
      ]);
    }
    expect(await everyoneDecodes(pages, 'p2p')).toBe(true);
    for (const p of pages) await startGapSampler(p.page);

    const t0 = performance.now();
    pages.push(await harness.open(server.url, room, 'Margaret', { initScripts: [recordSentTypes] }));
    await until(
      async () => {
        for (const p of pages) {
          const [mode, p2p] = await p.page.evaluate(() => [
            window.opencall.mode,
            window.opencall.p2pConnectionCount,
          ]);
          if (mode !== 'sfu' || p2p !== 0) return false;
        }
        return everyoneDecodes(pages, 'sfu');
      },
      'every page on the SFU, decoding every other page',
      60_000,
    );
    const toAllSfuMs = Math.round(performance.now() - t0);
    // The newcomer's page loaded its mediasoup Device before it joined (prepareConnection), from
    // the capabilities REST gave it: the switch at its join did not wait for that.
    const capabilityFetches = await pages[3]!.page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.endsWith('/api/sfu/capabilities'))
        .map((e) => (e as PerformanceResourceTiming).responseStatus),
    );
    expect(capabilityFetches).toEqual([200]);
    // Its recv transport came with a consumer of each of the six producers (consumeProducers):
    // it asked for none of them, and made no transport twice.
    const sent = await sentTypes(pages[3]!.page);
    expect(sent.filter((t) => t === 'sfu-create-transport')).toHaveLength(2);
    expect(sent).not.toContain('sfu-consume');
    const gaps = await Promise.all(pages.map((p) => stopGapSampler(p.page)));
    const longestGapMs = Math.max(...gaps.map((g) => g.max));
    // Figures for the benchmark issue; asserted there against targets, here only printed.
    console.log(
      JSON.stringify({
        e2e: 'p2p->sfu',
        toAllSfuMs,
        longestGapMs,
        gapsPerPage: gaps.map((g) => g.max),
        presentedGapsPerPage: gaps.map((g) => g.presented.max),
      }),
    );
    // Every remote camera tile swapped its <video> to the SFU track: one element left per tile,
    // showing the track the SDK has active (over the SFU), and presenting frames.
    for (const p of pages) {
      const tiles = await p.page.evaluate(async () => {
        const active = new Map(
          (await window.opencall.getStats())
            .filter((s) => s.active && s.kind === 'video' && s.source === 'camera')
            .map((s) => [s.peerId, { trackId: s.trackId, path: s.path }]),
        );
        return [
          ...document.querySelectorAll<HTMLElement>('.tile[data-source="camera"][data-local="false"]'),
        ].map((tile) => {
          const videos = [...tile.querySelectorAll('video')];
          const shown = (videos[0]?.srcObject as MediaStream | null)?.getVideoTracks()[0]?.id;
          const want = active.get(tile.dataset.peerId ?? '');
          return {
            videos: videos.length,
            shownIsActive: shown === want?.trackId,
            path: want?.path,
            width: videos[0]?.videoWidth ?? 0,
          };
        });
      });
      expect(tiles, p.name).toHaveLength(3);
      for (const t of tiles) expect(t, p.name).toMatchObject({ videos: 1, shownIsActive: true, path: 'sfu' });
      for (const t of tiles) expect(t.width, p.name).toBeGreaterThan(0);
    }

    expect(media().modeOf(room)).toBe('sfu');
    expect(await routers()).toHaveLength(1);
    // The server forwarded video on every consumer: 4 pages x 3 remote cameras.
    const stats = await media().sfuRoomOf(room)!.getConsumerStats();
    const video = stats.filter((s) => s.kind === 'video' && s.source === 'camera');
    expect(video).toHaveLength(12);
    for (const s of video) expect(s.packetCount, `${s.peerId} <- ${s.producerPeerId}`).toBeGreaterThan(0);
    for (const [i, p] of pages.entries()) await screenshot(p.page, `2-sfu-four-pages-${i + 1}`);
  });

  it('two pages leave: the room returns to P2P after the delay and the rest still decode', async () => {
    const leaving = pages.splice(2, 2);
    await leaving[0]!.page.click('#btn-leave');
    await leaving[1]!.close();
    await leaving[0]!.close();
    await until(
      async () => {
        for (const p of pages) {
          const [mode, sfu] = await p.page.evaluate(() => [window.opencall.mode, window.opencall.sfuActive]);
          if (mode !== 'p2p' || sfu) return false;
        }
        return everyoneDecodes(pages, 'p2p');
      },
      'two pages back on P2P',
      30_000,
    );
    expect(media().modeOf(room)).toBe('p2p');
    await until(async () => (await routers()).length === 0, 'the router to close');
    await screenshot(pages[0]!.page, '3-back-to-p2p');
  });

  it('a screen share arrives at the other page as a track with source screen', async () => {
    const [sharer, viewer] = pages as [DemoPage, DemoPage];
    await sharer.page.evaluate(async () => {
      // A canvas stands in for getDisplayMedia, which needs a picker in headless Chromium.
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 360;
      const ctx = canvas.getContext('2d')!;
      let n = 0;
      setInterval(() => {
        n += 7;
        ctx.fillStyle = `hsl(${n % 360} 60% 40%)`;
        ctx.fillRect(0, 0, 640, 360);
        ctx.fillStyle = '#fff';
        ctx.font = '48px sans-serif';
        ctx.fillText(`shared screen ${n}`, 40, 200);
      }, 50);
      await window.opencall.startScreenShare({ stream: canvas.captureStream(20) });
    });
    await until(
      async () =>
        viewer.page.evaluate(
          (from) =>
            window.opencall.remoteTracks.some(
              (t) => t.peerId === from && t.source === 'screen' && t.kind === 'video',
            ),
          sharer.peerId,
        ),
      'the screen track at the viewer',
    );
    await until(
      async () =>
        (await viewer.page.evaluate(() => window.opencall.getStats())).some(
          (s) => s.peerId === sharer.peerId && s.source === 'screen' && s.active && s.framesDecoded > 0,
        ),
      'screen frames decoded at the viewer',
    );
    await viewer.page.waitForSelector(`[data-peer-id="${sharer.peerId}"][data-source="screen"]`);
    await screenshot(viewer.page, '4-screen-share');
  });
});
