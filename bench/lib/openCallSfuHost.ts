/**
 * OpenCall's side of bench/sfu.ts: the topology built through OpenCall's own classes.
 * MediaWorkerPool.create (numWorkers 1, from OpenCall's real config parsing) places the router and
 * SfuRoom.create asks the pool for it, exactly as a room upgrading to the SFU does.
 *
 * SfuRoom only creates WebRtcTransports and has no accessor for its router, and the benchmark needs
 * PlainTransports (synthetic RTP in, counted RTP out). So the pool handed to SfuRoom.create is the
 * real pool behind a pass-through that remembers the router it returned: the PlainTransports are
 * created on the SfuRoom's own router (created through MediaWorkerPool.createRouter).
 *
 * Env: RTC_PORT (the worker's WebRtcServer port; pick a free one).
 */
import type { types as ms } from 'mediasoup';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { SfuRoom } from '../../src/sfu/SfuRoom.ts';
import type { SfuRouterSource } from '../../src/sfu/SfuRoomTypes.ts';
import { MediaWorkerPool } from '../../workers/MediaWorkerPool.ts';
import { serveTopology } from './sfuTopology.ts';

const config = loadConfig({
  LOG_LEVEL: 'warn',
  MEDIASOUP_NUM_WORKERS: '1',
  RTC_LISTEN_IP: '127.0.0.1',
  ...(process.env.RTC_PORT ? { RTC_PORT: process.env.RTC_PORT } : {}),
});
const logger = createLogger(config.logLevel);
const pool = await MediaWorkerPool.create(config.sfu, logger);
if (!pool.available) {
  process.stderr.write(`openCallSfuHost: pool unavailable: ${pool.unavailableReason}\n`);
  process.exit(1);
}

let router: ms.Router | undefined;
const source: SfuRouterSource = {
  createRouter: async (codecs, appData) => {
    router = await pool.createRouter(codecs, appData);
    return router;
  },
  getWebRtcServer: (r) => pool.getWebRtcServer(r),
  transportListenInfos: () => pool.transportListenInfos(),
};
const room = await SfuRoom.create({ roomId: 'bench-sfu', pool: source, sfuConfig: config.sfu, logger });
const workerPid = pool.getWorkerPids()[0];
if (!router || workerPid === undefined) {
  process.stderr.write('openCallSfuHost: no router or worker pid\n');
  process.exit(1);
}
serveTopology(router, workerPid, 'MediaWorkerPool.create + SfuRoom.create (router via the pool)', () => {
  room.close();
  pool.close();
});
