import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, ServerMessage } from '../../../src/protocol/index.ts';
import { fuzzFrame } from '../../helpers/fuzzFrames.ts';
import { startRedisServer } from '../../helpers/redisServer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';
import { freePortBase } from '../sfu/sfuTestEnv.ts';

/*
 * Property-based fuzzing over real sockets: sequences of frames of every client message type
 * (random, mutated, truncated, wrongly typed fields; see test/helpers/fuzzFrames.ts). After each
 * sequence: the server answers, everything it sent is a valid server message (errors with a
 * protocol code), nothing was rejected unhandled, and the store agrees with the sockets.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);

const setups = [
  { name: 'memory store', env: async () => ({}) as Record<string, string>, stop: async () => {} },
  (() => {
    let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    return {
      name: 'redis store',
      env: async (): Promise<Record<string, string>> => {
        redis ??= await startRedisServer();
        return { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `fz${Date.now()}:` };
      },
      stop: async () => redis?.stop(),
    };
  })(),
  {
    name: 'SFU room on a real worker',
    env: async (): Promise<Record<string, string>> => ({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(await freePortBase(1)),
      RTC_LISTEN_IP: '127.0.0.1',
    }),
    stop: async () => {},
  },
];

describe.each(setups)('fuzzed messages ($name)', (setup) => {
  let server: TestServer;
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => rejections.push(reason);

  beforeAll(async () => {
    process.on('unhandledRejection', onRejection);
    server = await startServer({
      ...(await setup.env()),
      WS_RATE_LIMIT_PER_S: '0',
      WS_READ_BYTES_PER_S: '0',
    });
    await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'room-1', mode: 'sfu' },
    });
  });
  afterAll(async () => {
    process.off('unhandledRejection', onRejection);
    await server?.close();
    await setup.stop();
  });

  it('never crashes, answers with valid messages and protocol codes, and keeps the store consistent', async () => {
    let frames = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzFrame, { minLength: 1, maxLength: 40 }), async (sequence) => {
        const target = await TestClient.connect(server.wsUrl);
        await target.join('room-1', 'peer-2');
        const fuzzer = await TestClient.connect(server.wsUrl);
        for (const frame of sequence) fuzzer.send(frame);
        frames += sequence.length;
        // A session handles its messages in order: the pong comes after every answer to them.
        expect(await fuzzer.request({ type: 'ping', requestId: 'fuzz-end' }, 10_000)).toMatchObject({
          type: 'pong',
        });
        for (const message of [...fuzzer.received, ...target.received]) {
          expect(ServerMessage.safeParse(message).success, JSON.stringify(message).slice(0, 300)).toBe(true);
          if (message.type === 'error') expect(ErrorCode.options).toContain(message.code);
        }
        await fuzzer.close();
        await target.close();
        // Every socket is gone: the registry and the store must say so too.
        await expect.poll(() => server.app.registry.size, { timeout: 5000 }).toBe(0);
        const rooms = await server.app.rooms.store.listRooms();
        for (const { room, peerCount } of rooms) {
          const peers = await server.app.rooms.store.getPeers(room.roomId);
          expect(peers.length).toBe(peerCount);
          expect(peers.map((p) => p.peerId)).toEqual([]);
        }
        expect(rejections).toEqual([]);
      }),
      { numRuns: RUNS },
    );
    expect(frames).toBeGreaterThan(RUNS);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});
