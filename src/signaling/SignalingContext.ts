import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import type { PeerRegistry } from './PeerRegistry.ts';

/** Everything a message handler may use. */
export interface SignalingContext {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly rooms: RoomService;
  readonly registry: PeerRegistry;
  readonly media: RoomMediaController;
}
