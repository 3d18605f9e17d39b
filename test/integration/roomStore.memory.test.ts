import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryRoomStore } from '../../src/rooms/index.ts';
import { describeRoomStoreContract, peerRecord, roomRecord } from './roomStore.contract.ts';

describeRoomStoreContract('memory', async ({ emptyTtlS }) => new MemoryRoomStore({ emptyTtlS }));

describe('MemoryRoomStore', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs one sweep timer, which close() clears', async () => {
    vi.useFakeTimers();
    const store = new MemoryRoomStore({ emptyTtlS: 1, sweepIntervalMs: 500 });
    expect(vi.getTimerCount()).toBe(1);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('computes expiry from timestamps, not from when it next looks (fake clock)', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    // No sweep during the test: only the lazy checks run.
    const store = new MemoryRoomStore({ emptyTtlS: 10, sweepIntervalMs: 3_600_000 });
    await store.createRoom(roomRecord('r'));
    await store.join('r', peerRecord('a'), { peerTtlMs: 5_000 });
    vi.advanceTimersByTime(4_999);
    expect((await store.getPeers('r')).length).toBe(1);
    // First look after the expiry: the room became empty at t = 5 s, so it lives until t = 15 s.
    vi.advanceTimersByTime(7_001);
    expect(await store.getPeers('r')).toEqual([]);
    expect(await store.getRoom('r')).not.toBeNull();
    vi.advanceTimersByTime(2_999);
    expect(await store.getRoom('r')).not.toBeNull();
    vi.advanceTimersByTime(1);
    expect(await store.getRoom('r')).toBeNull();
    await store.close();
  });

  it('rejects a non-positive emptyTtlS', () => {
    expect(() => new MemoryRoomStore({ emptyTtlS: 0 })).toThrow(RangeError);
  });
});
