import { execFile } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { captureVp8Frames, toIvf } from '../helpers/vp8Capture.ts';
import { sfuServerEnv } from '../integration/sfu/sfuTestEnv.ts';
import {
  type BrowserHarness,
  type DemoPage,
  decodesFrom,
  launchBrowser,
  openDemoPage,
  until,
} from './browser.ts';

/*
 * End-to-end encryption in Chromium, in a room created with encryption "e2ee":
 *  (a) pages holding the room key decode each other's video, peer-to-peer and through the SFU, and
 *      the key changes when a peer leaves;
 *  (b) a page that never gets the key receives the frames but decodes none;
 *  (c) what the SFU's worker forwards is not plain VP8: frames captured on a PlainTransport
 *      consumer do not decode, and decode once opened with the room key, while the same capture
 *      in a room with encryption "none" decodes as it is.
 */

/** Records every AES-GCM key the page imports raw (the SDK's room keys), for (c). */
function recordRoomKeys(): void {
  const w = window as unknown as { __roomKeys: string[] };
  w.__roomKeys = [];
  const subtle = crypto.subtle;
  const importKey = subtle.importKey.bind(subtle) as (...args: unknown[]) => Promise<CryptoKey>;
  (subtle as unknown as { importKey: unknown }).importKey = (...args: unknown[]) => {
    const [format, data, algorithm] = args as [string, Uint8Array, string | { name: string }];
    const name = typeof algorithm === 'string' ? algorithm : algorithm.name;
    if (format === 'raw' && name === 'AES-GCM') w.__roomKeys.push(btoa(String.fromCharCode(...data)));
    return importKey(...args);
  };
}

/** Never lets the page take part in the key exchange: it says no hello, so nobody sends it a key. */
function refuseKeyExchange(): void {
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: WebSocket, data) {
    if (typeof data === 'string' && data.includes('"e2ee-key"')) return;
    send.call(this, data);
  };
}

/** The page without RTCRtpScriptTransform: the SDK falls back to encoded insertable streams. */
function withoutScriptTransform(): void {
  delete (window as unknown as { RTCRtpScriptTransform?: unknown }).RTCRtpScriptTransform;
}

/** Decodes an IVF file with ffmpeg; how many frames came out, and what it complained about. */
function ffmpegDecode(file: string): Promise<{ frames: number; errors: string }> {
  return new Promise((resolve) => {
    execFile(
      process.env.FFMPEG_PATH ?? 'ffmpeg',
      ['-v', 'error', '-i', file, '-f', 'framemd5', '-'],
      { maxBuffer: 16 * 1024 * 1024 },
      (_err, stdout, stderr) =>
        resolve({ frames: stdout.split('\n').filter((l) => /^0,/.test(l)).length, errors: stderr.trim() }),
    );
  });
}

/** Opens a frame sealed by the SDK ([clear][ciphertext+tag][iv][key id][n]) with one of `keys`. */
async function openFrame(frame: Uint8Array, keys: Uint8Array[]): Promise<Uint8Array | undefined> {
  const size = frame.byteLength;
  const n = frame[size - 1]!;
  const iv = frame.subarray(size - 17, size - 5);
  for (const raw of keys) {
    const key = await webcrypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['decrypt']);
    try {
      const plain = new Uint8Array(
        await webcrypto.subtle.decrypt(
          { name: 'AES-GCM', iv, additionalData: frame.subarray(0, n) },
          key,
          frame.subarray(n, size - 17),
        ),
      );
      const out = new Uint8Array(n + plain.byteLength);
      out.set(frame.subarray(0, n));
      out.set(plain, n);
      return out;
    } catch {
      // another key
    }
  }
  return undefined;
}

describe('end-to-end encryption (Chromium)', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const pages: DemoPage[] = [];
  const stamp = Date.now().toString(36);
  const room = `e2ee-${stamp}`;
  const scratch = mkdtempSync(join(tmpdir(), 'opencall-e2ee-'));

  const open = async (roomId: string, name: string, initScripts: Array<() => void> = []) => {
    const { page, context, peerId } = await openDemoPage(harness.browser, server.url, roomId, name, {
      initScripts,
    });
    const p: DemoPage = { page, context, name, peerId, close: () => context.close() };
    pages.push(p);
    return p;
  };
  const decodesAll = async (among: DemoPage[], path: 'p2p' | 'sfu') => {
    for (const p of among) {
      const others = among.filter((o) => o !== p).map((o) => o.peerId);
      if (!(await decodesFrom(p.page, others, path))) return false;
    }
    return true;
  };
  const keyId = (page: Page) => page.evaluate(() => window.opencall.e2ee.keyId);
  const e2eeStats = (page: Page) => page.evaluate(() => window.opencall.getE2eeStats());
  const createRoom = async (roomId: string, encryption: 'e2ee' | 'none') => {
    const created = await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId, encryption },
    });
    expect(created.statusCode).toBe(201);
  };

  beforeAll(async () => {
    server = await startServer(await sfuServerEnv({ SFU_UPGRADE_AT: '3', SFU_DOWNGRADE_DELAY_MS: '600000' }));
    harness = await launchBrowser();
    await createRoom(room, 'e2ee');
  });
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await harness?.close();
    await server?.close();
  });

  it('(a) pages with the key decode each other peer-to-peer, with the lock shown', async () => {
    const ann = await open(room, 'Ann', [recordRoomKeys]);
    // Ben's browser has no RTCRtpScriptTransform: the insertable-streams fallback, same frames.
    const ben = await open(room, 'Ben', [withoutScriptTransform]);
    await until(() => decodesAll([ann, ben], 'p2p'), 'Ann and Ben decoding each other over P2P');
    expect(await ann.page.evaluate(() => window.opencall.e2ee.transform)).toBe('script');
    expect(await ben.page.evaluate(() => window.opencall.e2ee.transform)).toBe('insertable-streams');
    for (const p of [ann, ben]) {
      expect(await p.page.evaluate(() => window.opencall.e2ee)).toMatchObject({
        enabled: true,
        active: true,
      });
      await p.page.locator('#e2ee-indicator').waitFor({ state: 'visible' });
      const counts = await e2eeStats(p.page);
      expect(counts!.encrypted).toBeGreaterThan(0);
      expect(counts!.decrypted).toBeGreaterThan(0);
    }
    // One room key: the same key id on both sides.
    expect(await keyId(ben.page)).toBe(await keyId(ann.page));
  }, 90_000);

  it('(a) through the SFU too; the key changes when a peer leaves, and media goes on', async () => {
    const [ann, ben] = pages as [DemoPage, DemoPage];
    const cat = await open(room, 'Cat');
    await until(
      () => decodesAll([ann, ben, cat], 'sfu'),
      'three pages decoding each other through the SFU',
      45_000,
    );
    for (const p of [ann, ben, cat]) expect(await p.page.evaluate(() => window.opencall.mode)).toBe('sfu');
    const before = await keyId(ann.page);
    expect(await keyId(cat.page)).toBe(before);

    // Dan joins and leaves: those who stay get a new key he never had.
    const dan = await open(room, 'Dan');
    await until(async () => (await keyId(dan.page)) !== undefined, 'Dan holding the room key');
    const danKey = await keyId(dan.page);
    await dan.close();
    pages.splice(pages.indexOf(dan), 1);
    await until(async () => {
      const ids = await Promise.all([ann, ben, cat].map((p) => keyId(p.page)));
      return ids.every((id) => id !== undefined && id !== danKey && id === ids[0]);
    }, 'a new room key after Dan left');
    await until(() => decodesAll([ann, ben, cat], 'sfu'), 'decoding again with the new key', 30_000);
  }, 120_000);

  it('(b) a page without the key receives frames but decodes none', async () => {
    const [ann] = pages as [DemoPage];
    const eve = await open(room, 'Eve', [refuseKeyExchange]);
    // She never gets the room key (she may seal her own frames with a key of her own, that nobody has).
    expect(await eve.page.evaluate(() => window.opencall.e2ee.enabled)).toBe(true);
    expect(await keyId(eve.page)).not.toBe(await keyId(ann.page));
    const annVideo = async () =>
      (await eve.page.evaluate(() => window.opencall.getStats())).find(
        (s) => s.peerId === ann.peerId && s.kind === 'video' && s.source === 'camera' && s.path === 'sfu',
      );
    await until(
      async () => ((await annVideo())?.packetsReceived ?? 0) > 200,
      'Eve receiving Ann’s video packets',
    );
    const video = await annVideo();
    expect(video!.bytesReceived).toBeGreaterThan(100_000);
    expect(video!.framesDecoded).toBe(0);
    const counts = await e2eeStats(eve.page);
    expect(counts!.decrypted).toBe(0);
    expect(counts!.dropped).toBeGreaterThan(0);
    await eve.close();
    pages.splice(pages.indexOf(eve), 1);
  }, 90_000);

  it('(c) the SFU forwards sealed frames: they decode only once opened with the room key; a plain room’s decode as they are', async () => {
    const [ann] = pages as [DemoPage];
    const sfu = server.media.sfuRoomOf(room)!;
    const producer = sfu.getPeerProducers(ann.peerId).find((p) => p.source === 'camera')!;
    const sealed = await captureVp8Frames(sfu, producer.producerId, 30);
    const keys = (
      await ann.page.evaluate(() => (window as unknown as { __roomKeys: string[] }).__roomKeys)
    ).map((k) => Uint8Array.from(Buffer.from(k, 'base64')));
    const opened = await Promise.all(sealed.map((f) => openFrame(f.data, keys)));
    // Every forwarded frame is sealed with a room key (the GCM tag checks), and is not its plaintext.
    expect(opened.every((f) => f !== undefined)).toBe(true);
    for (const [i, f] of sealed.entries()) expect(Buffer.compare(f.data, opened[i]!)).not.toBe(0);

    // The same capture in a room without encryption.
    const plainRoom = `plain-${stamp}`;
    await createRoom(plainRoom, 'none');
    const [x, y, z] = [await open(plainRoom, 'X'), await open(plainRoom, 'Y'), await open(plainRoom, 'Z')];
    await until(() => decodesAll([x, y, z], 'sfu'), 'the plain room on the SFU', 45_000);
    const plainSfu = server.media.sfuRoomOf(plainRoom)!;
    const plainProducer = plainSfu.getPeerProducers(x.peerId).find((p) => p.source === 'camera')!;
    const plain = await captureVp8Frames(plainSfu, plainProducer.producerId, 30);
    // Its frames are not sealed: nothing opens them.
    expect((await Promise.all(plain.map((f) => openFrame(f.data, keys)))).every((f) => f === undefined)).toBe(
      true,
    );

    const decode = async (name: string, frames: Uint8Array[]) => {
      const file = join(scratch, `${name}.ivf`);
      writeFileSync(file, toIvf(frames, 640, 480));
      return ffmpegDecode(file);
    };
    const plainResult = await decode(
      'plain',
      plain.map((f) => f.data),
    );
    const sealedResult = await decode(
      'sealed',
      sealed.map((f) => f.data),
    );
    const openedResult = await decode('opened', opened as Uint8Array[]);
    expect(plainResult).toEqual({ frames: 30, errors: '' });
    expect(openedResult).toEqual({ frames: 30, errors: '' });
    expect(sealedResult.errors).not.toBe('');
  }, 150_000);
});
