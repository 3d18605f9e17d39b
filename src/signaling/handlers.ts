import {
  type ClientMessageOf,
  type ClientMessageType,
  type OutgoingMessage,
  type PeerInfo,
  ProtocolError,
} from '../protocol/index.ts';
import type { SfuClientMessage } from '../sfu/ConnectionManagerTypes.ts';
import type { Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/*
 * The dispatch table: one handler per client message type. Handlers get validated messages only,
 * throw ProtocolError for protocol failures, and never trust identities the client sends: the
 * sender's peerId comes from the session.
 */

export type Handler<T extends ClientMessageType> = (
  ctx: SignalingContext,
  session: Session,
  message: ClientMessageOf<T>,
) => void | Promise<void>;

type HandlerTable = { [T in ClientMessageType]: Handler<T> };

/** The session's room and peer id, or NOT_IN_ROOM. */
function membership(session: Session, roomId?: string): { roomId: string; peerId: string } {
  if (session.roomId === undefined || session.peerId === undefined) {
    throw new ProtocolError('NOT_IN_ROOM', 'Join a room first');
  }
  if (roomId !== undefined && roomId !== session.roomId) {
    throw new ProtocolError('NOT_IN_ROOM', `Not in room ${roomId}`);
  }
  return { roomId: session.roomId, peerId: session.peerId };
}

/** A client may name itself in fromPeerId/peerId; naming anyone else is spoofing. */
function assertSelf(claimed: string | undefined, actual: string, field: string): void {
  if (claimed !== undefined && claimed !== actual) {
    throw new ProtocolError('FORBIDDEN', `${field} must be your own peer id`);
  }
}

function withRequestId<M extends OutgoingMessage>(
  message: M,
  requestId: ClientMessageOf<ClientMessageType>['requestId'],
): M {
  if (requestId !== undefined) message.requestId = requestId;
  return message;
}

const joinRoom: Handler<'join-room'> = async (ctx, session, msg) => {
  if (session.roomId !== undefined) {
    throw new ProtocolError(
      'ALREADY_IN_ROOM',
      `This connection is already peer ${session.peerId} in room ${session.roomId}`,
    );
  }
  if (msg.peerId !== undefined && ctx.registry.get(msg.roomId, msg.peerId)) {
    throw new ProtocolError(
      'DUPLICATE_PEER',
      `Peer ${msg.peerId} is already connected to room ${msg.roomId}`,
    );
  }
  const joined = await ctx.rooms.join({
    roomId: msg.roomId,
    ...(msg.peerId !== undefined ? { peerId: msg.peerId } : {}),
    displayName: msg.displayName,
    mediaState: msg.mediaState,
  });
  const { room, self } = joined;
  // The socket may have closed, or another connection may have claimed the id, while we awaited.
  if (!session.isOpen || ctx.registry.get(room.roomId, self.peerId)) {
    await ctx.rooms.leave(room.roomId, self.peerId);
    if (session.isOpen) throw new ProtocolError('DUPLICATE_PEER');
    return;
  }
  session.roomId = room.roomId;
  session.peerId = self.peerId;
  ctx.registry.add(room.roomId, self.peerId, session);
  const media = await ctx.media.peerJoining(room, self.peerId, ctx.registry.countIn(room.roomId));

  // The order of a join, on purpose:
  //   1. room-joined to the joiner, with the room's mode (after this join) and router capabilities;
  //   2. what the join caused that the joiner must hear (an SFU_UNAVAILABLE error, say);
  //   3. to the others, a mode-changed this join caused, so they never start P2P towards a
  //      newcomer that is going straight to the SFU;
  //   4. peer-joined to the others.
  const peers: PeerInfo[] = joined.others.map((p) => ({
    peerId: p.peerId,
    displayName: p.displayName,
    mediaState: p.mediaState,
  }));
  session.send(
    withRequestId(
      {
        type: 'room-joined',
        roomId: room.roomId,
        peerId: self.peerId,
        peers,
        iceServers: ctx.config.iceServers,
        connectionMode: media.mode,
        roomMode: media.roomMode,
        ...(media.routerRtpCapabilities !== undefined
          ? { routerRtpCapabilities: media.routerRtpCapabilities }
          : {}),
      },
      msg.requestId,
    ),
  );
  for (const message of media.toJoiner) session.send(message);
  for (const message of media.toOthers) ctx.registry.broadcast(room.roomId, message, self.peerId);
  ctx.registry.broadcast(
    room.roomId,
    {
      type: 'peer-joined',
      roomId: room.roomId,
      peerId: self.peerId,
      displayName: self.displayName,
      mediaState: self.mediaState,
    },
    self.peerId,
  );
  ctx.logger.info({ roomId: room.roomId, peerId: self.peerId, sessionId: session.id }, 'peer joined');
};

/** Takes the session out of its room: store, registry, broadcast, SFU. Shared by leave, close and heartbeat. */
export async function detachSession(ctx: SignalingContext, session: Session, why: string): Promise<void> {
  const { roomId, peerId } = session;
  if (roomId === undefined || peerId === undefined) return;
  session.roomId = undefined;
  session.peerId = undefined;
  ctx.registry.remove(roomId, peerId, session);
  ctx.registry.broadcast(roomId, { type: 'peer-left', roomId, peerId });
  ctx.media.peerLeft(roomId, peerId, ctx.registry.countIn(roomId));
  ctx.logger.info({ roomId, peerId, sessionId: session.id, why }, 'peer left');
  try {
    await ctx.rooms.leave(roomId, peerId);
  } catch (err) {
    // The peer is gone from this process either way; its stored record expires by TTL.
    ctx.logger.error({ err, roomId, peerId }, 'store leave failed');
  }
}

const leaveRoom: Handler<'leave-room'> = async (ctx, session, msg) => {
  const { roomId, peerId } = membership(session, msg.roomId);
  assertSelf(msg.peerId, peerId, 'peerId');
  await detachSession(ctx, session, 'leave-room');
  session.send(withRequestId({ type: 'room-left', roomId }, msg.requestId));
};

type RelayType = 'offer' | 'answer' | 'ice-candidate';

/**
 * A relay handler. `payload` renders the message's own field (offer, answer or candidate) as JSON;
 * the rest of the frame is written by hand. This is the hot path: the ids in it matched the
 * protocol's Id pattern (letters, digits, `_ . : @ -`: nothing JSON escapes), so the frame is
 * exactly what JSON.stringify would give, at a fraction of the cost. Only validated fields travel
 * on; the client's raw JSON is never forwarded.
 */
function relay<T extends RelayType>(type: T, payload: (m: ClientMessageOf<T>) => string): Handler<T> {
  return (ctx, session, message) => {
    const msg = message as unknown as ClientMessageOf<RelayType>;
    const { roomId, peerId } = membership(session, msg.roomId);
    assertSelf(msg.fromPeerId, peerId, 'fromPeerId');
    if (msg.toPeerId === peerId) throw new ProtocolError('INVALID_MESSAGE', 'toPeerId is your own peer id');
    const target = ctx.registry.get(roomId, msg.toPeerId);
    if (!target) throw new ProtocolError('PEER_NOT_FOUND', `Peer ${msg.toPeerId} is not in room ${roomId}`);
    target.sendRaw(
      `{"type":"${type}","roomId":"${roomId}","fromPeerId":"${peerId}","toPeerId":"${msg.toPeerId}",${payload(message)},"timestamp":${Date.now()}}`,
    );
  };
}

const mediaStateChanged: Handler<'media-state-changed'> = async (ctx, session, msg) => {
  const { roomId, peerId } = membership(session, msg.roomId);
  assertSelf(msg.peerId, peerId, 'peerId');
  const stored = await ctx.rooms.store.updateMediaState(roomId, peerId, msg.mediaState);
  if (!stored) throw new ProtocolError('PEER_NOT_FOUND', 'Your membership expired; join again');
  const out: OutgoingMessage = { type: 'media-state-changed', roomId, peerId, mediaState: msg.mediaState };
  ctx.registry.broadcast(roomId, out, peerId);
  // The sender gets the same message as its acknowledgement when it asked for one.
  if (msg.requestId !== undefined) session.send(withRequestId({ ...out }, msg.requestId));
};

const ping: Handler<'ping'> = (_ctx, session, msg) => {
  session.missedPongs = 0;
  session.send(withRequestId({ type: 'pong' }, msg.requestId));
};

async function sfu(ctx: SignalingContext, session: Session, msg: SfuClientMessage): Promise<void> {
  const { roomId, peerId } = membership(session);
  const reply = await ctx.media.handle(roomId, peerId, msg);
  if (reply) session.send(withRequestId(reply, msg.requestId));
}

export const handlers: HandlerTable = {
  'join-room': joinRoom,
  'leave-room': leaveRoom,
  offer: relay('offer', (m) => `"offer":{"type":"offer","sdp":${JSON.stringify(m.offer.sdp)}}`),
  answer: relay('answer', (m) => `"answer":{"type":"answer","sdp":${JSON.stringify(m.answer.sdp)}}`),
  'ice-candidate': relay('ice-candidate', (m) => `"candidate":${JSON.stringify(m.candidate)}`),
  'media-state-changed': mediaStateChanged,
  ping,
  'sfu-join': sfu,
  'sfu-create-transport': sfu,
  'sfu-connect-transport': sfu,
  'sfu-produce': sfu,
  'sfu-consume': sfu,
  'sfu-resume-consumer': sfu,
  'sfu-pause-consumer': sfu,
  'sfu-pause-producer': sfu,
  'sfu-resume-producer': sfu,
  'sfu-close-producer': sfu,
  'sfu-restart-ice': sfu,
  'sfu-transport-failed': sfu,
  'sfu-ready': sfu,
  'p2p-ready': sfu,
};
