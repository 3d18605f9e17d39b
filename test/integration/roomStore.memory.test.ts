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

  it('computes expiry from timestamps (fake clock)', async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const store = new MemoryRoomStore({ emptyTtlS: 10, sweepIntervalMs: 1_000 });
    await store.createRoom(roomRecord('r'));
    await store.join('r', peerRecord('a'), { peerTtlMs: 5_000 });
    vi.advanceTimersByTime(4_999);
    expect((await store.getPeers('r')).length).toBe(1);
    vi.advanceTimersByTime(1);
    expect(await store.getPeers('r')).toEqual([]);
    // Empty since the peer expired (t = 5 s), so the room lives until t = 15 s, not 10 s after now.
    vi.advanceTimersByTime(9_999);
    expect(await store.getRoom('r')).not.toBeNull();
    vi.advanceTimersByTime(1);
    expect(await store.getRoom('r')).toBeNull();
    await store.close();
  });

  it('rejects a non-positive emptyTtlS', () => {
    expect(() => new MemoryRoomStore({ emptyTtlS: 0 })).toThrow(RangeError);
  });
});
