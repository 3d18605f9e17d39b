/**
 * OpenCall browser SDK: `OpenCallClient` joins a room over the signaling WebSocket and handles the
 * P2P mesh, the SFU and the switches between them. See OpenCallClient.ts for the API.
 */
export type { ChatMessage } from '../protocol/index.ts';
export { Chat } from './Chat.ts';
export { Emitter, type EventMap, type Listener } from './Emitter.ts';
export { HostControls, type MuteKind } from './HostControls.ts';
export {
  isPolite,
  opensFirst,
} from './negotiation.ts';
export { OpenCallClient } from './OpenCallClient.ts';
export { SCREEN_STREAM_TAG, sourceFromStreamId, USER_STREAM_TAG } from './sources.ts';
export {
  type ClientErrorCode,
  type ClientState,
  type ConnectionMode,
  type ConnectOptions,
  type IceServer,
  type LocalTrackEvent,
  type MediaKind,
  type MediaPath,
  type MediaSource,
  type MediaState,
  type OpenCallClientOptions,
  OpenCallError,
  type OpenCallEvents,
  type PeerInfo,
  type ReconnectOptions,
  type RemoteTrackEvent,
  type RemoteTrackInfo,
  type RemoteTrackRemovedEvent,
  type RemoteTrackStats,
  type RoomInfo,
} from './types.ts';
