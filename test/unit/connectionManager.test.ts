import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import type { OutgoingMessage } from '../../src/protocol/index.ts';
import type { RoomRecord } from '../../src/rooms/RoomTypes.ts';
import { ConnectionManager } from '../../src/sfu/ConnectionManager.ts';
import type { JoinEffects, RoomMessenger } from '../../src/sfu/ConnectionManagerTypes.ts';
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
  /** Peers whose transports the fake reports connected; every peer unless a test says otherwise. */
  unconnected = new Set<string>();
  /** Peers with a transport that reached ICE connected (none unless a test says so). */
  reachable = new Set<string>();
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
  peerMediaConnected(peerId: string) {
    return !this.unconnected.has(peerId);
  }
  peerReachable(peerId: string) {
    return this.reachable.has(peerId);
  }
  unconnectedTransports(peerId: string) {
    return this.unconnected.has(peerId) ? [`t-${peerId}`] : [];
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
  let effects: JoinEffects | undefined;

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
  /** A join as the signaling layer does it: room-joined, toJoiner, toOthers, peer-joined. */
  const join = async (peerId: string, record = room()) => {
    count += 1;
    effects = await cm.peerJoining(record, peerId, count);
    for (const message of effects.toJoiner) messenger.sendTo(record.roomId, peerId, message);
    for (const message of effects.toOthers) messenger.broadcast(record.roomId, message, peerId);
  };
  const leave = (peerId: string, roomId = 'r') => {
    count -= 1;
    cm.peerLeft(roomId, peerId, count);
  };
  const ready = (peerId: string, type: 'sfu-ready' | 'p2p-ready' = 'sfu-ready', roomId = 'r') =>
    cm.handle(roomId, peerId, { type });
  /** Lets the room's serialized transitions run (they hop through promises). */
  const settle = () => vi.advanceTimersByTimeAsync(0);
  const errors = () =>
    messenger.sent.flatMap((s) => (s.message.type === 'error' ? [{ to: s.to, ...s.message }] : []));

  beforeEach(() => {
    vi.useFakeTimers();
    messenger = new RecordingMessenger();
    rooms = [];
    failCreate = undefined;
    count = 0;
    effects = undefined;
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

  it('upgrades at the fourth peer, make-before-break, and returns the announcement instead of sending it', async () => {
    for (const p of ['a', 'b', 'c']) await join(p);
    count += 1;
    const joined = await cm.peerJoining(room(), 'd', count);
    // Nothing is sent behind the caller's back: the join's effects say what to send, in order.
    expect(messenger.sent).toEqual([]);
    expect(joined).toMatchObject({
      mode: 'upgrading',
      roomMode: 'auto',
      routerRtpCapabilities: { codecs: [] },
      toJoiner: [],
      toOthers: [
        expect.objectContaining({
          type: 'mode-changed',
          mode: 'upgrading',
          previousMode: 'p2p',
          routerRtpCapabilities: { codecs: [] },
        }),
      ],
    });
    for (const p of ['a', 'b', 'c']) await ready(p);
    expect(cm.modeOf('r')).toBe('upgrading');
    await ready('d');
    expect(cm.modeOf('r')).toBe('sfu');
    expect(messenger.modes()).toEqual(['sfu']);
  });

  it('does not commit on a ready claim until the server sees that peer connected to the SFU', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    rooms[0]!.unconnected.add('b');
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    expect(cm.modeOf('r')).toBe('upgrading');
    rooms[0]!.unconnected.delete('b');
    rooms[0]!.emit('transportconnected', { peerId: 'b', transportId: 't-b', direction: 'recv' });
    expect(cm.modeOf('r')).toBe('sfu');
  });

  it('aborts an upgrade that carries no media by SFU_SWITCH_TIMEOUT_MS: P2P stays, SFU_UNREACHABLE, backoff', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    await ready('a');
    messenger.clear();
    await vi.advanceTimersByTimeAsync(9999);
    expect(cm.modeOf('r')).toBe('upgrading');
    await vi.advanceTimersByTimeAsync(1);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(rooms[0]?.closed).toBe(true);
    expect(messenger.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: 'mode-changed', mode: 'p2p', previousMode: 'upgrading' }),
      expect.objectContaining({ type: 'error', code: 'SFU_UNREACHABLE' }),
    ]);
    expect(errors()[0]?.error).toMatch(/3 of 4 peers got no media through the SFU.*next try in 30 s/);
    expect(cm.status().clientReachability).toMatchObject({ failed: 0 });

    // A join during the backoff does not try again.
    await join('e');
    expect(cm.modeOf('r')).toBe('p2p');
    expect(rooms).toHaveLength(1);
    // After 30 s it does, by itself; a second abort doubles the wait twice over (2 min).
    await vi.advanceTimersByTimeAsync(30_000);
    expect(cm.modeOf('r')).toBe('upgrading');
    expect(rooms).toHaveLength(2);
    messenger.clear();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(errors()[0]?.error).toMatch(/next try in 120 s/);
    await vi.advanceTimersByTimeAsync(119_000);
    expect(rooms).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(rooms).toHaveLength(3);
    // A switch that completes resets the backoff.
    for (const p of ['a', 'b', 'c', 'd', 'e']) await ready(p);
    expect(cm.modeOf('r')).toBe('sfu');
  });

  it('gives a slow switch whose every waiting peer reaches the SFU one more timeout, then aborts', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    await ready('a');
    for (const p of ['b', 'c', 'd']) rooms[0]!.reachable.add(p);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cm.modeOf('r')).toBe('upgrading');
    await ready('b');
    await vi.advanceTimersByTimeAsync(9_999);
    expect(cm.modeOf('r')).toBe('upgrading');
    await vi.advanceTimersByTimeAsync(1);
    expect(cm.modeOf('r')).toBe('p2p');
    expect(errors()[0]?.error).toMatch(/2 of 4 peers/);
  });

  it('counts the transports of peers that never connected as reachability failures', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    rooms[0]!.unconnected.add('c');
    rooms[0]!.emit('transportconnected', { peerId: 'a', transportId: 't-a', direction: 'send' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cm.status().clientReachability).toMatchObject({ connected: 1, failed: 1 });
  });

  it('aborts at once when a client reports its SFU transport failed', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    messenger.clear();
    await cm.handle('r', 'c', { type: 'sfu-transport-failed', transportId: 'tc', reason: 'ice-failed' });
    await settle();
    expect(cm.modeOf('r')).toBe('p2p');
    expect(errors()).toEqual([
      expect.objectContaining({
        to: 'all',
        code: 'SFU_UNREACHABLE',
        error: expect.stringMatching(/peer c: ice-failed/),
      }),
    ]);
    expect(cm.status().clientReachability).toMatchObject({
      failed: 1,
      lastFailure: { reason: expect.stringMatching(/ice-failed/) },
    });
  });

  it('never falls back in a forced sfu room: SFU_UNREACHABLE goes to the peer that cannot reach it', async () => {
    await join('a', room('sfu'));
    await join('b', room('sfu'));
    expect(cm.modeOf('r')).toBe('sfu');
    messenger.clear();
    await cm.handle('r', 'b', { type: 'sfu-transport-failed', reason: 'ice-failed' });
    await settle();
    expect(cm.modeOf('r')).toBe('sfu');
    expect(errors()).toEqual([expect.objectContaining({ to: 'b', code: 'SFU_UNREACHABLE' })]);
    expect(messenger.modes()).toEqual([]);
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

  it('aborts a downgrade whose P2P does not flow by the timeout: the room stays on the SFU', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    leave('d');
    leave('c');
    vi.advanceTimersByTime(5000);
    expect(cm.modeOf('r')).toBe('downgrading');
    await ready('a', 'p2p-ready');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cm.modeOf('r')).toBe('sfu');
    expect(rooms[0]?.closed).toBe(false);
    expect(messenger.sent.at(-1)?.message).toMatchObject({
      type: 'mode-changed',
      mode: 'sfu',
      previousMode: 'downgrading',
      reason: expect.stringMatching(/peer-to-peer unreachable/),
    });
    // The next downgrade waits out the backoff (30 s), not just the 5 s delay.
    await vi.advanceTimersByTimeAsync(29_000);
    expect(cm.modeOf('r')).toBe('sfu');
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cm.modeOf('r')).toBe('downgrading');
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
    expect(effects?.roomMode).toBe('sfu');
    vi.advanceTimersByTime(60_000);
    expect(cm.modeOf('r')).toBe('sfu');
    count = 0;
    for (const p of ['a', 'b', 'c', 'd', 'e']) await join(p, room('p2p', 'p'));
    expect(cm.modeOf('p')).toBe('p2p');
    expect(rooms).toHaveLength(1);
  });

  it('tells every peer SFU_UNAVAILABLE and stays P2P when no router can be had', async () => {
    failCreate = new Error('no media worker is running');
    for (const p of ['a', 'b', 'c']) await join(p);
    count += 1;
    const joined = await cm.peerJoining(room(), 'd', count);
    expect(cm.modeOf('r')).toBe('p2p');
    const unavailable = expect.objectContaining({ type: 'error', code: 'SFU_UNAVAILABLE' });
    expect(joined.toJoiner).toEqual([unavailable]);
    expect(joined.toOthers).toEqual([unavailable]);
  });

  it('keeps a forced sfu room off P2P when no router can be had, and builds one when a worker comes', async () => {
    failCreate = new Error('no media worker is running');
    await join('a', room('sfu'));
    expect(effects).toMatchObject({
      mode: 'sfu',
      toJoiner: [expect.objectContaining({ code: 'SFU_UNAVAILABLE' })],
    });
    await expect(cm.handle('r', 'a', { type: 'sfu-join', rtpCapabilities: {} })).rejects.toMatchObject({
      code: 'SFU_NOT_ACTIVE',
    });
  });

  it('rebuilds the room on a new router when its worker dies, and tells peers sfu-restart', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    messenger.clear();
    rooms[0]?.emit('close', 'worker-closed');
    await settle();
    expect(cm.modeOf('r')).toBe('sfu');
    expect(rooms).toHaveLength(2);
    expect(cm.sfuRoomOf('r')).toBe(rooms[1]);
    expect(messenger.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: 'sfu-restart', roomId: 'r', routerRtpCapabilities: { codecs: [] } }),
    ]);
    expect(messenger.modes()).toEqual([]);
  });

  it('falls back to P2P with SFU_WORKER_DIED only when no router can be had at all', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    messenger.clear();
    failCreate = new Error('no media worker is running');
    rooms[0]?.emit('close', 'worker-closed');
    await settle();
    expect(cm.modeOf('r')).toBe('p2p');
    expect(messenger.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: 'error', code: 'SFU_WORKER_DIED' }),
      expect.objectContaining({ type: 'mode-changed', mode: 'p2p', previousMode: 'sfu' }),
    ]);
    await expect(
      cm.handle('r', 'a', { type: 'sfu-create-transport', direction: 'send' }),
    ).rejects.toMatchObject({ code: 'SFU_NOT_ACTIVE' });
  });

  it('keeps a forced sfu room in sfu mode when its worker dies and none can run', async () => {
    await join('a', room('sfu'));
    await join('b', room('sfu'));
    messenger.clear();
    failCreate = new Error('no media worker is running');
    rooms[0]?.emit('close', 'worker-closed');
    await settle();
    expect(cm.modeOf('r')).toBe('sfu');
    expect(messenger.sent.map((s) => s.message)).toEqual([
      expect.objectContaining({ type: 'error', code: 'SFU_UNAVAILABLE' }),
    ]);
  });

  it('stays on the mesh when the worker dies during an upgrade, and tries again', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    messenger.clear();
    rooms[0]?.emit('close', 'worker-closed');
    expect(cm.modeOf('r')).toBe('p2p');
    expect(messenger.modes()).toEqual(['p2p']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(cm.modeOf('r')).toBe('upgrading');
    expect(rooms).toHaveLength(2);
  });

  it('ignores workers that exit once a shutdown began', async () => {
    for (const p of ['a', 'b', 'c', 'd']) await join(p);
    for (const p of ['a', 'b', 'c', 'd']) await ready(p);
    messenger.clear();
    cm.beginShutdown();
    rooms[0]?.emit('close', 'worker-closed');
    await settle();
    expect(messenger.sent).toEqual([]);
    expect(rooms).toHaveLength(1);
  });

  it('refuses SFU requests in a P2P room', async () => {
    await join('a');
    await expect(cm.handle('r', 'a', { type: 'sfu-join', rtpCapabilities: {} })).rejects.toMatchObject({
      code: 'SFU_NOT_ACTIVE',
    });
  });
});
