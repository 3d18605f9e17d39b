import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { RoomMediaController, RoomMessenger } from './ConnectionManagerTypes.ts';
import { P2pOnlyController } from './P2pOnlyController.ts';

/** Starts the SFU side when enabled; the server starts even when no media worker can. */
export async function createMediaController(
  _config: Readonly<Config>,
  _messenger: RoomMessenger,
  _logger: Logger,
): Promise<RoomMediaController> {
  return new P2pOnlyController();
}
