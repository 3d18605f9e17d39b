import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JoinResult, MemoryRoomStore, RedisRoomStore, type RoomStore } from '../../src/rooms/index.ts';
import {
  flushKeyPrefix,
  type RedisServerHandle,
  startRedisServer,
  uniqueKeyPrefix,
} from '../helpers/redisServer.ts';
import { peerRecord, roomRecord } from './roomStore.contract.ts';

const JOINERS = 20;
const CAPACITY = 10;

/** Fires JOINERS joins at once, joiner i through stores[i % stores.length], and checks the outcome. */
async function raceJoins(stores: RoomStore[], roomId: string, autoCreate: boolean): Promise<void> {
  const room = roomRecord(roomId, { maxParticipants: CAPACITY });
  if (!autoCreate) expect(await stores[0]!.createRoom(room)).toBe(true);
  const results: JoinResult[] = await Promise.all(
    Array.from({ length: JOINERS }, (_, i) =>
      stores[i % stores.length]!.join(roomId, peerRecord(`peer-${i}`), {
        peerTtlMs: 30_000,
        ...(autoCreate ? { createWith: room } : {}),
      }),
    ),
  );
  const ok = results.flatMap((r, i) => (r.ok ? [`peer-${i}`] : []));
  const refused = results.filter((r) => !r.ok);
  expect(ok).toHaveLength(CAPACITY);
  expect(refused).toHaveLength(JOINERS - CAPACITY);
  expect(refused.every((r) => r.code === 'ROOM_FULL')).toBe(true);
  expect(results.filter((r) => r.ok && r.created)).toHaveLength(autoCreate ? 1 : 0);

  const peers = await stores[0]!.getPeers(roomId);
  expect(peers).toHaveLength(CAPACITY);
  expect(peers.map((p) => p.peerId).sort()).toEqual(ok.sort());
  // Each winner saw exactly the winners that were in before it: its own index in join order.
  const order = peers.map((p) => p.peerId);
  for (const [i, r] of results.entries()) {
    if (r.ok) expect(r.peers.map((p) => p.peerId)).toEqual(order.slice(0, order.indexOf(`peer-${i}`)));
  }
  expect((await stores[0]!.listRooms()).find((s) => s.room.roomId === roomId)?.peerCount).toBe(CAPACITY);
}

describe('concurrent joins never exceed maxParticipants', () => {
  describe('redis (one connection per joiner)', () => {
    let server: RedisServerHandle;
    let stores: RedisRoomStore[] = [];
    let keyPrefix: string;

    beforeAll(async () => {
      server = await startRedisServer();
      keyPrefix = uniqueKeyPrefix('race');
      stores = Array.from(
        { length: JOINERS },
        () => new RedisRoomStore(new Redis(server.url), { keyPrefix, emptyTtlS: 60, closeClient: true }),
      );
      // Every connection is up before the race starts, so the joins truly overlap.
      await Promise.all(stores.map((s) => s.ping()));
    });

    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()));
      if (server) {
        await flushKeyPrefix(server.url, keyPrefix);
        await server.stop();
      }
    });

    it('into a room created beforehand', async () => {
      for (let round = 0; round < 5; round++) await raceJoins(stores, `pre-${round}`, false);
    });

    it('into a room the joins auto-create', async () => {
      for (let round = 0; round < 5; round++) await raceJoins(stores, `auto-${round}`, true);
    });
  });

  describe('memory', () => {
    it('into a room created beforehand, and one the joins auto-create', async () => {
      const store = new MemoryRoomStore({ emptyTtlS: 60 });
      try {
        await raceJoins([store], 'pre', false);
        await raceJoins([store], 'auto', true);
      } finally {
        await store.close();
      }
    });
  });
});
