import { type ClientMessageOf, ProtocolError, type SignalingMessageType } from '../protocol/index.ts';
import type { RoomAccess, RoomRecord } from '../rooms/RoomTypes.ts';
import { detachSession, enterRoom, type Handler, releaseParked } from './handlers.ts';
import { ParkedPeer } from './PeerParking.ts';
import { RemotePeer } from './RemotePeer.ts';
import { accessView, hashPassword, isHost, OPEN_ACCESS } from './roomAccess.ts';
import { CloseCode, Session } from './Session.ts';
import type { SessionHandle } from './SessionTypes.ts';
import type { SignalingContext } from './SignalingContext.ts';
import type { Guest } from './WaitingRoom.ts';

/*
 * What a room's host may do: lock it, set a password, turn the waiting room on, admit or deny
 * guests, remove a peer, ask a peer to mute. Anyone else gets FORBIDDEN.
 */

type HostMessageType = Extract<
  SignalingMessageType,
  | 'lock-room'
  | 'set-room-password'
  | 'set-waiting-room'
  | 'admit-peer'
  | 'deny-peer'
  | 'kick-peer'
  | 'mute-peer'
>;

/** The host's room, or NOT_IN_ROOM / FORBIDDEN. */
export async function hostRoom(
  ctx: SignalingContext,
  session: Session,
): Promise<{ room: RoomRecord; peerId: string }> {
  const { roomId, peerId } = session;
  if (roomId === undefined || peerId === undefined)
    throw new ProtocolError('NOT_IN_ROOM', 'Join a room first');
  const room = await ctx.rooms.store.getRoom(roomId);
  if (!room) throw new ProtocolError('NOT_IN_ROOM', 'The room is gone');
  if (!isHost(room, peerId, session.role))
    throw new ProtocolError('FORBIDDEN', 'Only the room host may do this');
  return { room, peerId };
}

/** Stores new settings and tells the whole room (never the password). */
async function changeAccess(
  ctx: SignalingContext,
  session: Session,
  change: (access: RoomAccess) => RoomAccess,
  reply: (body: ReturnType<typeof accessView>) => ReturnType<Parameters<Handler<'lock-room'>>[3]>,
) {
  const { room, peerId } = await hostRoom(ctx, session);
  const updated = await ctx.rooms.store.setRoomAccess(room.roomId, change(room.access ?? OPEN_ACCESS));
  if (!updated) throw new ProtocolError('NOT_IN_ROOM', 'The room is gone');
  ctx.rooms.remember(updated);
  const view = accessView(room.roomId, updated.access);
  ctx.registry.broadcast(room.roomId, { ...view }, peerId);
  ctx.logger.info(
    { roomId: room.roomId, peerId, locked: view.locked, waitingRoom: view.waitingRoom },
    'room access changed',
  );
  return reply(view);
}

/** The target peer of a host action, in the host's room. */
function target(ctx: SignalingContext, roomId: string, msg: ClientMessageOf<'kick-peer' | 'mute-peer'>) {
  const handle = ctx.registry.get(roomId, msg.peerId);
  if (!handle) throw new ProtocolError('PEER_NOT_FOUND', `Peer ${msg.peerId} is not in room ${roomId}`);
  return handle;
}

export const hostHandlers: { [T in HostMessageType]: Handler<T> } = {
  'lock-room': (ctx, session, msg, reply) =>
    changeAccess(ctx, session, (a) => ({ ...a, locked: msg.locked }), reply),

  'set-room-password': (ctx, session, msg, reply) =>
    changeAccess(
      ctx,
      session,
      (a) => ({ ...a, passwordHash: msg.password === null ? null : hashPassword(msg.password) }),
      reply,
    ),

  'set-waiting-room': (ctx, session, msg, reply) =>
    changeAccess(ctx, session, (a) => ({ ...a, waitingRoom: msg.enabled }), reply),

  'admit-peer': async (ctx, session, msg, reply) => {
    const { room } = await hostRoom(ctx, session);
    const guest = ctx.waiting.take(room.roomId, msg.peerId);
    if (guest) await admitGuest(ctx, room.roomId, guest);
    else if (ctx.cluster?.hasOtherNodes)
      ctx.cluster.sendToAll('W', room.roomId, msg.peerId, JSON.stringify({ admit: true }));
    else throw new ProtocolError('PEER_NOT_FOUND', `${msg.peerId} is not waiting`);
    return reply({ type: 'host-action-done', action: 'admit', peerId: msg.peerId });
  },

  'deny-peer': async (ctx, session, msg, reply) => {
    const { room } = await hostRoom(ctx, session);
    const guest = ctx.waiting.take(room.roomId, msg.peerId);
    if (guest) denyGuest(ctx, room.roomId, guest, msg.reason);
    else if (ctx.cluster?.hasOtherNodes) {
      ctx.cluster.sendToAll(
        'W',
        room.roomId,
        msg.peerId,
        JSON.stringify({ admit: false, reason: msg.reason }),
      );
      // The guest's node knows nobody in the room: the denial is announced from here.
      const ended = {
        type: 'knock-ended',
        roomId: room.roomId,
        peerId: msg.peerId,
        outcome: 'denied',
      } as const;
      ctx.registry.broadcast(room.roomId, ended);
    } else throw new ProtocolError('PEER_NOT_FOUND', `${msg.peerId} is not waiting`);
    return reply({ type: 'host-action-done', action: 'deny', peerId: msg.peerId });
  },

  'kick-peer': async (ctx, session, msg, reply) => {
    const { room, peerId } = await hostRoom(ctx, session);
    if (msg.peerId === peerId) throw new ProtocolError('INVALID_MESSAGE', 'Use leave-room to leave');
    const handle = target(ctx, room.roomId, msg);
    await removePeer(ctx, room.roomId, handle, msg.reason ?? 'Removed by the host');
    ctx.logger.info({ roomId: room.roomId, peerId: msg.peerId, by: peerId }, 'peer kicked');
    return reply({ type: 'host-action-done', action: 'kick', peerId: msg.peerId });
  },

  'mute-peer': async (ctx, session, msg, reply) => {
    const { room, peerId } = await hostRoom(ctx, session);
    target(ctx, room.roomId, msg).send({
      type: 'mute-requested',
      roomId: room.roomId,
      byPeerId: peerId,
      kinds: msg.kinds,
    });
    return reply({ type: 'host-action-done', action: 'mute', peerId: msg.peerId });
  },
};

/**
 * Lets a waiting guest in: the room hears knock-ended, the guest's own join-room is answered now
 * (its failure — the room filled up — is the guest's error). In a cluster a host's admit reaches
 * the guest's node over the bus (a `W` envelope) and runs this there.
 */
export async function admitGuest(ctx: SignalingContext, roomId: string, guest: Guest): Promise<void> {
  // Announced once the guest is in: by then this node reaches the room's peers on every node.
  const announce = () =>
    ctx.registry.broadcast(
      roomId,
      { type: 'knock-ended', roomId, peerId: guest.peerId, outcome: 'admitted' },
      guest.peerId,
    );
  await enterRoom(ctx, guest.session, guest.message, guest.reply, true).then(announce, (err: unknown) => {
    announce();
    const error = err instanceof ProtocolError ? err : new ProtocolError('INTERNAL');
    guest.session.sendError(error.code, error.message, {
      requestId: guest.message.requestId,
      relatedType: 'join-room',
    });
  });
}

/** Turns a waiting guest away: FORBIDDEN to its join-room, knock-ended to the room. */
export function denyGuest(
  ctx: SignalingContext,
  roomId: string,
  guest: Guest,
  reason: string | undefined,
  announce = true,
): void {
  guest.session.sendError('FORBIDDEN', reason ?? 'The host did not let you in', {
    requestId: guest.message.requestId,
    relatedType: 'join-room',
  });
  guest.session.awaitJoin(ctx.config.joinTimeoutMs);
  // When the host's node forwarded the denial, it announces it itself (it reaches every node).
  if (announce)
    ctx.registry.broadcast(roomId, { type: 'knock-ended', roomId, peerId: guest.peerId, outcome: 'denied' });
}

/**
 * Takes a peer out for a host (kick-peer): `kicked`, then leave and close for a live session, the
 * end of its window for a parked one; a peer of another node is removed by that node (it runs
 * this on the `K` envelope), and the room hears peer-left from there.
 */
export async function removePeer(
  ctx: SignalingContext,
  roomId: string,
  handle: SessionHandle,
  reason: string,
): Promise<void> {
  if (handle instanceof ParkedPeer) {
    ctx.parking.discard(handle);
    await releaseParked(ctx, handle, 'kicked');
  } else if (handle instanceof Session) {
    handle.send({ type: 'kicked', roomId, reason });
    await detachSession(ctx, handle, 'kicked');
    handle.close(CloseCode.NORMAL, 'Removed by the host');
  } else if (handle instanceof RemotePeer) {
    handle.kick(reason);
  }
}
