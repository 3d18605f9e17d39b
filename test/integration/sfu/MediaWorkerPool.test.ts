import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { types as ms } from 'mediasoup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../src/protocol/errors.ts';
import { routerMediaCodecs } from '../../../src/sfu/mediaCodecs.ts';
import { MediaWorkerPool, type WorkerDiedEvent, type WorkerReplacedEvent } from '../../../workers/index.ts';
import { waitFor } from '../../helpers/mscPeer.ts';
import { freePortBase, nextEvent, sfuTestConfig, testLogger } from './sfuTestEnv.ts';

const codecs = () => routerMediaCodecs.map((c) => ({ ...c }));

/** An Opus producer on a DirectTransport: a stream that counts as load without any WebRTC. */
async function addDirectProducer(router: ms.Router): Promise<ms.Producer> {
  const transport = await router.createDirectTransport();
  return transport.produce({
    kind: 'audio',
    rtpParameters: {
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: 1111 }],
    },
  });
}

describe('MediaWorkerPool with real mediasoup workers', () => {
  let pool: MediaWorkerPool;
  let basePort: number;

  beforeAll(async () => {
    basePort = await freePortBase(2);
    pool = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 2, rtcPort: basePort }), testLogger());
    if (!pool.available) throw new Error(`worker pool unavailable: ${pool.unavailableReason}`);
  });

  afterAll(() => {
    pool?.close();
  });

  it('starts N workers, each with a WebRtcServer on rtcPort + index (UDP and TCP)', async () => {
    expect(pool.size).toBe(2);
    expect(pool.runningWorkers).toBe(2);
    expect(pool.usesWebRtcServer).toBe(true);
    expect(pool.unavailableReason).toBeUndefined();
    const pids = pool.getWorkerPids();
    expect(pids.every((pid) => typeof pid === 'number' && pid > 0)).toBe(true);
    expect(new Set(pids).size).toBe(2);

    const dump = await pool.dump();
    expect(dump.available).toBe(true);
    for (const [index, worker] of dump.workers.entries()) {
      expect(worker.state).toBe('running');
      expect(worker.port).toBe(basePort + index);
      expect(worker.webRtcServerIds).toHaveLength(1);
      expect(worker.listening?.udp).toEqual([{ ip: '127.0.0.1', port: basePort + index }]);
      expect(worker.listening?.tcp).toEqual([{ ip: '127.0.0.1', port: basePort + index }]);
    }
    const usage = await pool.getResourceUsage();
    expect(usage.map((u) => u.index)).toEqual([0, 1]);
    expect(usage[0]?.usage.ru_maxrss).toBeGreaterThan(0);
  });

  it('places routers on the least-loaded worker, as worker.dump() shows', async () => {
    const routers = await Promise.all([1, 2, 3, 4].map(() => pool.createRouter(codecs())));
    const dump = await pool.dump();
    expect(dump.workers.map((w) => w.routerIds.length)).toEqual([2, 2]);
    for (const router of routers) {
      const index = pool.getWorkerIndex(router);
      expect(index).toBeDefined();
      expect(dump.workers[index ?? -1]?.routerIds).toContain(router.id);
      expect(pool.getWebRtcServer(router)?.id).toBe(dump.workers[index ?? -1]?.webRtcServerIds[0]);
    }

    // Free one router on worker 1: it becomes the least loaded and gets the next router.
    const onWorker1 = routers.find((r) => pool.getWorkerIndex(r) === 1);
    onWorker1?.close();
    const next = await pool.createRouter(codecs());
    expect(pool.getWorkerIndex(next)).toBe(1);

    // Streams weigh more than routers: a producer on worker 0 sends new routers to worker 1 even
    // when worker 1 holds more (idle) routers.
    const onWorker0 = routers.find((r) => pool.getWorkerIndex(r) === 0);
    if (!onWorker0) throw new Error('no router on worker 0');
    const producer = await addDirectProducer(onWorker0);
    const third = await pool.createRouter(codecs());
    expect(pool.getWorkerIndex(third)).toBe(1);
    expect((await pool.dump()).workers.map((w) => w.load)).toEqual([
      { streams: 1, routers: 2 },
      { streams: 0, routers: 3 },
    ]);
    producer.close();

    for (const router of [...routers, next, third]) router.close();
    const after = await pool.dump();
    expect(after.workers.map((w) => w.routerIds)).toEqual([[], []]);
    expect(after.workers.map((w) => w.load)).toEqual([
      { streams: 0, routers: 0 },
      { streams: 0, routers: 0 },
    ]);
  });

  it('rejects bad router codecs with MEDIA_ERROR and stays healthy', async () => {
    const bad = [
      { kind: 'video', mimeType: 'video/NOPE', clockRate: 90000 },
    ] as ms.RouterRtpCodecCapability[];
    await expect(pool.createRouter(bad)).rejects.toMatchObject({ code: 'MEDIA_ERROR' });
    expect(pool.runningWorkers).toBe(2);
  });

  it('replaces a SIGKILLed worker on the same port and tells which routers died', async () => {
    const routers = await Promise.all([1, 2].map(() => pool.createRouter(codecs())));
    const victim = routers.find((r) => pool.getWorkerIndex(r) === 0);
    if (!victim) throw new Error('no router on worker 0');
    const survivor = routers.find((r) => r !== victim);
    let routerWorkerClosed = false;
    victim.on('workerclose', () => {
      routerWorkerClosed = true;
    });

    const died = nextEvent<WorkerDiedEvent>(pool, 'workerdied');
    const replaced = nextEvent<WorkerReplacedEvent>(pool, 'workerreplaced');
    const pid = pool.killWorkerForTest(0);

    const diedEvent = await died;
    expect(diedEvent).toMatchObject({ workerIndex: 0, pid, routerIds: [victim.id] });
    expect(diedEvent.error).toMatch(/SIGKILL/);
    expect(victim.closed).toBe(true);
    expect(routerWorkerClosed).toBe(true);
    expect(survivor?.closed).toBe(false);

    const replacedEvent = await replaced;
    expect(replacedEvent).toMatchObject({ workerIndex: 0, previousPid: pid, port: basePort });
    expect(replacedEvent.pid).not.toBe(pid);
    expect(pool.getWorkerPids()[0]).toBe(replacedEvent.pid);
    expect(pool.available).toBe(true);

    const dump = await pool.dump();
    expect(dump.workers[0]).toMatchObject({ state: 'running', pid: replacedEvent.pid, routerIds: [] });
    expect(dump.workers[0]?.listening?.udp).toEqual([{ ip: '127.0.0.1', port: basePort }]);

    // The new worker takes routers again (worker 0 is now the least loaded).
    const fresh = await pool.createRouter(codecs());
    expect(pool.getWorkerIndex(fresh)).toBe(0);
    fresh.close();
    survivor?.close();
    // And this process is still here to tell it.
    expect(process.exitCode ?? 0).toBe(0);
  });

  it('close() closes every worker and router; createRouter then rejects', async () => {
    const basePort2 = await freePortBase(1);
    const own = await MediaWorkerPool.create(
      sfuTestConfig({ numWorkers: 1, rtcPort: basePort2 }),
      testLogger(),
    );
    const router = await own.createRouter(codecs());
    const closed = nextEvent(own, 'close');
    own.close();
    await closed;
    expect(router.closed).toBe(true);
    expect(own.available).toBe(false);
    expect(own.unavailableReason).toMatch(/closed/);
    await expect(own.createRouter(codecs())).rejects.toMatchObject({ code: 'SFU_UNAVAILABLE' });
  });
});

describe('MediaWorkerPool without a usable worker', () => {
  it('reports available=false with a reason when the worker binary is missing, and does not throw', async () => {
    const pool = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 2 }), testLogger(), {
      workerBin: '/nonexistent/mediasoup-worker',
    });
    expect(pool.available).toBe(false);
    expect(pool.runningWorkers).toBe(0);
    expect(pool.unavailableReason).toMatch(/no mediasoup worker could start/);
    expect(pool.unavailableReason).toMatch(/ENOENT/);
    const error = await pool.createRouter(codecs()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'SFU_UNAVAILABLE' });
    expect((error as Error).message).toMatch(/ENOENT/);
    expect((await pool.dump()).workers.map((w) => w.state)).toEqual(['failed', 'failed']);
    pool.close();
  });

  it('retries in the background while its port is taken, and becomes available once it is free', async () => {
    const port = await freePortBase(1);
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(port, '127.0.0.1', resolve));
    const pool = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 1, rtcPort: port }), testLogger(), {
      restartBackoffMs: 5,
      maxRestartBackoffMs: 20,
    });
    try {
      expect(pool.available).toBe(false);
      expect(pool.unavailableReason).toMatch(/restart in progress/);
      expect(pool.status()).toMatchObject({
        health: 'unavailable',
        down: [
          { index: 0, state: 'restarting', port, reason: expect.stringMatching(/address already in use/) },
        ],
      });
      await expect(pool.createRouter(codecs())).rejects.toMatchObject({ code: 'SFU_UNAVAILABLE' });
      // It does not give up: well past the 8 tries of old, it is still at it.
      await waitFor(() => (pool.status().down[0]?.attempts ?? 0) >= 12, '12 tries', 10_000);
      expect(pool.status().down[0]?.state).toBe('restarting');
      const replaced = nextEvent<WorkerReplacedEvent>(pool, 'workerreplaced');
      await new Promise<void>((resolve) => squatter.close(resolve));
      expect(await replaced).toMatchObject({ workerIndex: 0, previousPid: undefined, port });
      expect(pool.available).toBe(true);
      const router = await pool.createRouter(codecs());
      expect(pool.getWorkerIndex(router)).toBe(0);
    } finally {
      pool.close();
    }
  });

  it('reports available=false when the SFU is disabled or has zero workers', async () => {
    const disabled = await MediaWorkerPool.create(sfuTestConfig({ enabled: false }), testLogger());
    expect(disabled.available).toBe(false);
    expect(disabled.unavailableReason).toMatch(/disabled/);
    const none = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 0 }), testLogger());
    expect(none.available).toBe(false);
    expect(none.unavailableReason).toMatch(/MEDIASOUP_NUM_WORKERS/);
    disabled.close();
    none.close();
  });

  it('in a child process with MEDIASOUP_WORKER_BIN pointing nowhere, the process lives on', async () => {
    const poolModule = fileURLToPath(new URL('../../../workers/MediaWorkerPool.ts', import.meta.url));
    const script = `
      const { MediaWorkerPool } = await import(${JSON.stringify(poolModule)});
      const { pino } = await import('pino');
      const config = ${JSON.stringify(sfuTestConfig({ numWorkers: 1 }))};
      const pool = await MediaWorkerPool.create(config, pino({ level: 'silent' }));
      const error = await pool.createRouter([]).catch((e) => e);
      console.log(JSON.stringify({ available: pool.available, reason: pool.unavailableReason, code: error.code }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, MEDIASOUP_WORKER_BIN: '/nonexistent/bin/mediasoup-worker' },
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      timeout: 20_000,
    });
    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}');
    expect(result).toMatchObject({ available: false, code: 'SFU_UNAVAILABLE' });
    expect(result.reason).toMatch(/ENOENT/);
  });
});
