import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import type { OutgoingMessage } from '../../src/protocol/index.ts';
import type { RoomRecord } from '../../src/rooms/RoomTypes.ts';
import { ConnectionManager } from '../../src/sfu/ConnectionManager.ts';
import type { RoomMessenger } from '../../src/sfu/ConnectionManagerTypes.ts';
import type { SfuRoomApi } from '../../src/sfu/SfuRoomTypes.ts';

/*
 * The mode state machine with a fake SFU room and a recording messenger; the real mediasoup path
 * is covered by test/integration/sfu.
 */

class FakeSfuRoom extends EventEmitter {
  closed = false;
  readonly rtpCapabilities = { codecs: [] };
  readonly removed: string[] = [];
  peerIds: string[] = [];
  readonly roomId: string;
  constructor(roomId: string) {
    super();
    this.roomId = roomId;
  }
  removePeer(peerId: string) {
    this.removed.push(peerId);
    return true;
  }
  getPeerProducers() {
    return [];
  }
  close() {
    this.closed = true;
  }
}

class RecordingMessenger implements RoomMessenger {
  readonly sent: Array<{ to: string | 'all'; except?: string; message: OutgoingMessage }> = [];
  sendTo(_roomId: string, peerId: string, message: OutgoingMessage) {
    this.sent.push({ to: peerId, message });
    return true;
  }
  broadcast(_roomId: string, message: OutgoingMessage, exceptPeerId?: string) {
    this.sent.push({ to: 'all', ...(exceptPeerId ? { except: exceptPeerId } : {}), message });
  }
  modes() {
    return this.sent
      .filter((s) => s.message.type === 'mode-changed')
      .map((s) => (s.message as { mode: string }).mode);
  }
  clear() {
    this.sent.length = 0;
  }
}

const room = (mode: RoomRecord['mode'] = 'auto', roomId = 'r'): RoomRecord => ({
  roomId,
  hostPeerId: null,
  maxParticipants: 50,
  encryption: 'none',
  mode,
  createdAt: new Date(0).toISOString(),
});

describe('ConnectionManager', () => {
  let messenger: RecordingMessenger;
  let rooms: FakeSfuRoom[];
  let failCreate: Error | undefined;
  let cm: ConnectionManager;
  let count: number;

  const setup = (env: Record<string, string> = {}) => {
    const config = loadConfig({ SFU_DOWNGRADE_DELAY_MS: '5000', SFU_SWITCH_TIMEOUT_MS: '10000', ...env });
    cm = new ConnectionManager({
      sfuConfig: config.sfu,
      pool: undefined,
      messenger,
      logger: createLogger('silent'),
      createSfuRoom: async (roomId) => {
        if (failCreate) throw failCreate;
        const r = new FakeSfuRoom(roomId);
        rooms.push(r);
        return r as unknown as SfuRoomApi;
      },
    });
  };
  const join = async (peerId: string, record = room()) => {
    count += 1;
    await cm.peerJoining(record, peerId, count);
    cm.peerJoined(record, peerId, count);
  };
  const leave = (peerId: string, roomId = 'r') => {
    count -= 1;
    cm.peerLeft(roomId, peerId, count);
  };
  const ready = (peerId: string, type: 'sfu-ready' | 'p2p-ready' = 'sfu-ready') =>
    cm.handle('r', peerId, { type });

  beforeEach(() => {
    vi.useFakeTimers();
    messenger = new RecordingMessenger();
    rooms = [];
    failCreate = undefined;
    count = 0;
    setup();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps three peers P2P and creates no router', async () => {
    for (const p of ['a', 'b', 'c']) await join(p);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(rooms).toHaveLength(0);
    expect(messenger.modes()).toEqual([]);
  });

  it('upgrades at the fourth peer, make-before-break', async () => {
    for (const p of ['a', 'b', 'c']) await join(p);
    count += 1;
    await cm.peerJoining(room(), 'd', count);
    // The joiner reads the mode from room-joined, before anyone else is told.
    expect(cm.modeOf('r')).toBe('upgrading');
    expect(cm.routerRtpCapabilities('r')).toEqual({ codecs: [] });
    expect(messenger.sent).toEqual([]);
    cm.peerJoined(room(), 'd', count);
    expect(messenger.sent).toEqual([
      {
        to: 'all',
        except: 'd',
        message: expect.objectContaining({
          type: 'mode-changed',
          mode: 'upgrading',
          previousMode: 'p2p',
          routerRtpCapabilities: { codecs: [] },
        }),
      },
    ]);
    for (const p of ['a', 'b', 'c']) await ready(p);
    expect(cm.modeOf('r')).toBe('upgrading');
    await ready('d');
    expect(cm.modeOf('r')).toBe('sfu');
    expect(messenger.modes()).toEqual(['upgrading', 'sfu']);
  });

  it('completes a stuck switch after SFU_SWITCH_TIMEOUT_MS', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    await ready('a');
    vi.advanceTimersByTime(9999);
    expect(cm.modeOf('r')).toBe('upgrading');
    vi.advanceTimersByTime(1);
    expect(cm.modeOf('r')).toBe('sfu');
    expect(messenger.sent.at(-1)?.message).toMatchObject({ mode: 'sfu', reason: 'switch timeout' });
  });

  it('goes back to P2P only after staying at or below SFU_DOWNGRADE_AT for the delay', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    leave('d');
    leave('c');
    vi.advanceTimersByTime(4000);
    // A reload: someone comes back before the delay is over; no flapping.
    await join('c');
    vi.advanceTimersByTime(10_000);
    expect(cm.modeOf('r')).toBe('sfu');
    leave('c');
    vi.advanceTimersByTime(4999);
    expect(cm.modeOf('r')).toBe('sfu');
    vi.advanceTimersByTime(1);
    expect(cm.modeOf('r')).toBe('downgrading');
    expect(rooms[0]?.closed).toBe(false);
    await ready('a', 'p2p-ready');
    expect(cm.modeOf('r')).toBe('downgrading');
    await ready('b', 'p2p-ready');
    expect(cm.modeOf('r')).toBe('p2p');
    expect(rooms[0]?.closed).toBe(true);
    expect(messenger.modes()).toEqual(['upgrading', 'sfu', 'downgrading', 'p2p']);
  });

  it('stays on the SFU when the room grows during a downgrade', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    leave('d');
    leave('c');
    vi.advanceTimersByTime(5000);
    expect(cm.modeOf('r')).toBe('downgrading');
    await join('e');
    expect(cm.modeOf('r')).toBe('sfu');
    expect(rooms[0]?.closed).toBe(false);
    expect(messenger.sent.at(-1)).toMatchObject({
      except: 'e',
      message: { mode: 'sfu', previousMode: 'downgrading' },
    });
  });

  it('removes a leaving peer from the SFU and lets the switch finish without it', async () => {
    for (const p of ['a', 'b', 'c', 'd', 'e']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    leave('e');
    expect(rooms[0]?.removed).toEqual(['e']);
    expect(cm.modeOf('r')).toBe('sfu');
  });

  it('closes the router when the last peer leaves', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) leave(p);
    expect(rooms[0]?.closed).toBe(true);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(cm.status().routers).toBe(0);
  });

  it('honours forced modes', async () => {
    await join('a', room('sfu'));
    expect(cm.modeOf('r')).toBe('sfu');
    vi.advanceTimersByTime(60_000);
    expect(cm.modeOf('r')).toBe('sfu');
    count = 0;
    for (const p of ['a', 'b', 'c', 'd', 'e']) await join(p, room('p2p', 'p'));
    expect(cm.modeOf('p')).toBe('p2p');
    expect(rooms).toHaveLength(1);
  });

  it('tells every peer SFU_UNAVAILABLE and stays P2P when no router can be had', async () => {
    failCreate = new Error('no media worker is running');
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(messenger.sent).toEqual([
      { to: 'all', message: expect.objectContaining({ type: 'error', code: 'SFU_UNAVAILABLE' }) },
    ]);
  });

  it('falls back to P2P with SFU_WORKER_DIED when the router dies', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    messenger.clear();
    rooms[0]?.emit('close', 'worker-closed');
    expect(cm.modeOf('r')).toBe('p2p');
    expect(messenger.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: 'error', code: 'SFU_WORKER_DIED' }),
      expect.objectContaining({ type: 'mode-changed', mode: 'p2p', previousMode: 'sfu' }),
    ]);
    await expect(
      cm.handle('r', 'a', { type: 'sfu-create-transport', direction: 'send' }),
    ).rejects.toMatchObject({ code: 'SFU_NOT_ACTIVE' });
  });

  it('refuses SFU requests in a P2P room', async () => {
    await join('a');
    await expect(cm.handle('r', 'a', { type: 'sfu-join', rtpCapabilities: {} })).rejects.toMatchObject({
      code: 'SFU_NOT_ACTIVE',
    });
  });
});
