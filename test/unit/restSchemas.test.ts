import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  NotReadyResponse,
  ReadyResponse,
  type ReadySfu,
  RestPeer,
  RestSfuStatus,
  RoomListResponse,
} from '../../src/protocol/index.ts';
import type { SfuStatus } from '../../src/sfu/ConnectionManagerTypes.ts';

/** A type with every key required and `undefined` removed, arrays and unions kept: its shape. */
type Shape<T> = T extends readonly (infer U)[]
  ? Shape<U>[]
  : T extends object
    ? { [K in keyof T]-?: Shape<Exclude<T[K], undefined>> }
    : T;

// A degraded pool, as the media controller reports it: one slot down (its port and reason may be
// absent), a port range, a reachability failure.
const status: SfuStatus = {
  enabled: true,
  health: 'degraded',
  available: true,
  workers: { up: 1, total: 2 },
  down: [{ index: 1, state: 'restarting', port: undefined, reason: 'bind failed', attempts: 4 }],
  candidates: [
    { address: '192.168.1.20', protocol: 'udp', port: 40000 },
    { address: '192.168.1.20', protocol: 'tcp', port: { min: 40000, max: 40099 } },
  ],
  addressSource: 'local-addresses',
  routers: 3,
  clientReachability: {
    windowS: 600,
    connected: 2,
    failed: 1,
    lastFailure: { at: '2026-01-01T00:00:00.000Z', reason: 'ice failed' },
  },
};

describe('REST schemas', () => {
  it('describe the SFU status exactly as the media controller types it', () => {
    // What status() returns is accepted by the schema's type...
    expectTypeOf<SfuStatus>().toExtend<z.input<typeof RestSfuStatus>>();
    // ...and they have the same fields all the way down: a field added to SfuStatus without the
    // schema (which would strip it from GET /api/rooms) fails `tsc` here.
    expectTypeOf<Shape<SfuStatus>>().toEqualTypeOf<Shape<RestSfuStatus>>();
    expect(RestSfuStatus.encode(status)).toEqual({
      ...status,
      down: [{ index: 1, state: 'restarting', reason: 'bind failed', attempts: 4 }],
    });
  });

  it('describe /ready and the admin list around that status', () => {
    const sfu: ReadySfu = {
      status: status.health,
      enabled: status.enabled,
      workers: status.workers,
      down: status.down,
      announcedAddresses: status.candidates,
      addressSource: status.addressSource,
      routers: status.routers,
      clientReachability: status.clientReachability,
    };
    expect(
      ReadyResponse.safeEncode({ status: 'ready', store: { status: 'ok', kind: 'redis' }, sfu }).success,
    ).toBe(true);
    expect(
      NotReadyResponse.safeEncode({
        status: 'not-ready',
        store: { status: 'unreachable', kind: 'redis', reason: 'ECONNREFUSED' },
        sfu,
      }).success,
    ).toBe(true);
    const list: RoomListResponse = {
      totalRooms: 0,
      totalPeers: 0,
      rooms: [],
      serverStats: {
        uptimeS: 1,
        store: 'memory',
        connections: 0,
        localPeers: 0,
        memory: { rssBytes: 1, heapUsedBytes: 1 },
        sfu: status,
      },
    };
    expect(RoomListResponse.safeEncode(list).success).toBe(true);
    // A health the schema does not know is refused.
    const wrong = { ...list, serverStats: { ...list.serverStats, sfu: { ...status, health: 'fine' } } };
    expect(RoomListResponse.safeParse(wrong).success).toBe(false);
  });

  it('keep the peerId of each producer in GET /api/rooms/:roomId, as README documents', () => {
    const producer = { producerId: 'p1', peerId: 'alice', kind: 'video', source: 'camera', paused: false };
    const peer = {
      peerId: 'alice',
      displayName: 'Alice',
      mediaState: { audio: true, video: true, screen: false },
      joinedAt: '2026-01-01T00:00:00.000Z',
      producers: [producer],
    };
    expect(RestPeer.parse(peer).producers).toEqual([producer]);
  });

  it('all turn into JSON Schema (for the OpenAPI document)', () => {
    for (const s of [RestSfuStatus, ReadyResponse, NotReadyResponse, RoomListResponse]) {
      expect(() => z.toJSONSchema(s, { io: 'output' })).not.toThrow();
    }
  });
});
