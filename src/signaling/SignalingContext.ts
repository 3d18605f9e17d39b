import type { TokenVerifier } from '../auth/TokenVerifier.ts';
import type { ClusterBus } from '../cluster/ClusterBus.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/Metrics.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import type { PeerParking } from './PeerParking.ts';
import type { PeerRegistry } from './PeerRegistry.ts';
import type { WaitingRoom } from './WaitingRoom.ts';

/** What the app hands the signaling plugin. */
export interface SignalingOptions {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly rooms: RoomService;
  readonly registry: PeerRegistry;
  readonly media: RoomMediaController;
  /** Prometheus series (/metrics). */
  readonly metrics: Metrics;
  /** Verifies join tokens; undefined while auth is off. */
  readonly auth: TokenVerifier | undefined;
  /** The other nodes on the same Redis; undefined for a single node (memory store). */
  readonly cluster?: ClusterBus | undefined;
}

/** Everything a message handler may use. */
export interface SignalingContext extends SignalingOptions {
  /** Dropped peers waiting for their resumeToken. */
  readonly parking: PeerParking;
  /** Newcomers held until a host admits them. */
  readonly waiting: WaitingRoom;
}
