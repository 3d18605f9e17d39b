import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import type { RemoteTrackStats } from '../../src/client/index.ts';

/** Flags for headless Chromium on a machine without network or camera (see DEVELOPERS.md). */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Without it Chromium gathers no loopback candidate on a machine with no network.
  '--allow-loopback-in-peer-connection',
  // No name lookups leave the machine (the shipped STUN_URLS names a public STUN server).
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  // Pages in background tabs must keep decoding and running timers.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

export interface BrowserHarness {
  browser: Browser;
  /** A fresh page (own context, so own camera and storage) with the demo joined to `room` as `name`. */
  open(baseUrl: string, room: string, name: string, options?: OpenDemoPageOptions): Promise<DemoPage>;
  close(): Promise<void>;
}

export interface DemoPage {
  page: Page;
  context: BrowserContext;
  name: string;
  peerId: string;
  close(): Promise<void>;
}

export const artifactsDir = join(process.cwd(), 'test', 'artifacts');

export async function launchBrowser(): Promise<BrowserHarness> {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // playwright gives every launch a new, empty user data dir of its own.
    args: chromiumArgs,
  });
  mkdirSync(artifactsDir, { recursive: true });
  return {
    browser,
    async open(baseUrl, room, name, options) {
      const { page, context, peerId } = await openDemoPage(browser, baseUrl, room, name, options);
      return { page, context, name, peerId, close: () => context.close() };
    },
    async close() {
      await browser.close();
    },
  };
}

export interface OpenDemoPageOptions {
  viewport?: { width: number; height: number };
  /** Scripts to run in the page before its own (addInitScript), e.g. instrumentation. */
  initScripts?: Array<() => void>;
  timeoutMs?: number;
}

/**
 * A fresh page (own context, so own fake camera and storage) on the demo, joined to `room` as
 * `name`: the demo joins by itself when the URL names the room and the name.
 */
export async function openDemoPage(
  browser: Browser,
  baseUrl: string,
  room: string,
  name: string,
  options: OpenDemoPageOptions = {},
): Promise<{ page: Page; context: BrowserContext; peerId: string }> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1280, height: 720 } });
  for (const script of options.initScripts ?? []) await context.addInitScript(script);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(`${baseUrl}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`);
  await page
    .waitForFunction(
      () => window.opencall?.state === 'connected' && window.opencall.peerId !== undefined,
      null,
      {
        timeout: options.timeoutMs ?? 20_000,
      },
    )
    .catch((err: Error) => {
      throw new Error(`${name} did not join: ${err.message}; page errors: ${problems.join('; ')}`);
    });
  const peerId = await page.evaluate(() => window.opencall.peerId as string);
  return { page, context, peerId };
}

export function stats(page: Page): Promise<RemoteTrackStats[]> {
  return page.evaluate(() => window.opencall.getStats());
}

/**
 * True when `page` decodes the camera video of every peer in `from` on `path`: the active track of
 * each is on that path and its framesDecoded grows between two samples.
 */
export async function decodesFrom(page: Page, from: string[], path: 'p2p' | 'sfu'): Promise<boolean> {
  const pick = (all: RemoteTrackStats[], peerId: string) =>
    all.find(
      (s) =>
        s.peerId === peerId && s.kind === 'video' && s.source === 'camera' && s.active && s.path === path,
    );
  const first = await stats(page);
  if (!from.every((p) => (pick(first, p)?.framesDecoded ?? 0) > 0)) return false;
  await page.waitForTimeout(300);
  const second = await stats(page);
  return from.every((p) => {
    const a = pick(first, p);
    const b = pick(second, p);
    return a !== undefined && b !== undefined && a.trackId === b.trackId && b.framesDecoded > a.framesDecoded;
  });
}

/** Polls an async condition until it holds (or throws after timeoutMs). */
export async function until(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The longest gap, by both measures: see startGapSampler. */
export interface GapResult {
  /** framesDecoded, polled through getStats every 100 ms: ms. */
  max: number;
  maxPeer: string;
  /** Date.now() when the frame that ended the longest gap was seen. */
  maxEndedAt: number;
  /** The poller's own resolution: the longest time between two reads, and the longest read. */
  maxTickMs: number;
  maxStatsMs: number;
  /** Frames presented on the camera tiles' <video> elements (requestVideoFrameCallback). */
  presented: { max: number; maxPeer: string; maxEndedAt: number };
}

/** The sampler's state in the page: the figures as they grow, and how to stop it. */
interface GapState extends GapResult {
  stop: () => void;
}

/**
 * Starts a sampler in the page: every 100 ms (getStats is not free: sampling faster slows the very
 * pages it measures) it reads the active camera track of every remote peer
 * and records the longest time between two increases of framesDecoded (a new track counts as an
 * increase once it has decoded a frame). Its resolution is its own period, or worse under load: a
 * getStats read can take 300 ms on a saturated machine (maxTickMs says what it was). Alongside, it
 * times every frame presented on the remote camera tiles (requestVideoFrameCallback): the gap the
 * user sees as a frozen picture, to the frame.
 */
export async function startGapSampler(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __gap?: GapState };
    w.__gap?.stop();
    const last = new Map<string, { trackId: string; frames: number; at: number }>();
    const presented = { max: 0, maxPeer: '', maxEndedAt: 0 };
    let stopped = false;
    const state: GapState = {
      max: 0,
      maxPeer: '',
      maxEndedAt: 0,
      maxTickMs: 0,
      maxStatsMs: 0,
      presented,
      stop: () => {
        stopped = true;
        clearInterval(timer);
      },
    };
    // Presented frames, timed by the compositor (metadata.presentationTime), so a busy main thread
    // that runs the callback late does not count as a gap; when the callback missed frames
    // (presentedFrames moved by k > 1), the interval is shared between them. Per peer, across
    // elements and tracks: the interval from the old path's last frame to the new path's first counts.
    const lastByPeer = new Map<string, number>();
    const lastByVideo = new WeakMap<HTMLVideoElement, { at: number; count: number }>();
    const watched = new WeakSet<HTMLVideoElement>();
    const watchTiles = () => {
      for (const tile of document.querySelectorAll<HTMLElement>(
        '.tile[data-source="camera"][data-local="false"]',
      )) {
        const peerId = tile.dataset.peerId;
        if (!peerId) continue;
        // Every <video> of the tile: the demo plays a replacing track in a second element first.
        for (const video of tile.querySelectorAll('video')) {
          if (watched.has(video)) continue;
          watched.add(video);
          const onFrame = (_now: number, meta: VideoFrameCallbackMetadata) => {
            if (stopped) return;
            const t = meta.presentationTime;
            const peerAt = lastByPeer.get(peerId);
            const own = lastByVideo.get(video);
            if (peerAt !== undefined) {
              let gap = t - peerAt;
              if (own && meta.presentedFrames > own.count) {
                gap = Math.min(gap, (t - own.at) / (meta.presentedFrames - own.count));
              }
              if (gap > presented.max) {
                presented.max = gap;
                presented.maxPeer = peerId;
                presented.maxEndedAt = Date.now();
              }
            }
            lastByPeer.set(peerId, Math.max(t, peerAt ?? 0));
            lastByVideo.set(video, { at: t, count: meta.presentedFrames });
            video.requestVideoFrameCallback(onFrame);
          };
          video.requestVideoFrameCallback(onFrame);
        }
      }
    };
    let busy = false;
    let lastTick = 0;
    const timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        watchTiles();
        const now = performance.now();
        if (lastTick > 0) state.maxTickMs = Math.max(state.maxTickMs, now - lastTick);
        lastTick = now;
        const stats = await window.opencall.getStats();
        state.maxStatsMs = Math.max(state.maxStatsMs, performance.now() - now);
        for (const s of stats) {
          if (!s.active || s.kind !== 'video' || s.source !== 'camera') continue;
          const prev = last.get(s.peerId);
          const advanced = prev
            ? s.trackId !== prev.trackId
              ? s.framesDecoded > 0
              : s.framesDecoded > prev.frames
            : s.framesDecoded > 0;
          if (advanced) {
            if (prev && now - prev.at > state.max) {
              state.max = now - prev.at;
              state.maxPeer = s.peerId;
              state.maxEndedAt = Date.now();
            }
            last.set(s.peerId, { trackId: s.trackId, frames: s.framesDecoded, at: now });
          } else if (prev && s.trackId !== prev.trackId) {
            // A new track that has not decoded yet: the gap keeps running from the old one's last frame.
            last.set(s.peerId, { trackId: s.trackId, frames: 0, at: prev.at });
          }
        }
      } finally {
        busy = false;
      }
    }, 100);
    w.__gap = state;
  });
}

/**
 * An init script: records the type of every signaling message the page sends, in order
 * (window.__sentTypes), to check which requests a flow made.
 */
export function recordSentTypes(): void {
  const sent: string[] = [];
  (window as unknown as { __sentTypes: string[] }).__sentTypes = sent;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (this: WebSocket, data) {
    if (typeof data === 'string') {
      try {
        sent.push(String((JSON.parse(data) as { type?: unknown }).type));
      } catch {
        // not JSON
      }
    }
    send.call(this, data);
  };
}

/** What recordSentTypes recorded. */
export function sentTypes(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __sentTypes?: string[] }).__sentTypes ?? []);
}

/** Stops the sampler: the longest gaps, whose camera, and when the frame that ended them came. */
export async function stopGapSampler(page: Page): Promise<GapResult> {
  return page.evaluate(() => {
    const w = window as unknown as { __gap?: GapState };
    w.__gap?.stop();
    const presented = w.__gap?.presented ?? { max: 0, maxPeer: '', maxEndedAt: 0 };
    return {
      max: Math.round(w.__gap?.max ?? 0),
      maxPeer: w.__gap?.maxPeer ?? '',
      maxEndedAt: w.__gap?.maxEndedAt ?? 0,
      maxTickMs: Math.round(w.__gap?.maxTickMs ?? 0),
      maxStatsMs: Math.round(w.__gap?.maxStatsMs ?? 0),
      presented: { ...presented, max: Math.round(presented.max) },
    };
  });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(artifactsDir, `${name}.png`) });
}
