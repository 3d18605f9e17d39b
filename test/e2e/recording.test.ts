import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { freePortBase } from '../integration/sfu/sfuTestEnv.ts';
import { type BrowserHarness, decodesFrom, launchBrowser, until } from './browser.ts';

/*
 * Recording a P2P room of two Chromium pages (fake camera and microphone: real VP8 and Opus):
 * the room moves to the SFU for the recording, ffmpeg writes one Matroska file, and ffprobe finds
 * about 5 s of two video and two audio tracks whose frames decode.
 */
describe('recording a room', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const dir = mkdtempSync(join(tmpdir(), 'opencall-rec-'));
  const room = `rec-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      RECORDINGS_DIR: dir,
    });
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  const probe = (path: string, args: string[]) =>
    spawnSync('ffprobe', ['-v', 'error', ...args, '-of', 'json', path], { encoding: 'utf8' });

  it('records ~5 s of every participant’s audio and video into one file that decodes', async () => {
    const ann = await harness.open(server.url, room, 'Ann');
    const ben = await harness.open(server.url, room, 'Ben');
    await until(() => decodesFrom(ann.page, [ben.peerId], 'p2p'), 'P2P video', 30_000);
    const indicator = ann.page.locator('#rec-indicator');

    const started = await fetch(`${server.url}/api/rooms/${room}/recordings`, { method: 'POST' });
    expect(started.status).toBe(201);
    const info = (await started.json()) as {
      recordingId: string;
      path: string;
      tracks: Array<{ kind: string }>;
    };
    expect(info.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'audio', 'video', 'video']);
    // The room went to the SFU for it, and says why; the pages show the recording.
    expect(await ann.page.evaluate(() => window.opencall.mode)).toBe('sfu');
    await indicator.waitFor({ state: 'visible', timeout: 10_000 });
    const again = await fetch(`${server.url}/api/rooms/${room}/recordings`, { method: 'POST' });
    expect(again.status).toBe(409);

    await new Promise((r) => setTimeout(r, 5_000));
    const stopped = await fetch(`${server.url}/api/rooms/${room}/recordings/${info.recordingId}`, {
      method: 'DELETE',
    });
    expect(stopped.status).toBe(200);
    const result = (await stopped.json()) as { path: string; sizeBytes: number; durationS: number };
    expect(result.path).toBe(info.path);
    expect(result.sizeBytes).toBeGreaterThan(50_000);
    expect(result.durationS).toBeGreaterThan(4);
    expect(result.durationS).toBeLessThan(7.5);
    await indicator.waitFor({ state: 'hidden', timeout: 10_000 });
    // The SFU was for the recording only: the two pages go back to P2P after the downgrade delay.
    await ann.page.waitForFunction(() => window.opencall.mode === 'p2p', null, { timeout: 20_000 });

    const streams = JSON.parse(
      probe(result.path, ['-show_entries', 'stream=codec_type,codec_name']).stdout,
    ) as {
      streams: Array<{ codec_type: string; codec_name: string }>;
    };
    expect(streams.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'audio', 'video', 'video']);
    // Every video track has frames that decode.
    for (const index of [0, 1]) {
      const frames = JSON.parse(
        probe(result.path, [
          '-select_streams',
          `v:${index}`,
          '-count_frames',
          '-show_entries',
          'stream=nb_read_frames',
        ]).stdout,
      ) as { streams: Array<{ nb_read_frames: string }> };
      expect(Number(frames.streams[0]?.nb_read_frames)).toBeGreaterThan(30);
    }
    const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', result.path, '-f', 'null', '-'], {
      encoding: 'utf8',
    });
    expect(decode.status).toBe(0);
    for (const p of [ann, ben]) await p.close();
  }, 120_000);
});
