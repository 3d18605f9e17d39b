import type { MediaState, PeerInfo, ServerMessage, ServerMessageOf } from '../protocol/index.ts';
import type { E2eeKeys } from './e2ee/E2eeKeys.ts';
import type { FileTransfer } from './FileTransfer.ts';
import type { MediaPaths } from './MediaPaths.ts';
import type { ModeSwitcher } from './ModeSwitcher.ts';
import type { RemotePeers } from './RemotePeers.ts';
import { dispatchPush, type PushHandlers } from './ServerPushes.ts';
import { mediaStateFlag } from './sources.ts';
import { OpenCallError, type OpenCallEvents } from './types.ts';

/** Errors about messages whose outcome no longer matters (a race with a mode change). */
const QUIET_RELATED_TYPES = new Set(['sfu-ready', 'p2p-ready', 'ping']);

/** What the push handlers act on: the client's parts, and its events. */
export interface RoomPushTargets {
  selfId(): string | undefined;
  peers: RemotePeers;
  paths: MediaPaths;
  switcher: ModeSwitcher;
  files: FileTransfer;
  e2ee: E2eeKeys;
  emit<K extends keyof OpenCallEvents>(event: K, payload: OpenCallEvents[K]): void;
  /** The room is gone for us (room-closed). */
  end(reason: string): void;
  /** A host asked us to mute these. */
  mute(kinds: Array<'audio' | 'video' | 'screen'>): void;
  /** A host sent us to another room of the meeting (breakout rooms). */
  move(message: ServerMessageOf<'move-to-room'>): void;
  log(...args: unknown[]): void;
}

/**
 * What the SDK does with each message the server pushes in a room. Typed by the protocol table
 * (PushHandlers): one entry per pushed type, or the build fails.
 */
export function roomPushHandlers(t: RoomPushTargets): PushHandlers {
  const sfu = (m: Parameters<NonNullable<MediaPaths['sfu']>['handle']>[0]) => t.paths.sfu?.handle(m);
  return {
    'peer-joined': (m) => peerJoined(t, m),
    'peer-left': (m) => {
      t.paths.removePeer(m.peerId);
      t.files.peerLeft(m.peerId);
      void t.e2ee.peerLeft(m.peerId);
      const info = t.peers.left(m.peerId);
      if (info) t.emit('peer-left', { peerId: m.peerId, displayName: info.displayName });
    },
    'media-state-changed': (m) => remoteMediaState(t, m.peerId, m.mediaState),
    offer: (m) => void t.paths.mesh?.handleDescription(m.fromPeerId, m.offer),
    answer: (m) => void t.paths.mesh?.handleDescription(m.fromPeerId, m.answer),
    'ice-candidate': (m) => void t.paths.mesh?.handleCandidate(m.fromPeerId, m.candidate),
    'file-ack': (m) => t.files.handleAck(m),
    'e2ee-key': (m) => void t.e2ee.receive(m.fromPeerId, m.payload),
    error: (m) => serverError(t, m),
    'room-closed': (m) => t.end(`room closed: ${m.reason}`),
    'chat-message': (m) => t.emit('chat', { message: m.message }),
    'room-access': ({ locked, hasPassword, waitingRoom }) =>
      t.emit('room-access', { locked, hasPassword, waitingRoom }),
    waiting: ({ roomId, peerId }) => t.emit('waiting', { roomId, peerId }),
    knock: ({ peerId, displayName }) => t.emit('knock', { peerId, displayName }),
    'knock-ended': ({ peerId, outcome }) => t.emit('knock-ended', { peerId, outcome }),
    kicked: (m) => {
      t.emit('kicked', { reason: m.reason });
      t.end(`kicked: ${m.reason}`);
    },
    'mute-requested': (m) => {
      t.mute(m.kinds);
      t.emit('mute-requested', { byPeerId: m.byPeerId, kinds: m.kinds });
    },
    'recording-started': (m) =>
      t.emit('recording-started', { recordingId: m.recordingId, startedAt: m.startedAt }),
    'recording-stopped': ({ recordingId, path, sizeBytes, durationS }) =>
      t.emit('recording-stopped', { recordingId, path, sizeBytes, durationS }),
    'active-speaker': (m) => t.emit('active-speaker', { peerId: m.peerId }),
    breakouts: (m) => t.emit('breakouts', { roomId: m.roomId, breakouts: m.breakouts }),
    'move-to-room': (m) => t.move(m),
    'breakout-message': (m) =>
      t.emit('breakout-message', { fromPeerId: m.fromPeerId, text: m.text, sentAt: m.sentAt }),
    'ice-servers-updated': (m) => t.paths.updateIceServers(m.iceServers),
    // The socket closes next; the reconnect loop takes over from there.
    'server-shutdown': (m) => t.log('server shutting down:', m.reason),
    'mode-changed': (m) => {
      t.log('mode', m.previousMode, '->', m.mode, m.reason ?? '');
      t.switcher.changed(m.mode, m.previousMode, m.routerRtpCapabilities);
    },
    'sfu-prewarm': (m) => t.switcher.prewarm(m.active, m.routerRtpCapabilities),
    'sfu-restart': (m) => {
      t.log('sfu restart:', m.reason);
      t.switcher.restarted(m.routerRtpCapabilities);
    },
    'sfu-new-producer': sfu,
    'sfu-producer-closed': sfu,
    'sfu-consumer-closed': sfu,
    'sfu-producer-paused': sfu,
    'sfu-producer-resumed': sfu,
    'sfu-consumer-paused': sfu,
    'sfu-consumer-resumed': sfu,
    'sfu-new-data-producer': sfu,
    'sfu-data-consumer-closed': sfu,
  };
}

/** Hands each pushed message to its handler; one the SDK does not know becomes `unknownMessage`. */
export function roomPushDispatcher(t: RoomPushTargets): (message: ServerMessage) => void {
  const handlers = roomPushHandlers(t);
  return (message) => dispatchPush(handlers, message, (m) => unknownPush(t, m));
}

/** A type this SDK does not know (a newer server): the app may know what to do with it. */
export function unknownPush(t: Pick<RoomPushTargets, 'emit' | 'log'>, message: ServerMessage): void {
  t.log('unknown server message', message.type);
  t.emit('unknownMessage', { type: message.type, message });
}

function peerJoined(t: RoomPushTargets, m: ServerMessageOf<'peer-joined'>): void {
  if (m.peerId === t.selfId()) return;
  const info: PeerInfo = { peerId: m.peerId, displayName: m.displayName, mediaState: m.mediaState };
  t.e2ee.peerJoined(m.peerId);
  if (t.peers.joined(info) === 'again') {
    // The same peer again (it reconnected): its old connection is dead on its side.
    t.paths.mesh?.close(m.peerId);
    t.paths.registry.removePeer(m.peerId);
  } else {
    t.emit('peer-joined', { ...info, mediaState: { ...info.mediaState } });
  }
  // A mode change the join caused reached us before this peer-joined (the server sends them in
  // that order), so the mode we are in already says whether the newcomer gets P2P.
  if (t.switcher.allowsNewP2P) t.paths.mesh?.ensure(m.peerId);
}

function remoteMediaState(t: RoomPushTargets, peerId: string, mediaState: MediaState): void {
  if (peerId === t.selfId() || !t.peers.setMediaState(peerId, mediaState)) return;
  for (const source of ['mic', 'camera'] as const) {
    t.paths.setRemotePaused(peerId, source, !mediaState[mediaStateFlag(source)]);
  }
  t.emit('media-state-changed', { peerId, mediaState: { ...mediaState } });
}

function serverError(t: RoomPushTargets, m: ServerMessageOf<'error'>): void {
  const error = new OpenCallError(m.code, m.error, {
    ...(m.requestId !== undefined ? { requestId: m.requestId } : {}),
    ...(m.relatedType !== undefined ? { relatedType: m.relatedType } : {}),
  });
  if (m.code === 'SFU_UNAVAILABLE' || m.code === 'SFU_WORKER_DIED') {
    t.log('SFU failed:', m.code);
    t.switcher.sfuFailed();
  }
  if (m.relatedType !== undefined && QUIET_RELATED_TYPES.has(m.relatedType)) {
    t.log('ignored error', m.code, 'for', m.relatedType);
    return;
  }
  t.emit('error', error);
}
