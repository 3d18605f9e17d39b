import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import type { z } from 'zod';
import { type BreakoutRoom, ChatMessage, MediaState } from '../protocol/index.ts';
import type { RoomStore } from './RoomStore.ts';
import {
  type JoinOptions,
  type JoinResult,
  PeerRecord,
  type RoomAccess,
  RoomRecord,
  type RoomSummary,
} from './RoomTypes.ts';

export interface RedisRoomStoreOptions {
  /** Namespace of every key this store touches. Default "opencall:". */
  keyPrefix?: string;
  /** Seconds an empty room lives (ROOM_EMPTY_TTL_S). */
  emptyTtlS: number;
  /** Whether close() quits the client. Default: true when the store built the client from options. */
  closeClient?: boolean;
  /** How long ping() waits for PONG before reporting Redis unreachable. Default 2000 ms. */
  pingTimeoutMs?: number;
}

/** Thrown when what Redis holds does not match the schemas: corrupted or foreign data. */
export class RoomStoreDataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RoomStoreDataError';
  }
}

/** The keys of one room. The `{roomId}` hash tag keeps them in one cluster slot. */
export interface RedisRoomKeys {
  /** Hash: record (RoomRecord JSON), max (maxParticipants, read by the join script), seq (join counter). */
  meta: string;
  /** Hash: peerId -> PeerRecord JSON without mediaState. */
  peers: string;
  /** Hash: peerId -> MediaState JSON (kept apart so updating it needs no JSON handling in Lua). */
  media: string;
  /** Sorted set: peerId -> expiresAt (epoch ms). A member whose score is <= now is expired. */
  exp: string;
  /** Sorted set: peerId -> join sequence number, for join order. */
  order: string;
}

/*
 * Every room script takes KEYS = meta, peers, media, exp, order, index and
 * ARGV = now (epoch ms, from Node), emptyTtlMs, roomId, ...script-specific.
 * prune() runs first: it drops expired peers and reports whether the room exists.
 * touch() sets every room key's TTL to (latest live peer expiry - now + emptyTtl), or emptyTtl when
 * there is no live peer: a room outlives its last peer by the empty TTL even when nobody calls leave.
 */
const PRELUDE = `
local meta, peers, media, exp, order, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = ARGV[1]
local emptyMs = tonumber(ARGV[2])
local roomId = ARGV[3]

local function batched(cmd, key, ids)
  for i = 1, #ids, 500 do
    redis.call(cmd, key, unpack(ids, i, math.min(i + 499, #ids)))
  end
end

local function prune()
  if redis.call('EXISTS', meta) == 0 then
    redis.call('DEL', peers, media, exp, order)
    redis.call('SREM', index, roomId)
    return false
  end
  local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', now)
  if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', exp, '-inf', now)
    batched('HDEL', peers, expired)
    batched('HDEL', media, expired)
    batched('ZREM', order, expired)
  end
  return true
end

local function touch()
  local top = redis.call('ZRANGE', exp, -1, -1, 'WITHSCORES')
  local ttl = emptyMs
  if top[2] then
    ttl = math.max(1, math.floor(tonumber(top[2]) - tonumber(now) + emptyMs))
  end
  for _, key in ipairs({ meta, peers, media, exp, order }) do
    redis.call('PEXPIRE', key, ttl)
  end
end

local function peerList()
  local out = {}
  for _, id in ipairs(redis.call('ZRANGE', order, 0, -1)) do
    out[#out + 1] = redis.call('HGET', peers, id) or ''
    out[#out + 1] = redis.call('HGET', media, id) or ''
  end
  return out
end
`;

/** ARGV 4 record JSON, 5 maxParticipants. */
const CREATE = `
if redis.call('EXISTS', meta) == 1 then return 0 end
redis.call('DEL', peers, media, exp, order)
redis.call('HSET', meta, 'record', ARGV[4], 'max', ARGV[5], 'seq', 0)
redis.call('PEXPIRE', meta, emptyMs)
redis.call('SADD', index, roomId)
return 1
`;

/**
 * ARGV 4 peerId, 5 peer JSON (no mediaState), 6 mediaState JSON, 7 expiresAt,
 * 8 createWith record JSON or '', 9 createWith maxParticipants or '', 10 node to pin the room's
 * media to (KEYS[7]) unless pinned, or ''.
 * Returns { code } on refusal, else { 'OK', created, room JSON, max, peer JSON, media JSON, ... }.
 */
const JOIN = `
local created = 0
if not prune() then
  if ARGV[8] == '' then return { 'ROOM_NOT_FOUND' } end
  redis.call('HSET', meta, 'record', ARGV[8], 'max', ARGV[9], 'seq', 0)
  redis.call('SADD', index, roomId)
  created = 1
end
local max = tonumber(redis.call('HGET', meta, 'max'))
if not max or max < 1 then
  return redis.error_reply('CORRUPT room ' .. roomId .. ': invalid max field')
end
if redis.call('ZSCORE', exp, ARGV[4]) then return { 'DUPLICATE_PEER' } end
if redis.call('ZCARD', exp) >= max then return { 'ROOM_FULL' } end
if ARGV[10] ~= '' then redis.call('SET', KEYS[7], ARGV[10], 'NX', 'PX', 86400000) end
local pinned = ''
if ARGV[10] ~= '' then pinned = redis.call('GET', KEYS[7]) or '' end
local result = { 'OK', tostring(created), redis.call('HGET', meta, 'record') or '', tostring(max), pinned }
for _, v in ipairs(peerList()) do result[#result + 1] = v end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('ZADD', order, seq, ARGV[4])
redis.call('ZADD', exp, ARGV[7], ARGV[4])
redis.call('HSET', peers, ARGV[4], ARGV[5])
redis.call('HSET', media, ARGV[4], ARGV[6])
touch()
return result
`;

/** ARGV 4 peerId, 5 the server that must hold it, or ''. */
const LEAVE = `
if not prune() then return 0 end
if ARGV[5] ~= '' then
  local json = redis.call('HGET', peers, ARGV[4])
  if not json or cjson.decode(json).serverId ~= ARGV[5] then return 0 end
end
if redis.call('ZREM', exp, ARGV[4]) == 0 then return 0 end
redis.call('HDEL', peers, ARGV[4])
redis.call('HDEL', media, ARGV[4])
redis.call('ZREM', order, ARGV[4])
touch()
return 1
`;

/** ARGV 4 peerId, 5 from serverId, 6 to serverId, 7 resumeHash or '', 8 expiresAt. */
const MOVE = `
if not prune() then return 0 end
if not redis.call('ZSCORE', exp, ARGV[4]) then return 0 end
local json = redis.call('HGET', peers, ARGV[4])
if not json then return 0 end
local peer = cjson.decode(json)
if peer.serverId ~= ARGV[5] then return 0 end
peer.serverId = ARGV[6]
if ARGV[7] ~= '' then peer.resumeHash = ARGV[7] end
redis.call('HSET', peers, ARGV[4], cjson.encode(peer))
redis.call('ZADD', exp, 'XX', ARGV[8], ARGV[4])
touch()
return 1
`;

const GET_PEERS = `
if not prune() then return {} end
return peerList()
`;

/** ARGV 4 peerId, 5 mediaState JSON. Only a live peer is updated: an expired one stays gone. */
const UPDATE_MEDIA = `
if not prune() then return 0 end
if not redis.call('ZSCORE', exp, ARGV[4]) then return 0 end
redis.call('HSET', media, ARGV[4], ARGV[5])
return 1
`;

/** ARGV 4 expiresAt, 5.. peerIds. Only live peers are refreshed; the room keys follow them. */
const REFRESH = `
if not prune() then return 0 end
local n = 0
for i = 5, #ARGV do
  if redis.call('ZSCORE', exp, ARGV[i]) then
    redis.call('ZADD', exp, 'XX', ARGV[4], ARGV[i])
    n = n + 1
  end
end
if n > 0 then touch() end
return n
`;

const DELETE = `
local existed = redis.call('EXISTS', meta)
redis.call('DEL', meta, peers, media, exp, order, meta .. ':chat', KEYS[7])
redis.call('SREM', index, roomId)
return existed
`;

/** KEYS meta, index; ARGV roomId. Drops an index entry whose room has expired. */
const PRUNE_INDEX = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
`;

class LuaScript {
  readonly source: string;
  readonly sha: string;
  /** Its key in `scripts`, for the per-command latency series. */
  name = '';
  constructor(source: string) {
    this.source = source;
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const scripts = {
  create: new LuaScript(PRELUDE + CREATE),
  join: new LuaScript(PRELUDE + JOIN),
  leave: new LuaScript(PRELUDE + LEAVE),
  getPeers: new LuaScript(PRELUDE + GET_PEERS),
  move: new LuaScript(PRELUDE + MOVE),
  updateMedia: new LuaScript(PRELUDE + UPDATE_MEDIA),
  refresh: new LuaScript(PRELUDE + REFRESH),
  delete: new LuaScript(PRELUDE + DELETE),
  pruneIndex: new LuaScript(PRUNE_INDEX),
  // KEYS meta, chat; ARGV message, keep. Only for a live room; the list never outlives it by much.
  appendChat: new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl + 60000) else redis.call('PEXPIRE', KEYS[2], 86400000) end
return 1`),
  // Replaces the record of a live room (one whose meta hash exists); 0 when there is none.
  setRecord: new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'record', ARGV[1])
return 1`),
};
for (const [name, script] of Object.entries(scripts)) script.name = name;

/** What the peers hash holds: the PeerRecord minus mediaState, which lives in the media hash. */
const StoredPeer = PeerRecord.omit({ mediaState: true });

const JOIN_CODES = new Set(['ROOM_NOT_FOUND', 'ROOM_FULL', 'DUPLICATE_PEER'] as const);
type JoinCode = Extract<JoinResult, { ok: false }>['code'];

/**
 * Room state in Redis, shareable by several server processes. Every mutation that depends on what
 * is stored runs as one Lua script, so checks and writes are atomic. Layout (see RedisRoomKeys):
 * `<prefix>room:{<roomId>}` plus `:peers`, `:media`, `:exp`, `:order`, and the index set `<prefix>rooms`.
 */
export class RedisRoomStore implements RoomStore {
  readonly kind = 'redis' as const;
  readonly keyPrefix: string;
  readonly #client: Redis;
  readonly #emptyTtlMs: number;
  readonly #closeClient: boolean;
  readonly #pingTimeoutMs: number;
  readonly #indexKey: string;

  constructor(client: Redis | RedisOptions, options: RedisRoomStoreOptions) {
    if (!(options.emptyTtlS > 0)) throw new RangeError('emptyTtlS must be a positive number of seconds');
    const owned = !(client instanceof Redis);
    this.#client = client instanceof Redis ? client : new Redis(client);
    if (this.#client.options.keyPrefix) {
      // ioredis would prefix the script KEYS a second time.
      throw new Error(
        'RedisRoomStore: pass a client without the ioredis keyPrefix option; use options.keyPrefix',
      );
    }
    this.keyPrefix = options.keyPrefix ?? 'opencall:';
    this.#emptyTtlMs = Math.round(options.emptyTtlS * 1000);
    this.#closeClient = options.closeClient ?? owned;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 2000;
    this.#indexKey = `${this.keyPrefix}rooms`;
  }

  /** Where a room lives; exposed for tests and operators. */
  roomKeys(roomId: string): RedisRoomKeys {
    const meta = `${this.keyPrefix}room:{${roomId}}`;
    return {
      meta,
      peers: `${meta}:peers`,
      media: `${meta}:media`,
      exp: `${meta}:exp`,
      order: `${meta}:order`,
    };
  }

  /** The set of room ids listRooms walks (SSCAN, never KEYS). */
  get indexKey(): string {
    return this.#indexKey;
  }

  async createRoom(room: RoomRecord): Promise<boolean> {
    const record = RoomRecord.parse(room);
    const created = await this.#runRoom(scripts.create, record.roomId, [
      JSON.stringify(record),
      String(record.maxParticipants),
    ]);
    return created === 1;
  }

  async getRoom(roomId: string): Promise<RoomRecord | null> {
    const fields = await this.#client.hgetall(this.roomKeys(roomId).meta);
    if (Object.keys(fields).length === 0) return null;
    return this.#parseRoom(roomId, fields.record, fields.max);
  }

  onRestored(listener: () => void): void {
    let lost = false;
    this.#client.on('end', () => {
      lost = true;
    });
    this.#client.on('close', () => {
      lost = true;
    });
    this.#client.on('ready', () => {
      if (!lost) return;
      lost = false;
      listener();
    });
  }

  /** The chat list lives beside the room and expires with it (its TTL follows the room's meta key). */
  async appendChat(roomId: string, message: ChatMessage, keep: number): Promise<void> {
    if (keep === 0) return;
    await this.#run(
      scripts.appendChat,
      [this.roomKeys(roomId).meta, this.#chatKey(roomId)],
      [JSON.stringify(message), String(keep)],
    );
  }

  async chatHistory(roomId: string): Promise<ChatMessage[]> {
    if ((await this.#client.exists(this.roomKeys(roomId).meta)) === 0) return [];
    const items = await this.#client.lrange(this.#chatKey(roomId), 0, -1);
    return items.map((item) => parseJson(ChatMessage, item, `chat of room ${roomId}`));
  }

  #chatKey(roomId: string): string {
    return `${this.roomKeys(roomId).meta}:chat`;
  }

  async setRoomAccess(roomId: string, access: RoomAccess): Promise<RoomRecord | null> {
    const room = await this.getRoom(roomId);
    if (!room) return null;
    const updated = RoomRecord.parse({ ...room, access });
    const meta = this.roomKeys(roomId).meta;
    const set = await this.#run(scripts.setRecord, [meta], [JSON.stringify(updated)]);
    return set === 1 ? updated : null;
  }

  async setBreakouts(roomId: string, breakouts: BreakoutRoom[] | null): Promise<RoomRecord | null> {
    const room = await this.getRoom(roomId);
    if (!room) return null;
    const { breakouts: _old, ...rest } = room;
    const updated = RoomRecord.parse(breakouts ? { ...rest, breakouts } : rest);
    const set = await this.#run(scripts.setRecord, [this.roomKeys(roomId).meta], [JSON.stringify(updated)]);
    return set === 1 ? updated : null;
  }

  async deleteRoom(roomId: string): Promise<boolean> {
    return (await this.#runRoom(scripts.delete, roomId, [])) === 1;
  }

  /**
   * The index's size, which may still hold rooms that expired; near a limit that matters, so the
   * index is walked (and pruned) for the exact count.
   */
  async countRooms(limitOfInterest = Number.POSITIVE_INFINITY): Promise<number> {
    const indexed = await this.#client.scard(this.#indexKey);
    if (indexed < limitOfInterest) return indexed;
    return (await this.listRooms()).length;
  }

  async listRooms(): Promise<RoomSummary[]> {
    const ids = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.#client.sscan(this.#indexKey, cursor, 'COUNT', 500);
      for (const id of batch) ids.add(id);
      cursor = next;
    } while (cursor !== '0');

    const roomIds = [...ids].sort();
    const now = Date.now();
    const pipeline = this.#client.pipeline();
    for (const roomId of roomIds) {
      const keys = this.roomKeys(roomId);
      pipeline.hmget(keys.meta, 'record', 'max');
      pipeline.zcount(keys.exp, `(${now}`, '+inf');
    }
    const replies = (await pipeline.exec()) ?? [];
    const out: RoomSummary[] = [];
    const gone: string[] = [];
    roomIds.forEach((roomId, i) => {
      const [metaErr, meta] = replies[2 * i] ?? [new Error('missing pipeline reply')];
      const [countErr, count] = replies[2 * i + 1] ?? [new Error('missing pipeline reply')];
      if (metaErr) throw metaErr;
      if (countErr) throw countErr;
      const [record, max] = meta as [string | null, string | null];
      if (record === null && max === null) {
        gone.push(roomId);
        return;
      }
      out.push({
        room: this.#parseRoom(roomId, record ?? undefined, max ?? undefined),
        peerCount: Number(count),
      });
    });
    // Index entries of expired rooms; the script re-checks so a room re-created meanwhile stays listed.
    await Promise.all(
      gone.map((roomId) =>
        this.#run(scripts.pruneIndex, [this.roomKeys(roomId).meta, this.#indexKey], [roomId]),
      ),
    );
    return out;
  }

  async join(roomId: string, peer: PeerRecord, options: JoinOptions): Promise<JoinResult> {
    const record = PeerRecord.parse(peer);
    checkTtl(options.peerTtlMs);
    let createJson = '';
    let createMax = '';
    if (options.createWith) {
      const room = RoomRecord.parse(options.createWith);
      if (room.roomId !== roomId) {
        throw new Error(`createWith.roomId "${room.roomId}" does not match roomId "${roomId}"`);
      }
      createJson = JSON.stringify(room);
      createMax = String(room.maxParticipants);
    }
    const { mediaState, ...base } = record;
    const now = Date.now();
    const reply = await this.#runRoom(
      scripts.join,
      roomId,
      [
        record.peerId,
        JSON.stringify(base),
        JSON.stringify(mediaState),
        String(now + options.peerTtlMs),
        createJson,
        createMax,
        options.claimMediaNode ?? '',
      ],
      now,
    );
    if (!Array.isArray(reply) || reply.length === 0) throw new RoomStoreDataError('unexpected join reply');
    const [status, created, roomJson, max, pinned, ...peerFields] = reply as string[];
    if (status !== 'OK') {
      if (JOIN_CODES.has(status as JoinCode)) return { ok: false, code: status as JoinCode };
      throw new RoomStoreDataError(`unexpected join reply ${String(status)}`);
    }
    return {
      ok: true,
      room: this.#parseRoom(roomId, roomJson, max),
      created: created === '1',
      peers: this.#parsePeers(roomId, peerFields),
      ...(pinned ? { mediaNode: pinned } : {}),
    };
  }

  async leave(roomId: string, peerId: string, onlyOnServer?: string): Promise<boolean> {
    return (await this.#runRoom(scripts.leave, roomId, [peerId, onlyOnServer ?? ''])) === 1;
  }

  async movePeer(
    roomId: string,
    peerId: string,
    move: { fromServerId: string; toServerId: string; resumeHash: string | undefined; peerTtlMs: number },
  ): Promise<boolean> {
    checkTtl(move.peerTtlMs);
    const now = Date.now();
    const moved = await this.#runRoom(
      scripts.move,
      roomId,
      [peerId, move.fromServerId, move.toServerId, move.resumeHash ?? '', String(now + move.peerTtlMs)],
      now,
    );
    return moved === 1;
  }

  async getPeers(roomId: string): Promise<PeerRecord[]> {
    const reply = await this.#runRoom(scripts.getPeers, roomId, []);
    return this.#parsePeers(roomId, reply as string[]);
  }

  async updateMediaState(
    roomId: string,
    peerId: string,
    mediaState: PeerRecord['mediaState'],
  ): Promise<boolean> {
    const state = MediaState.parse(mediaState);
    return (await this.#runRoom(scripts.updateMedia, roomId, [peerId, JSON.stringify(state)])) === 1;
  }

  async refreshPeers(
    entries: ReadonlyArray<{ roomId: string; peerId: string }>,
    peerTtlMs: number,
  ): Promise<void> {
    checkTtl(peerTtlMs);
    const byRoom = new Map<string, string[]>();
    for (const { roomId, peerId } of entries) {
      const list = byRoom.get(roomId);
      if (list) list.push(peerId);
      else byRoom.set(roomId, [peerId]);
    }
    const now = Date.now();
    await Promise.all(
      [...byRoom].map(([roomId, peerIds]) =>
        this.#runRoom(scripts.refresh, roomId, [String(now + peerTtlMs), ...peerIds], now),
      ),
    );
  }

  async ping(): Promise<void> {
    const status = this.#client.status;
    if (status === 'end' || status === 'close') throw new Error(`Redis connection is ${status}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer PING within ${this.#pingTimeoutMs} ms`)),
        this.#pingTimeoutMs,
      );
    });
    try {
      const pong = await Promise.race([this.#client.ping(), timeout]);
      if (pong !== 'PONG') throw new Error(`unexpected PING reply ${String(pong)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (!this.#closeClient || this.#client.status === 'end') return;
    // QUIT lets pending replies arrive; without a connection there is nothing to wait for.
    if (this.#client.status !== 'ready') {
      this.#client.disconnect();
      return;
    }
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #runRoom(script: LuaScript, roomId: string, args: string[], now = Date.now()): Promise<unknown> {
    const k = this.roomKeys(roomId);
    return this.#run(
      script,
      // KEYS[7]: the room's media pin (ClusterMedia), claimed by a join, dropped with the room.
      [k.meta, k.peers, k.media, k.exp, k.order, this.#indexKey, `${k.meta}:sfu-node`],
      [String(now), String(this.#emptyTtlMs), roomId, ...args],
    );
  }

  /** Called after every store command with its name and round trip (metrics). */
  onCommand: ((command: string, seconds: number) => void) | undefined;

  async #run(script: LuaScript, keys: string[], args: string[]): Promise<unknown> {
    const started = performance.now();
    try {
      try {
        return await this.#client.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await this.#client.eval(script.source, keys.length, ...keys, ...args);
      } finally {
        this.onCommand?.(script.name, (performance.now() - started) / 1000);
      }
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('CORRUPT')) {
        throw new RoomStoreDataError(err.message, { cause: err });
      }
      throw err;
    }
  }

  #parseRoom(roomId: string, json: string | undefined, max: string | undefined): RoomRecord {
    const room = parseJson(RoomRecord, json, `room ${roomId}`);
    if (room.roomId !== roomId) {
      throw new RoomStoreDataError(`Corrupt room ${roomId} in Redis: record has roomId ${room.roomId}`);
    }
    if (max === undefined || Number(max) !== room.maxParticipants) {
      throw new RoomStoreDataError(`Corrupt room ${roomId} in Redis: max field disagrees with the record`);
    }
    return room;
  }

  #parsePeers(roomId: string, fields: string[]): PeerRecord[] {
    if (!Array.isArray(fields) || fields.length % 2 !== 0) {
      throw new RoomStoreDataError(`Corrupt peer list for room ${roomId} in Redis`);
    }
    const peers: PeerRecord[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const what = `peer in room ${roomId}`;
      const base = parseJson(StoredPeer, fields[i], what);
      const mediaState = parseJson(MediaState, fields[i + 1], `mediaState of ${what}`);
      peers.push({ ...base, mediaState });
    }
    return peers;
  }
}

function parseJson<T extends z.ZodType>(schema: T, json: string | undefined, what: string): z.infer<T> {
  if (json === undefined || json === '')
    throw new RoomStoreDataError(`Corrupt ${what} in Redis: missing value`);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new RoomStoreDataError(`Corrupt ${what} in Redis: not JSON`, { cause: err });
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RoomStoreDataError(`Corrupt ${what} in Redis: ${issues}`);
  }
  return parsed.data;
}

function checkTtl(peerTtlMs: number): void {
  if (!Number.isInteger(peerTtlMs) || peerTtlMs <= 0) {
    throw new RangeError(`peerTtlMs must be a positive integer, got ${peerTtlMs}`);
  }
}
