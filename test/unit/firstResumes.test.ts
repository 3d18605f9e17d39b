import type { types as ms } from 'mediasoup';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FIRST_RESUME_HOLD_MS, FirstResumes } from '../../src/sfu/FirstResumes.ts';

interface FakeConsumer {
  id: string;
  producerId: string;
  kind: 'audio' | 'video';
  closed: boolean;
}

/** FirstResumes over fake consumers: which were started, in what order, when. */
function setup() {
  const consumers: FakeConsumer[] = [];
  const started: string[] = [];
  const failing = new Set<string>();
  const first = new FirstResumes({
    anyOpenConsumer: (producerId, test) =>
      consumers.some((c) => c.producerId === producerId && !c.closed && test(c as unknown as ms.Consumer)),
    start: async (consumer) => {
      started.push(consumer.id);
      if (failing.has(consumer.id)) throw new Error(`cannot resume ${consumer.id}`);
    },
  });
  const make = (id: string, producerId = 'cam', kind: 'audio' | 'video' = 'video') => {
    const c: FakeConsumer = { id, producerId, kind, closed: false };
    consumers.push(c);
    first.created(c as unknown as ms.Consumer);
    return c as unknown as ms.Consumer;
  };
  return { first, make, started, failing };
}

describe('FirstResumes', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('holds the first resumes of one producer until its last new consumer resumes, then starts them together', async () => {
    const { first, make, started } = setup();
    const [a, b, c] = [make('a'), make('b'), make('c')];
    const done: string[] = [];
    const ra = first.resume(a).then(() => done.push('a'));
    await vi.advanceTimersByTimeAsync(100);
    const rb = first.resume(b).then(() => done.push('b'));
    await vi.advanceTimersByTimeAsync(100);
    expect(started).toEqual([]);
    expect(done).toEqual([]);
    const rc = first.resume(c).then(() => done.push('c'));
    await Promise.all([ra, rb, rc]);
    expect(started).toEqual(['a', 'b', 'c']);
    expect(done.sort()).toEqual(['a', 'b', 'c']);
  });

  it('waits at most FIRST_RESUME_HOLD_MS for a consumer that is never resumed', async () => {
    const { first, make, started } = setup();
    const a = make('a');
    make('never');
    let resolved = false;
    const ra = first.resume(a).then(() => {
      resolved = true;
    });
    await vi.advanceTimersByTimeAsync(FIRST_RESUME_HOLD_MS - 1);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await ra;
    expect(started).toEqual(['a']);
  });

  it('starts at once when no other new consumer of the producer is pending: alone, closed, other producer, audio', async () => {
    const { first, make, started } = setup();
    const alone = make('alone', 'cam-1');
    await first.resume(alone);
    const x = make('x', 'cam-2');
    (make('gone', 'cam-2') as unknown as FakeConsumer).closed = true;
    make('elsewhere', 'cam-3');
    make('mic', 'cam-2', 'audio');
    await first.resume(x);
    expect(started).toEqual(['alone', 'x']);
  });

  it('is for the first resume of a video consumer only', () => {
    const { first, make } = setup();
    const video = make('v');
    const audio = make('m', 'mic', 'audio');
    expect(first.isFirst(video)).toBe(true);
    expect(first.isFirst(audio)).toBe(false);
    void first.resume(video);
    expect(first.isFirst(video)).toBe(false);
  });

  it('a failed start fails only its own resume', async () => {
    const { first, make, failing } = setup();
    const [a, b] = [make('a'), make('b')];
    failing.add('a');
    const ra = first.resume(a);
    const rb = first.resume(b);
    await expect(ra).rejects.toThrow('cannot resume a');
    await expect(rb).resolves.toBeUndefined();
  });

  it('close() starts what is held instead of leaving it waiting', async () => {
    const { first, make, started } = setup();
    const a = make('a');
    make('b');
    const ra = first.resume(a);
    first.close();
    await ra;
    expect(started).toEqual(['a']);
  });
});
