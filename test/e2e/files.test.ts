import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { type BrowserHarness, launchBrowser } from './browser.ts';

/*
 * File transfer between two Chromium pages over the P2P link's data channels: 20 MB of random
 * bytes, hashed by the sender's page and, independently, by the receiver's page.
 */
describe('file transfer', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `file-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer();
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  const hex = async (page: import('playwright-core').Page, expr: string) =>
    page.evaluate(async (name) => {
      const blob = (window as unknown as Record<string, Blob>)[name] as Blob;
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
      return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    }, expr);

  it('sends 20 MB in P2P mode; the receiver gets the same bytes, with progress', async () => {
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    await ann.page.waitForFunction(() => window.opencall.p2pConnectionCount === 1, null, { timeout: 20_000 });
    await ben.page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      w.progress = 0;
      window.opencall.on('file-progress', (e) => {
        if (e.direction === 'in') w.progress = e.bytes;
      });
      window.opencall.once('file-received', (e) => {
        w.received = e.file;
        w.receivedName = e.name;
        w.receivedFrom = e.fromPeerId;
      });
    });
    const sent = await ann.page.evaluate(async () => {
      const size = 20 * 1024 * 1024;
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
      const file = new File([bytes], 'random.bin', { type: 'application/octet-stream' });
      (window as unknown as Record<string, Blob>).sent = file;
      const started = performance.now();
      await window.opencall.sendFile(file);
      return { ms: performance.now() - started };
    });
    await ben.page.waitForFunction(
      () => (window as unknown as Record<string, unknown>).received !== undefined,
      null,
      {
        timeout: 60_000,
      },
    );
    const [sentHash, receivedHash] = [await hex(ann.page, 'sent'), await hex(ben.page, 'received')];
    expect(receivedHash).toBe(sentHash);
    const meta = await ben.page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      return {
        name: w.receivedName,
        from: w.receivedFrom,
        progress: w.progress,
        size: (w.received as Blob).size,
      };
    });
    expect(meta).toEqual({
      name: 'random.bin',
      from: ann.peerId,
      progress: 20 * 1024 * 1024,
      size: 20 * 1024 * 1024,
    });
    expect(sent.ms).toBeGreaterThan(0);
    // The demo lists it as a download link.
    await ben.page.locator('#chat-log a.file-link', { hasText: 'random.bin' }).waitFor({ state: 'attached' });
    for (const p of [ann, ben]) await p.close();
  }, 120_000);
});
