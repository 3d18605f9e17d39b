import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { sfuServerEnv } from '../integration/sfu/sfuTestEnv.ts';
import { type BrowserHarness, type DemoPage, launchBrowser, until } from './browser.ts';

const MB = 1024 * 1024;

/*
 * File transfer between Chromium pages: 20 MB of random bytes, hashed by the sender's page and,
 * independently, by the receiver's page. Over the P2P link's data channels; through the SFU
 * (mediasoup DataProducer → DataConsumer over SCTP); and across the P2P→SFU switch, where the
 * transfer goes on over the SFU from the last acknowledged byte.
 */
describe('file transfer', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const stamp = Date.now().toString(36);

  beforeAll(async () => {
    server = await startServer(await sfuServerEnv({ SFU_UPGRADE_AT: '3' }));
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  const hex = (page: Page, name: string) =>
    page.evaluate(async (n) => {
      const blob = (window as unknown as Record<string, Blob>)[n] as Blob;
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer()));
      return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
    }, name);

  /** The receiver page records progress (by path) and the file it gets. */
  const watchIncoming = (page: Page) =>
    page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      w.progress = 0;
      w.firstBytesByPath = {};
      window.opencall.on('file-progress', (e) => {
        if (e.direction !== 'in') return;
        w.progress = e.bytes;
        const first = w.firstBytesByPath as Record<string, number>;
        first[e.path] ??= e.bytes;
      });
      window.opencall.once('file-received', (e) => {
        w.received = e.file;
        w.receivedName = e.name;
        w.receivedFrom = e.fromPeerId;
      });
    });

  /** The sender page makes `size` random bytes and sends them; resolves when sendFile does. */
  const sendRandom = (page: Page, size: number, toPeerId?: string) =>
    page.evaluate(
      async ({ size, toPeerId }) => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
        const file = new File([bytes], 'random.bin', { type: 'application/octet-stream' });
        (window as unknown as Record<string, Blob>).sent = file;
        await window.opencall.sendFile(file, toPeerId !== undefined ? { toPeerId } : {});
      },
      { size, toPeerId },
    );

  const received = async (sender: DemoPage, receiver: DemoPage) => {
    await receiver.page.waitForFunction(
      () => (window as unknown as Record<string, unknown>).received !== undefined,
      null,
      { timeout: 60_000 },
    );
    expect(await hex(receiver.page, 'received')).toBe(await hex(sender.page, 'sent'));
    return receiver.page.evaluate(() => {
      const w = window as unknown as Record<string, unknown>;
      return {
        name: w.receivedName,
        from: w.receivedFrom,
        progress: w.progress,
        size: (w.received as Blob).size,
        firstBytesByPath: w.firstBytesByPath as Record<string, number>,
      };
    });
  };

  it('sends 20 MB in P2P mode; the receiver gets the same bytes, with progress', async () => {
    const room = `file-p2p-${stamp}`;
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    await ann.page.waitForFunction(() => window.opencall.p2pConnectionCount === 1, null, { timeout: 20_000 });
    await watchIncoming(ben.page);
    await sendRandom(ann.page, 20 * MB);
    const meta = await received(ann, ben);
    expect(meta).toMatchObject({ name: 'random.bin', from: ann.peerId, progress: 20 * MB, size: 20 * MB });
    expect(Object.keys(meta.firstBytesByPath)).toEqual(['p2p']);
    // The demo lists it as a download link.
    await ben.page.locator('#chat-log a.file-link', { hasText: 'random.bin' }).waitFor({ state: 'attached' });
    for (const p of [ann, ben]) await p.close();
  }, 120_000);

  it('sends 20 MB through the SFU (data producer → data consumer) in an SFU room, to one peer', async () => {
    const room = `file-sfu-${stamp}`;
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: room, mode: 'sfu' },
    });
    expect(created.statusCode).toBe(201);
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    const cat = await harness.open(server.url, room, 'Cat');
    for (const p of [ann, ben, cat]) {
      await p.page.waitForFunction(
        () => window.opencall.mode === 'sfu' && window.opencall.p2pConnectionCount === 0,
      );
    }
    await watchIncoming(ben.page);
    await watchIncoming(cat.page);
    await sendRandom(ann.page, 20 * MB, ben.peerId);
    const meta = await received(ann, ben);
    expect(meta).toMatchObject({ name: 'random.bin', from: ann.peerId, progress: 20 * MB, size: 20 * MB });
    expect(Object.keys(meta.firstBytesByPath)).toEqual(['sfu']);
    // A file to one peer reaches only that peer: the SFU gave Cat no data consumer for it.
    expect(await cat.page.evaluate(() => (window as unknown as Record<string, unknown>).progress)).toBe(0);
    // Every data producer of the transfer is closed once it is done (the sender closes its channel).
    const counts = () => server.media.sfuRoomOf(room)?.objectCounts();
    await until(async () => counts()?.dataProducers === 0, 'the data producers closed');
    expect(counts()).toMatchObject({ dataProducers: 0, dataConsumers: 0 });
    for (const p of [ann, ben, cat]) await p.close();
  }, 120_000);

  it('a transfer under way when the room switches to the SFU goes on from the last acknowledged byte', async () => {
    const room = `file-switch-${stamp}`;
    // Ben holds back his acknowledgements (after the first) until his room is on the SFU: Ann's
    // transfer can then not finish over P2P, whatever the speed of this machine.
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    await ann.page.waitForFunction(() => window.opencall.p2pConnectionCount === 1, null, { timeout: 20_000 });
    await watchIncoming(ben.page);
    await ben.page.evaluate(() => {
      const held: Array<() => void> = [];
      let hold = true;
      const send = WebSocket.prototype.send;
      WebSocket.prototype.send = function (this: WebSocket, data) {
        if (hold && typeof data === 'string' && data.includes('"file-ack"') && !data.includes('"bytes":0')) {
          held.push(() => send.call(this, data));
          return;
        }
        send.call(this, data);
      };
      window.opencall.on('mode-changed', (e) => {
        if (e.mode !== 'sfu') return;
        hold = false;
        for (const release of held.splice(0)) release();
      });
    });
    const sending = sendRandom(ann.page, 20 * MB, ben.peerId);
    // Some bytes arrived over P2P, and no more than the sender's window without acknowledgements.
    await ben.page.waitForFunction(() => (window as unknown as { progress: number }).progress >= 1024 * 1024);
    const cat = await harness.open(server.url, room, 'Cat');
    await sending;
    const meta = await received(ann, ben);
    expect(meta).toMatchObject({ progress: 20 * MB, size: 20 * MB });
    expect(Object.keys(meta.firstBytesByPath).sort()).toEqual(['p2p', 'sfu']);
    // Resumed, not restarted: the first bytes through the SFU came after the megabyte Ben held.
    expect(meta.firstBytesByPath.sfu).toBeGreaterThan(MB);
    expect(await ann.page.evaluate(() => window.opencall.mode)).toBe('sfu');
    for (const p of [ann, ben, cat]) await p.close();
  }, 120_000);
});
