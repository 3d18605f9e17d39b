import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ACTIVE_SPEAKER_MIN_INTERVAL_MS, ActiveSpeaker } from '../../src/sfu/ActiveSpeaker.ts';

/** The announcement rules of a room's active speaker, on a fake clock. */
describe('ActiveSpeaker', () => {
  let now = 0;
  let announced: Array<{ peerId: string; at: number }>;
  let speaker: ActiveSpeaker;
  beforeEach(() => {
    vi.useFakeTimers();
    now = 1_000_000;
    announced = [];
    speaker = new ActiveSpeaker(
      (peerId) => announced.push({ peerId, at: now }),
      () => now,
    );
  });
  afterEach(() => {
    speaker.close();
    vi.useRealTimers();
  });
  const advance = (ms: number) => {
    now += ms;
    vi.advanceTimersByTime(ms);
  };

  it('announces a change at once, then at most every 500 ms, with the latest speaker', () => {
    speaker.set('a');
    expect(announced).toEqual([{ peerId: 'a', at: 1_000_000 }]);
    advance(100);
    speaker.set('b');
    advance(100);
    speaker.set('c');
    expect(announced).toHaveLength(1);
    advance(ACTIVE_SPEAKER_MIN_INTERVAL_MS);
    expect(announced.map((x) => x.peerId)).toEqual(['a', 'c']);
    expect((announced[1]?.at ?? 0) - (announced[0]?.at ?? 0)).toBeGreaterThanOrEqual(
      ACTIVE_SPEAKER_MIN_INTERVAL_MS,
    );
  });

  it('drops a change that is undone within the interval, and repeats nothing', () => {
    speaker.set('a');
    advance(50);
    speaker.set('b');
    advance(50);
    speaker.set('a');
    advance(1_000);
    speaker.set('a');
    expect(announced.map((x) => x.peerId)).toEqual(['a']);
  });

  it('in P2P picks the loudest fresh report above the speech threshold; silence keeps the last', () => {
    speaker.report('a', 0.3);
    speaker.report('b', 0.6);
    advance(600);
    expect(announced.map((x) => x.peerId)).toEqual(['a', 'b']);
    // b falls below the threshold, a goes on: a takes over. Stale reports stop counting.
    speaker.report('b', 0.01);
    speaker.report('a', 0.2);
    advance(600);
    expect(speaker.current).toBe('a');
    advance(2_000);
    speaker.report('c', 0.015);
    advance(600);
    expect(speaker.current).toBe('a');
    expect(announced.map((x) => x.peerId)).toEqual(['a', 'b', 'a']);
  });

  it('forgets a peer that left, even one waiting to be announced', () => {
    speaker.set('a');
    speaker.set('b');
    speaker.remove('b');
    advance(1_000);
    expect(announced.map((x) => x.peerId)).toEqual(['a']);
  });
});
