import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { exposedGc, MemoryReclaimer } from '../../src/signaling/MemoryReclaimer.ts';

/** A reclaimer on a fake clock and timers, with a recording gc and a captured log. */
function setup(stormConnections = 5, gcPresent = true) {
  vi.useFakeTimers();
  let now = 0;
  const gc = vi.fn();
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) });
  let rss = 300 * 1048576;
  gc.mockImplementation(() => {
    rss = 200 * 1048576;
  });
  const reclaimer = new MemoryReclaimer({
    stormConnections,
    quietMs: 2000,
    gc: gcPresent ? gc : undefined,
    logger,
    rss: () => rss,
    now: () => now,
  });
  /** Moves the clock and runs the timers due. */
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };
  return { reclaimer, gc, lines, advance };
}

describe('MemoryReclaimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once a storm has been quiet for quietMs, never during it', () => {
    const { reclaimer, gc, lines, advance } = setup();
    // A storm of 12 connections, one every 500 ms: past the threshold after the 5th, still going.
    for (let i = 0; i < 12; i++) {
      reclaimer.connectionOpened();
      advance(500);
    }
    expect(gc).not.toHaveBeenCalled();
    advance(1499); // 1 999 ms since the last connection
    expect(gc).not.toHaveBeenCalled();
    advance(1);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(gc).toHaveBeenCalledWith({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const line = lines.find((l) => l.msg === 'connection storm over: memory reclaimed');
    expect(line).toMatchObject({ connections: 12, rssBeforeMB: 300, rssAfterMB: 200 });
    expect(line?.pauseMs).toEqual(expect.any(Number));
    // Nothing more until the next storm.
    advance(60_000);
    expect(gc).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 5; i++) reclaimer.connectionOpened();
    advance(2000);
    expect(gc).toHaveBeenCalledTimes(2);
    expect(lines.filter((l) => l.msg === 'connection storm over: memory reclaimed').at(-1)).toMatchObject({
      connections: 5,
    });
  });

  it('leaves runs of connections below the threshold alone, however many there are in all', () => {
    const { reclaimer, gc, advance } = setup();
    for (let run = 0; run < 10; run++) {
      for (let i = 0; i < 4; i++) reclaimer.connectionOpened();
      advance(2000); // quiet: the run of 4 is over
    }
    advance(10_000);
    expect(gc).not.toHaveBeenCalled();
  });

  it('does nothing with the threshold at 0 or without an exposed gc', () => {
    const off = setup(0);
    expect(off.reclaimer.enabled).toBe(false);
    for (let i = 0; i < 100; i++) off.reclaimer.connectionOpened();
    off.advance(10_000);
    expect(off.gc).not.toHaveBeenCalled();
    vi.useRealTimers();
    const noGc = setup(5, false);
    expect(noGc.reclaimer.enabled).toBe(false);
    for (let i = 0; i < 100; i++) noGc.reclaimer.connectionOpened();
    noGc.advance(10_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() cancels a pending collection', () => {
    const { reclaimer, gc, advance } = setup();
    for (let i = 0; i < 5; i++) reclaimer.connectionOpened();
    reclaimer.close();
    advance(10_000);
    expect(gc).not.toHaveBeenCalled();
  });

  it('finds gc only when node exposes it', () => {
    const saved = (globalThis as { gc?: unknown }).gc;
    try {
      (globalThis as { gc?: unknown }).gc = undefined;
      expect(exposedGc()).toBeUndefined();
      const fake = () => {};
      (globalThis as { gc?: unknown }).gc = fake;
      expect(exposedGc()).toBe(fake);
    } finally {
      (globalThis as { gc?: unknown }).gc = saved;
    }
  });
});
