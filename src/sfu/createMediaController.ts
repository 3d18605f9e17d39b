import { MediaWorkerPool } from '../../workers/MediaWorkerPool.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import { ConnectionManager } from './ConnectionManager.ts';
import type { RoomMediaController, RoomMessenger } from './ConnectionManagerTypes.ts';

/**
 * Starts the media workers when the SFU is enabled. The server starts even when no worker can:
 * the pool then reports why, /ready says `sfu: unavailable`, and rooms stay P2P.
 */
export async function createMediaController(
  config: Readonly<Config>,
  messenger: RoomMessenger,
  logger: Logger,
): Promise<RoomMediaController> {
  let pool: MediaWorkerPool | undefined;
  if (config.sfu.enabled) {
    pool = await MediaWorkerPool.create(config.sfu, logger);
    if (!pool.available) {
      logger.error(
        { reason: pool.unavailableReason },
        'SFU unavailable: no media worker could start; rooms stay P2P',
      );
    }
  }
  const manager = new ConnectionManager({ sfuConfig: config.sfu, pool, messenger, logger });
  await manager.prepare();
  return manager;
}
