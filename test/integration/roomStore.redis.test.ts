import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { createRoomStore, RedisRoomStore, RoomStoreDataError } from '../../src/rooms/index.ts';
import {
  flushKeyPrefix,
  freePort,
  type RedisServerHandle,
  startRedisServer,
  uniqueKeyPrefix,
} from '../helpers/redisServer.ts';
import { describeRoomStoreContract, EMPTY_TTL_S, peerRecord, roomRecord } from './roomStore.contract.ts';

let server: RedisServerHandle;
const prefixes: string[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});

afterAll(async () => {
  if (!server) return;
  await Promise.all(prefixes.map((p) => flushKeyPrefix(server.url, p)));
  await server.stop();
});

function redisStore(emptyTtlS: number, label: string): RedisRoomStore {
  const keyPrefix = uniqueKeyPrefix(label);
  prefixes.push(keyPrefix);
  return new RedisRoomStore(new Redis(server.url, { maxRetriesPerRequest: 1 }), {
    keyPrefix,
    emptyTtlS,
    closeClient: true,
  });
}

describeRoomStoreContract('redis', async ({ emptyTtlS }) => redisStore(emptyTtlS, 'contract'));

describe('RedisRoomStore', () => {
  let store: RedisRoomStore;
  let raw: Redis;

  beforeAll(() => {
    raw = new Redis(server.url);
  });
  afterAll(() => {
    raw.disconnect();
  });
  afterEach(async () => {
    await store?.close();
  });

  async function keysUnder(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      out.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return out.sort();
  }

  describe('key layout and TTLs', () => {
    it('keeps every key under keyPrefix, and every room key expiring', async () => {
      store = redisStore(EMPTY_TTL_S, 'layout');
      await store.createRoom(roomRecord('r1'));
      await store.join('r1', peerRecord('a'), { peerTtlMs: 30_000 });
      const k = store.roomKeys('r1');
      expect(await keysUnder(store.keyPrefix)).toEqual(
        [k.meta, k.peers, k.media, k.exp, k.order, store.indexKey].sort(),
      );
      expect(await keysUnder('opencall:')).toEqual([]);
      for (const key of [k.meta, k.peers, k.media, k.exp, k.order]) {
        const ttl = await raw.pttl(key);
        // A live peer keeps the room for peerTtl + emptyTtl.
        expect(ttl).toBeGreaterThan(30_000);
        expect(ttl).toBeLessThanOrEqual(31_000);
      }
      expect(await raw.pttl(store.indexKey)).toBe(-1);
    });

    it('sets the room TTL to emptyTtl on creation and after the last leave, and peerTtl + emptyTtl on refresh', async () => {
      store = redisStore(60, 'ttl');
      const { meta } = store.roomKeys('r');
      await store.createRoom(roomRecord('r'));
      expect(await raw.pttl(meta)).toBeGreaterThan(59_000);
      expect(await raw.pttl(meta)).toBeLessThanOrEqual(60_000);
      await store.join('r', peerRecord('a'), { peerTtlMs: 10_000 });
      expect(await raw.pttl(meta)).toBeGreaterThan(69_000);
      await store.refreshPeers([{ roomId: 'r', peerId: 'a' }], 100_000);
      expect(await raw.pttl(meta)).toBeGreaterThan(159_000);
      expect(await raw.zscore(store.roomKeys('r').exp, 'a')).not.toBeNull();
      await store.leave('r', 'a');
      expect(await raw.pttl(meta)).toBeGreaterThan(59_000);
      expect(await raw.pttl(meta)).toBeLessThanOrEqual(60_000);
      expect(await raw.exists(store.roomKeys('r').peers, store.roomKeys('r').exp)).toBe(0);
    });

    it('prunes index entries of expired rooms in listRooms', async () => {
      store = redisStore(EMPTY_TTL_S, 'index');
      await store.createRoom(roomRecord('gone'));
      await store.createRoom(roomRecord('kept'));
      // Simulate expiry by Redis itself, without any store call.
      await raw.del(store.roomKeys('gone').meta);
      expect(await raw.sismember(store.indexKey, 'gone')).toBe(1);
      expect((await store.listRooms()).map((s) => s.room.roomId)).toEqual(['kept']);
      expect(await raw.sismember(store.indexKey, 'gone')).toBe(0);
      expect(await raw.sismember(store.indexKey, 'kept')).toBe(1);
    });

    it('shares state between stores with the same prefix and isolates different prefixes', async () => {
      store = redisStore(EMPTY_TTL_S, 'share');
      const twin = new RedisRoomStore(new Redis(server.url), { keyPrefix: store.keyPrefix, emptyTtlS: 1 });
      const stranger = redisStore(EMPTY_TTL_S, 'stranger');
      try {
        await store.join('s', peerRecord('a'), { peerTtlMs: 30_000, createWith: roomRecord('s') });
        expect(await twin.join('s', peerRecord('a'), { peerTtlMs: 30_000 })).toEqual({
          ok: false,
          code: 'DUPLICATE_PEER',
        });
        expect(await stranger.getRoom('s')).toBeNull();
        expect(await stranger.listRooms()).toEqual([]);
      } finally {
        await Promise.all([twin.close(), stranger.close()]);
      }
    });

    it('refuses a client configured with the ioredis keyPrefix option', () => {
      const client = new Redis(server.url, { keyPrefix: 'x:', lazyConnect: true });
      expect(() => new RedisRoomStore(client, { emptyTtlS: 1 })).toThrow(/keyPrefix/);
      client.disconnect();
    });
  });

  describe('corrupted data fails loudly', () => {
    it('in a room record that is not JSON', async () => {
      store = redisStore(EMPTY_TTL_S, 'corrupt');
      await store.createRoom(roomRecord('r'));
      await raw.hset(store.roomKeys('r').meta, 'record', '{not json');
      await expect(store.getRoom('r')).rejects.toThrow(RoomStoreDataError);
      await expect(store.listRooms()).rejects.toThrow(/Corrupt room r/);
      await expect(store.join('r', peerRecord('a'), { peerTtlMs: 30_000 })).rejects.toThrow(
        RoomStoreDataError,
      );
    });

    it('in a room record that is JSON of the wrong shape', async () => {
      store = redisStore(EMPTY_TTL_S, 'corrupt');
      await store.createRoom(roomRecord('r'));
      await raw.hset(
        store.roomKeys('r').meta,
        'record',
        JSON.stringify({ ...roomRecord('r'), mode: 'mesh' }),
      );
      await expect(store.getRoom('r')).rejects.toThrow(/mode/);
      await raw.hset(store.roomKeys('r').meta, 'record', JSON.stringify(roomRecord('someone-else')));
      await expect(store.getRoom('r')).rejects.toThrow(/roomId/);
    });

    it('in the capacity field the join script reads', async () => {
      store = redisStore(EMPTY_TTL_S, 'corrupt');
      await store.createRoom(roomRecord('r'));
      await raw.hset(store.roomKeys('r').meta, 'max', 'lots');
      await expect(store.join('r', peerRecord('a'), { peerTtlMs: 30_000 })).rejects.toThrow(
        RoomStoreDataError,
      );
      expect(await raw.hlen(store.roomKeys('r').peers)).toBe(0);
      await expect(store.getRoom('r')).rejects.toThrow(/max/);
    });

    it('in a peer record or its mediaState', async () => {
      store = redisStore(EMPTY_TTL_S, 'corrupt');
      await store.createRoom(roomRecord('r'));
      await store.join('r', peerRecord('a'), { peerTtlMs: 30_000 });
      await raw.hset(store.roomKeys('r').peers, 'a', 'garbage');
      await expect(store.getPeers('r')).rejects.toThrow(RoomStoreDataError);
      await expect(store.join('r', peerRecord('b'), { peerTtlMs: 30_000 })).rejects.toThrow(/Corrupt peer/);

      await raw.hset(store.roomKeys('r').peers, 'a', JSON.stringify({ peerId: 'a' }));
      await expect(store.getPeers('r')).rejects.toThrow(/displayName/);

      const { mediaState: _, ...base } = peerRecord('a');
      await raw.hset(store.roomKeys('r').peers, 'a', JSON.stringify(base));
      await raw.hset(store.roomKeys('r').media, 'a', '{"audio":"yes"}');
      await expect(store.getPeers('r')).rejects.toThrow(/mediaState/);
      await raw.hdel(store.roomKeys('r').media, 'a');
      await expect(store.getPeers('r')).rejects.toThrow(/missing value/);
    });
  });

  describe('createRoomStore', () => {
    function config(overrides: Partial<Config>): Config {
      return { roomEmptyTtlS: 60, ...overrides } as Config;
    }
    function capture() {
      const lines: string[] = [];
      const stream = new Writable({
        write(chunk, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      });
      return { lines, logger: createLogger('debug', stream) };
    }

    it('builds a MemoryRoomStore without redis config', async () => {
      const { logger } = capture();
      const memory = createRoomStore(config({}), logger);
      expect(memory.kind).toBe('memory');
      await memory.close();
    });

    it('builds a working RedisRoomStore from REDIS_URL', async () => {
      const { logger, lines } = capture();
      const keyPrefix = uniqueKeyPrefix('factory');
      prefixes.push(keyPrefix);
      const redis = createRoomStore(config({ redis: { url: server.url, port: 6379, keyPrefix } }), logger);
      try {
        expect(redis.kind).toBe('redis');
        await redis.ping();
        expect(await redis.createRoom(roomRecord('f'))).toBe(true);
        expect(await raw.exists(`${keyPrefix}room:{f}`)).toBe(1);
        expect(lines.join('')).not.toContain(server.url);
      } finally {
        await redis.close();
      }
    });

    it('fails ping fast when Redis is unreachable, never logging the password', async () => {
      const { logger, lines } = capture();
      const port = await freePort();
      const secret = 's3cret-pa55word';
      const redis = createRoomStore(
        config({ redis: { host: '127.0.0.1', port, password: secret, keyPrefix: 'x:' } }),
        logger,
      );
      try {
        const start = Date.now();
        await expect(redis.ping()).rejects.toThrow();
        expect(Date.now() - start).toBeLessThan(3_000);
        await expect(redis.getRoom('r')).rejects.toThrow();
        expect(lines.join('')).toContain('redis error');
        expect(lines.join('')).not.toContain(secret);
      } finally {
        await redis.close();
      }
    });
  });
});

describe('startRedisServer', () => {
  it('says how to get redis-server when the binary is missing', async () => {
    const saved = { PATH: process.env.PATH, REDIS_URL: process.env.REDIS_URL };
    process.env.PATH = '/nonexistent';
    delete process.env.REDIS_URL;
    try {
      await expect(startRedisServer()).rejects.toThrow(
        'redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL',
      );
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.REDIS_URL !== undefined) process.env.REDIS_URL = saved.REDIS_URL;
    }
  });
});
