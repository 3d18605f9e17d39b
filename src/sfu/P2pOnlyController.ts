import { ProtocolError } from '../protocol/index.ts';
import type { RoomMediaController, SfuStatus } from './ConnectionManagerTypes.ts';

/** A media controller for a server without an SFU: every room is P2P, every SFU request refused. */
export class P2pOnlyController implements RoomMediaController {
  modeOf(): 'p2p' {
    return 'p2p';
  }
  routerRtpCapabilities(): undefined {
    return undefined;
  }
  async peerJoining(): Promise<void> {}
  peerJoined(): void {}
  peerLeft(): void {}
  roomClosed(): void {}
  async handle(): Promise<undefined> {
    throw new ProtocolError('SFU_NOT_ACTIVE');
  }
  producersOf(): [] {
    return [];
  }
  status(): SfuStatus {
    return { enabled: false, available: false, reason: 'SFU disabled', workers: 0, routers: 0 };
  }
  async close(): Promise<void> {}
}
