import { afterEach, describe, expect, it } from 'vitest';
import type { PeerRecord, RoomRecord, RoomStore } from '../../src/rooms/index.ts';

/** Builds a fresh, empty store. emptyTtlS is chosen by the contract (1 s, so expiry is observable). */
export type RoomStoreFactory = (options: { emptyTtlS: number }) => Promise<RoomStore>;

export const EMPTY_TTL_S = 1;
const LONG_TTL_MS = 30_000;
const SHORT_TTL_MS = 150;
/** Timers and Redis expiry are precise to a few ms; allow that much early expiry. */
const CLOCK_SLACK_MS = 50;

export function roomRecord(roomId: string, overrides: Partial<RoomRecord> = {}): RoomRecord {
  return {
    roomId,
    hostPeerId: null,
    maxParticipants: 8,
    encryption: 'none',
    mode: 'auto',
    createdAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function peerRecord(peerId: string, overrides: Partial<PeerRecord> = {}): PeerRecord {
  return {
    peerId,
    displayName: `Peer ${peerId}`,
    mediaState: { audio: true, video: false, screen: false },
    joinedAt: '2025-01-01T00:00:01.000Z',
    serverId: 'server-a',
    ...overrides,
  };
}

const ids = (peers: PeerRecord[]) => peers.map((p) => p.peerId);

/** Polls `check` until it returns true or timeoutMs passes; returns how long it took. */
async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 20): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Registers the RoomStore contract: every implementation must pass all of it. */
export function describeRoomStoreContract(name: string, factory: RoomStoreFactory): void {
  describe(`RoomStore contract: ${name}`, () => {
    const open: RoomStore[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    async function makeStore(): Promise<RoomStore> {
      const store = await factory({ emptyTtlS: EMPTY_TTL_S });
      open.push(store);
      return store;
    }

    describe('rooms', () => {
      it('creates, reads, lists and deletes rooms', async () => {
        const store = await makeStore();
        expect(await store.getRoom('r1')).toBeNull();
        const r1 = roomRecord('r1', {
          hostPeerId: 'host',
          maxParticipants: 3,
          encryption: 'e2ee',
          mode: 'sfu',
        });
        expect(await store.createRoom(r1)).toBe(true);
        expect(await store.createRoom(roomRecord('r2'))).toBe(true);
        expect(await store.getRoom('r1')).toEqual(r1);

        await store.join('r2', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        await store.join('r2', peerRecord('b'), { peerTtlMs: LONG_TTL_MS });
        const list = await store.listRooms();
        expect(list.map((s) => [s.room.roomId, s.peerCount]).sort()).toEqual([
          ['r1', 0],
          ['r2', 2],
        ]);
        expect(list.find((s) => s.room.roomId === 'r1')?.room).toEqual(r1);

        expect(await store.deleteRoom('r1')).toBe(true);
        expect(await store.deleteRoom('r1')).toBe(false);
        expect(await store.deleteRoom('never-existed')).toBe(false);
        expect(await store.getRoom('r1')).toBeNull();
        expect((await store.listRooms()).map((s) => s.room.roomId)).toEqual(['r2']);
      });

      it('counts rooms and keeps access settings (lock, password hash, waiting room) with the room', async () => {
        const store = await makeStore();
        expect(await store.countRooms()).toBe(0);
        await store.createRoom(roomRecord('r1'));
        await store.createRoom(roomRecord('r2'));
        expect(await store.countRooms()).toBe(2);
        const access = { locked: true, passwordHash: 'scrypt:c2FsdA==:aGFzaA==', waitingRoom: true };
        const updated = await store.setRoomAccess('r1', access);
        expect(updated?.access).toEqual(access);
        expect((await store.getRoom('r1'))?.access).toEqual(access);
        // A join sees the same record, and the other room is untouched.
        const joined = await store.join('r1', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        expect(joined.ok && joined.room.access).toEqual(access);
        expect((await store.getRoom('r2'))?.access).toBeUndefined();
        expect(await store.setRoomAccess('missing', access)).toBeNull();
        expect(await store.getRoom('missing')).toBeNull();
      });

      it('keeps a meeting’s breakout rooms and a breakout room’s parent with the records', async () => {
        const store = await makeStore();
        await store.createRoom(
          roomRecord('main', { access: { locked: true, passwordHash: null, waitingRoom: false } }),
        );
        await store.createRoom(roomRecord('main.b1', { parentRoomId: 'main' }));
        const breakouts = [
          { roomId: 'main.b1', name: 'Red' },
          { roomId: 'main.b2', name: 'Blue' },
        ];
        expect(await store.setBreakouts('main', breakouts)).toMatchObject({ roomId: 'main', breakouts });
        expect(await store.getRoom('main')).toMatchObject({ breakouts, access: { locked: true } });
        expect((await store.getRoom('main.b1'))?.parentRoomId).toBe('main');
        const cleared = await store.setBreakouts('main', null);
        expect(cleared?.breakouts).toBeUndefined();
        expect((await store.getRoom('main'))?.breakouts).toBeUndefined();
        expect((await store.getRoom('main'))?.access?.locked).toBe(true);
        expect(await store.setBreakouts('nowhere', breakouts)).toBeNull();
      });

      it('keeps the last chat messages of a live room, oldest first, and drops them with it', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('c1'));
        const message = (n: number) => ({
          messageId: `m${n}`,
          roomId: 'c1',
          fromPeerId: 'a',
          displayName: 'A',
          text: `text ${n}`,
          sentAt: n,
        });
        for (let n = 1; n <= 5; n++) await store.appendChat('c1', message(n), 3);
        expect((await store.chatHistory('c1')).map((m) => m.messageId)).toEqual(['m3', 'm4', 'm5']);
        await store.appendChat('nowhere', message(9), 3);
        expect(await store.chatHistory('nowhere')).toEqual([]);
        await store.deleteRoom('c1');
        expect(await store.chatHistory('c1')).toEqual([]);
      });

      it('refuses to create a room whose id is taken, keeping the original', async () => {
        const store = await makeStore();
        const original = roomRecord('taken', { maxParticipants: 4 });
        expect(await store.createRoom(original)).toBe(true);
        expect(await store.createRoom(roomRecord('taken', { maxParticipants: 99, mode: 'p2p' }))).toBe(false);
        expect(await store.getRoom('taken')).toEqual(original);

        await store.join('auto', peerRecord('a'), { peerTtlMs: LONG_TTL_MS, createWith: roomRecord('auto') });
        expect(await store.createRoom(roomRecord('auto', { maxParticipants: 2 }))).toBe(false);
        expect((await store.getRoom('auto'))?.maxParticipants).toBe(8);
        expect(ids(await store.getPeers('auto'))).toEqual(['a']);
      });

      it('returns copies: mutating a result does not change the store', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('r'));
        await store.join('r', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        const room = await store.getRoom('r');
        if (!room) throw new Error('room missing');
        room.maxParticipants = 1;
        const [peer] = await store.getPeers('r');
        if (!peer) throw new Error('peer missing');
        peer.mediaState.video = true;
        expect((await store.getRoom('r'))?.maxParticipants).toBe(8);
        expect((await store.getPeers('r'))[0]?.mediaState.video).toBe(false);
      });

      it('rejects invalid records instead of storing them', async () => {
        const store = await makeStore();
        await expect(store.createRoom(roomRecord('bad id with spaces'))).rejects.toThrow();
        await expect(store.createRoom(roomRecord('r', { maxParticipants: 0 }))).rejects.toThrow();
        await store.createRoom(roomRecord('r'));
        await expect(store.join('r', peerRecord('bad/peer'), { peerTtlMs: LONG_TTL_MS })).rejects.toThrow();
        await expect(store.join('r', peerRecord('a'), { peerTtlMs: 0 })).rejects.toThrow();
        await expect(
          store.join('other', peerRecord('a'), {
            peerTtlMs: LONG_TTL_MS,
            createWith: roomRecord('not-other'),
          }),
        ).rejects.toThrow(/does not match/);
        expect(await store.getPeers('r')).toEqual([]);
        expect(await store.getRoom('other')).toBeNull();
      });

      it('answers ping', async () => {
        const store = await makeStore();
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('join and leave', () => {
      it('auto-creates the room with createWith, once', async () => {
        const store = await makeStore();
        const createWith = roomRecord('auto', { maxParticipants: 5, hostPeerId: 'a' });
        const first = await store.join('auto', peerRecord('a'), { peerTtlMs: LONG_TTL_MS, createWith });
        expect(first).toEqual({ ok: true, created: true, room: createWith, peers: [] });
        expect(await store.getRoom('auto')).toEqual(createWith);

        const second = await store.join('auto', peerRecord('b'), {
          peerTtlMs: LONG_TTL_MS,
          createWith: roomRecord('auto', { maxParticipants: 50 }),
        });
        expect(second).toEqual({ ok: true, created: false, room: createWith, peers: [peerRecord('a')] });
      });

      it('gives ROOM_NOT_FOUND without createWith, creating nothing', async () => {
        const store = await makeStore();
        expect(await store.join('nowhere', peerRecord('a'), { peerTtlMs: LONG_TTL_MS })).toEqual({
          ok: false,
          code: 'ROOM_NOT_FOUND',
        });
        expect(await store.getRoom('nowhere')).toBeNull();
        expect(await store.getPeers('nowhere')).toEqual([]);
        expect(await store.listRooms()).toEqual([]);
      });

      it('joins a room created beforehand, with created: false', async () => {
        const store = await makeStore();
        const room = roomRecord('pre');
        await store.createRoom(room);
        expect(await store.join('pre', peerRecord('a'), { peerTtlMs: LONG_TTL_MS })).toEqual({
          ok: true,
          created: false,
          room,
          peers: [],
        });
      });

      it('gives ROOM_FULL at maxParticipants', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('small', { maxParticipants: 2 }));
        for (const id of ['a', 'b']) {
          expect((await store.join('small', peerRecord(id), { peerTtlMs: LONG_TTL_MS })).ok).toBe(true);
        }
        expect(await store.join('small', peerRecord('c'), { peerTtlMs: LONG_TTL_MS })).toEqual({
          ok: false,
          code: 'ROOM_FULL',
        });
        expect(ids(await store.getPeers('small'))).toEqual(['a', 'b']);
        expect(await store.leave('small', 'a')).toBe(true);
        expect((await store.join('small', peerRecord('c'), { peerTtlMs: LONG_TTL_MS })).ok).toBe(true);
        expect(ids(await store.getPeers('small'))).toEqual(['b', 'c']);
      });

      it('gives DUPLICATE_PEER for a live peerId, leaving the first one untouched', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('dup'));
        await store.join('dup', peerRecord('a', { displayName: 'First' }), { peerTtlMs: LONG_TTL_MS });
        expect(
          await store.join('dup', peerRecord('a', { displayName: 'Second' }), { peerTtlMs: LONG_TTL_MS }),
        ).toEqual({ ok: false, code: 'DUPLICATE_PEER' });
        const peers = await store.getPeers('dup');
        expect(peers).toHaveLength(1);
        expect(peers[0]?.displayName).toBe('First');
        // The same peerId in another room is a different membership.
        expect(
          (
            await store.join('other', peerRecord('a'), {
              peerTtlMs: LONG_TTL_MS,
              createWith: roomRecord('other'),
            })
          ).ok,
        ).toBe(true);
      });

      it('returns the peers already there, in join order', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('order'));
        const joined: string[] = [];
        for (const id of ['zed', 'amy', 'mia', 'bob']) {
          const result = await store.join('order', peerRecord(id), { peerTtlMs: LONG_TTL_MS });
          if (!result.ok) throw new Error(result.code);
          expect(ids(result.peers)).toEqual(joined);
          joined.push(id);
        }
        expect(await store.getPeers('order')).toEqual(joined.map((id) => peerRecord(id)));

        // Leaving and re-joining moves a peer to the end.
        await store.leave('order', 'amy');
        const rejoin = await store.join('order', peerRecord('amy'), { peerTtlMs: LONG_TTL_MS });
        expect(rejoin.ok && ids(rejoin.peers)).toEqual(['zed', 'mia', 'bob']);
        expect(ids(await store.getPeers('order'))).toEqual(['zed', 'mia', 'bob', 'amy']);
      });

      it('leaves', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('l'));
        await store.createRoom(roomRecord('l2'));
        await store.join('l', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        await store.join('l', peerRecord('b'), { peerTtlMs: LONG_TTL_MS });
        await store.join('l2', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        expect(await store.leave('l', 'a')).toBe(true);
        expect(await store.leave('l', 'a')).toBe(false);
        expect(await store.leave('l', 'ghost')).toBe(false);
        expect(await store.leave('no-room', 'a')).toBe(false);
        expect(ids(await store.getPeers('l'))).toEqual(['b']);
        expect(ids(await store.getPeers('l2'))).toEqual(['a']);
        // Leaving does not delete the room, even when it becomes empty.
        expect(await store.leave('l', 'b')).toBe(true);
        expect(await store.getRoom('l')).not.toBeNull();
        expect((await store.listRooms()).find((s) => s.room.roomId === 'l')?.peerCount).toBe(0);
      });

      it('leaves only from the named server when asked (a dead node’s sweep)', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('n'));
        await store.join('n', peerRecord('a', { serverId: 'node-1' }), { peerTtlMs: LONG_TTL_MS });
        await store.join('n', peerRecord('b', { serverId: 'node-2' }), { peerTtlMs: LONG_TTL_MS });
        expect(await store.leave('n', 'a', 'node-2')).toBe(false);
        expect(ids(await store.getPeers('n'))).toEqual(['a', 'b']);
        expect(await store.leave('n', 'a', 'node-1')).toBe(true);
        expect(ids(await store.getPeers('n'))).toEqual(['b']);
      });

      it('moves a peer to another server (a resume on another node), only from its holder', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('mv'));
        await store.join('mv', peerRecord('a', { serverId: 'node-1', resumeHash: 'old' }), {
          peerTtlMs: SHORT_TTL_MS,
        });
        await store.join('mv', peerRecord('b', { serverId: 'node-1' }), { peerTtlMs: LONG_TTL_MS });
        const move = {
          fromServerId: 'node-1',
          toServerId: 'node-2',
          resumeHash: 'new',
          peerTtlMs: LONG_TTL_MS,
        };
        expect(await store.movePeer('mv', 'a', { ...move, fromServerId: 'node-3' })).toBe(false);
        expect(await store.movePeer('mv', 'ghost', move)).toBe(false);
        expect(await store.movePeer('mv', 'a', move)).toBe(true);
        const [a, b] = await store.getPeers('mv');
        expect(a).toMatchObject({
          peerId: 'a',
          serverId: 'node-2',
          resumeHash: 'new',
          displayName: 'Peer a',
        });
        expect(a?.mediaState).toEqual({ audio: true, video: false, screen: false });
        expect(b?.serverId).toBe('node-1');
        // The move refreshed the expiry: the short join TTL no longer applies.
        await new Promise((r) => setTimeout(r, SHORT_TTL_MS + CLOCK_SLACK_MS * 2));
        expect(ids(await store.getPeers('mv'))).toEqual(['a', 'b']);
        expect(await store.movePeer('mv', 'a', move)).toBe(false);
      });
      it('updates a live peer’s mediaState only', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('m'));
        await store.join('m', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        await store.join('m', peerRecord('b'), { peerTtlMs: LONG_TTL_MS });
        const next = { audio: false, video: true, screen: true };
        expect(await store.updateMediaState('m', 'a', next)).toBe(true);
        expect(await store.getPeers('m')).toEqual([peerRecord('a', { mediaState: next }), peerRecord('b')]);
        expect(await store.updateMediaState('m', 'ghost', next)).toBe(false);
        expect(await store.updateMediaState('no-room', 'a', next)).toBe(false);
        expect(await store.getRoom('no-room')).toBeNull();
        expect(ids(await store.getPeers('m'))).toEqual(['a', 'b']);
        // A peer that left is not brought back by an update.
        await store.leave('m', 'b');
        expect(await store.updateMediaState('m', 'b', next)).toBe(false);
        expect(ids(await store.getPeers('m'))).toEqual(['a']);
      });

      it('deleteRoom removes the peers with the room', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('d'));
        await store.join('d', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        await store.join('d', peerRecord('b'), { peerTtlMs: LONG_TTL_MS });
        expect(await store.deleteRoom('d')).toBe(true);
        expect(await store.getRoom('d')).toBeNull();
        expect(await store.getPeers('d')).toEqual([]);
        expect(await store.listRooms()).toEqual([]);
        expect(await store.leave('d', 'a')).toBe(false);
        expect(await store.updateMediaState('d', 'a', { audio: false, video: false, screen: false })).toBe(
          false,
        );
        expect((await store.join('d', peerRecord('a'), { peerTtlMs: LONG_TTL_MS })).ok).toBe(false);
        // Re-creating the id starts from nothing: no DUPLICATE_PEER, no old peers.
        const again = await store.join('d', peerRecord('a'), {
          peerTtlMs: LONG_TTL_MS,
          createWith: roomRecord('d'),
        });
        expect(again).toEqual({ ok: true, created: true, room: roomRecord('d'), peers: [] });
        expect(ids(await store.getPeers('d'))).toEqual(['a']);
      });
    });

    describe('peer expiry', () => {
      it('drops a peer peerTtlMs after its join when nothing refreshes it', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('e'));
        const joinedAt = Date.now();
        await store.join('e', peerRecord('short'), { peerTtlMs: SHORT_TTL_MS });
        await store.join('e', peerRecord('long'), { peerTtlMs: LONG_TTL_MS });
        expect(ids(await store.getPeers('e'))).toEqual(['short', 'long']);
        await until(async () => (await store.getPeers('e')).length === 1, 3_000);
        expect(Date.now() - joinedAt).toBeGreaterThanOrEqual(SHORT_TTL_MS - CLOCK_SLACK_MS);
        expect(ids(await store.getPeers('e'))).toEqual(['long']);
        expect((await store.listRooms())[0]?.peerCount).toBe(1);
        expect(await store.leave('e', 'short')).toBe(false);
      });

      it('keeps a refreshed peer (and its room) alive past both TTLs', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('hb'));
        const ttl = 300;
        const start = Date.now();
        await store.join('hb', peerRecord('kept'), { peerTtlMs: ttl });
        await store.join('hb', peerRecord('dropped'), { peerTtlMs: ttl });
        // Heartbeat `kept` only, for longer than peerTtl + emptyTtl.
        while (Date.now() - start < ttl + EMPTY_TTL_S * 1000 + 300) {
          await store.refreshPeers([{ roomId: 'hb', peerId: 'kept' }], ttl);
          expect(ids(await store.getPeers('hb'))).toContain('kept');
          await new Promise((r) => setTimeout(r, 60));
        }
        expect(ids(await store.getPeers('hb'))).toEqual(['kept']);
        expect(await store.getRoom('hb')).not.toBeNull();
        // Refreshing a peer that has expired does not bring it back, nor does one that never existed.
        await store.refreshPeers(
          [
            { roomId: 'hb', peerId: 'dropped' },
            { roomId: 'hb', peerId: 'ghost' },
            { roomId: 'no-room', peerId: 'kept' },
          ],
          LONG_TTL_MS,
        );
        expect(ids(await store.getPeers('hb'))).toEqual(['kept']);
        expect(await store.getRoom('no-room')).toBeNull();
        // Once the heartbeat stops, the peer expires.
        await until(async () => (await store.getPeers('hb')).length === 0, 3_000);
      });

      it('stops counting an expired peer toward capacity', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('cap', { maxParticipants: 2 }));
        await store.join('cap', peerRecord('short'), { peerTtlMs: SHORT_TTL_MS });
        await store.join('cap', peerRecord('long'), { peerTtlMs: LONG_TTL_MS });
        const codes: string[] = [];
        // Poll join itself (a refused join changes nothing), so its own expiry check is what is tested.
        await until(async () => {
          const result = await store.join('cap', peerRecord('new'), { peerTtlMs: LONG_TTL_MS });
          codes.push(result.ok ? 'ok' : result.code);
          return result.ok;
        }, 3_000);
        expect(codes[0]).toBe('ROOM_FULL');
        expect(new Set(codes)).toEqual(new Set(['ROOM_FULL', 'ok']));
        expect(ids(await store.getPeers('cap'))).toEqual(['long', 'new']);
      });

      it('stops an expired peer from blocking its peerId', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('rejoin'));
        await store.join('rejoin', peerRecord('a', { displayName: 'Old' }), { peerTtlMs: SHORT_TTL_MS });
        const outcomes: unknown[] = [];
        await until(async () => {
          const result = await store.join('rejoin', peerRecord('a', { displayName: 'New' }), {
            peerTtlMs: LONG_TTL_MS,
          });
          outcomes.push(result);
          return result.ok;
        }, 3_000);
        expect(outcomes[0]).toEqual({ ok: false, code: 'DUPLICATE_PEER' });
        expect(outcomes.at(-1)).toEqual({ ok: true, created: false, room: roomRecord('rejoin'), peers: [] });
        expect(await store.getPeers('rejoin')).toEqual([peerRecord('a', { displayName: 'New' })]);
      });

      it('does not resurrect an expired peer through updateMediaState', async () => {
        const store = await makeStore();
        await store.createRoom(roomRecord('zombie'));
        await store.join('zombie', peerRecord('a'), { peerTtlMs: SHORT_TTL_MS });
        await store.join('zombie', peerRecord('b'), { peerTtlMs: LONG_TTL_MS });
        const state = { audio: false, video: true, screen: false };
        // Updating a live peer succeeds; poll until the update itself reports the peer gone.
        expect(await store.updateMediaState('zombie', 'a', state)).toBe(true);
        await until(async () => !(await store.updateMediaState('zombie', 'a', state)), 3_000);
        expect(ids(await store.getPeers('zombie'))).toEqual(['b']);
        expect(await store.leave('zombie', 'a')).toBe(false);
        const rejoin = await store.join('zombie', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        expect(rejoin.ok).toBe(true);
        // The re-joined peer has the state it joined with, not the one sent to its expired self.
        expect((await store.getPeers('zombie')).find((p) => p.peerId === 'a')?.mediaState).toEqual(
          peerRecord('a').mediaState,
        );
      });
    });

    describe('empty-room expiry', () => {
      it('expires a room created empty after emptyTtlS', async () => {
        const store = await makeStore();
        const created = Date.now();
        await store.createRoom(roomRecord('idle'));
        expect(await store.getRoom('idle')).not.toBeNull();
        await until(async () => (await store.getRoom('idle')) === null, 4_000);
        expect(Date.now() - created).toBeGreaterThanOrEqual(EMPTY_TTL_S * 1000 - CLOCK_SLACK_MS);
        expect(await store.listRooms()).toEqual([]);
        expect(await store.join('idle', peerRecord('a'), { peerTtlMs: LONG_TTL_MS })).toEqual({
          ok: false,
          code: 'ROOM_NOT_FOUND',
        });
        // The id is free again.
        expect(await store.createRoom(roomRecord('idle'))).toBe(true);
      });

      it('keeps a room created empty alive while someone is in it, then expires it after the last leave', async () => {
        const store = await makeStore();
        const start = Date.now();
        await store.createRoom(roomRecord('busy'));
        await store.join('busy', peerRecord('a'), { peerTtlMs: LONG_TTL_MS });
        // Holding check: the room must survive past the empty TTL it was created with.
        while (Date.now() - start < EMPTY_TTL_S * 1000 + 300) {
          expect(await store.getRoom('busy')).not.toBeNull();
          await new Promise((r) => setTimeout(r, 100));
        }
        const left = Date.now();
        expect(await store.leave('busy', 'a')).toBe(true);
        expect(await store.getRoom('busy')).not.toBeNull();
        await until(async () => (await store.getRoom('busy')) === null, 4_000);
        expect(Date.now() - left).toBeGreaterThanOrEqual(EMPTY_TTL_S * 1000 - CLOCK_SLACK_MS);
      });

      it('expires a room whose peers all expired without leaving (crashed server)', async () => {
        const store = await makeStore();
        const start = Date.now();
        await store.join('crashed', peerRecord('a'), {
          peerTtlMs: SHORT_TTL_MS,
          createWith: roomRecord('crashed'),
        });
        await until(async () => (await store.getPeers('crashed')).length === 0, 3_000);
        expect(await store.getRoom('crashed')).not.toBeNull();
        await until(async () => (await store.getRoom('crashed')) === null, 4_000);
        expect(Date.now() - start).toBeGreaterThanOrEqual(SHORT_TTL_MS + EMPTY_TTL_S * 1000 - CLOCK_SLACK_MS);
        expect(await store.listRooms()).toEqual([]);
      });
    });
  });
}
