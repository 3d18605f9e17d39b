import { randomInt } from 'node:crypto';
import { type BreakoutRoom, ProtocolError, type SignalingMessageType } from '../protocol/index.ts';
import type { PeerRecord, RoomRecord } from '../rooms/RoomTypes.ts';
import type { Handler } from './handlers.ts';
import { hostRoom } from './hostHandlers.ts';
import { isHost } from './roomAccess.ts';
import { Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/*
 * Breakout rooms: the host of a meeting opens sub-rooms and sends peers there, by list or at
 * random; they are ordinary rooms (each with its own P2P/SFU mode) that name their meeting. Peers
 * move themselves: the server tells each one `move-to-room` and the SDK leaves and joins with the
 * same name and media state. Closing sends everyone in them back.
 */

type BreakoutMessageType = Extract<
  SignalingMessageType,
  'open-breakouts' | 'close-breakouts' | 'breakout-broadcast'
>;

/** `<meeting>.b<n>`: readable, and within the 128 characters of an id. */
function breakoutId(meetingId: string, index: number): string {
  return `${meetingId.slice(0, 120)}.b${index + 1}`;
}

/** Which room index each peer goes to. */
function assignment(
  ctx: SignalingContext,
  room: RoomRecord,
  present: readonly PeerRecord[],
  msg: { rooms: Array<{ peerIds?: string[] | undefined }>; assign?: 'list' | 'random' | undefined },
): Map<string, number> {
  const out = new Map<string, number>();
  if (msg.assign === 'random') {
    const guests = present
      .map((p) => p.peerId)
      .filter((peerId) => {
        const handle = ctx.registry.get(room.roomId, peerId);
        return !isHost(room, peerId, handle instanceof Session ? handle.role : undefined);
      });
    // Fisher-Yates, then dealt round the rooms: sizes differ by one at most.
    for (let i = guests.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [guests[i], guests[j]] = [guests[j] as string, guests[i] as string];
    }
    for (const [i, peerId] of guests.entries()) out.set(peerId, i % msg.rooms.length);
    return out;
  }
  const ids = new Set(present.map((p) => p.peerId));
  msg.rooms.forEach((r, index) => {
    for (const peerId of r.peerIds ?? []) {
      if (!ids.has(peerId)) throw new ProtocolError('PEER_NOT_FOUND', `Peer ${peerId} is not in the room`);
      if (out.has(peerId)) throw new ProtocolError('INVALID_MESSAGE', `Peer ${peerId} is assigned twice`);
      out.set(peerId, index);
    }
  });
  return out;
}

async function setBreakouts(ctx: SignalingContext, room: RoomRecord, breakouts: BreakoutRoom[] | null) {
  const updated = await ctx.rooms.store.setBreakouts(room.roomId, breakouts);
  if (!updated) throw new ProtocolError('NOT_IN_ROOM', 'The room is gone');
  ctx.rooms.remember(updated);
  return updated;
}

export const breakoutHandlers: { [T in BreakoutMessageType]: Handler<T> } = {
  'open-breakouts': async (ctx, session, msg, reply) => {
    const { room, peerId } = await hostRoom(ctx, session);
    if (room.parentRoomId !== undefined) {
      throw new ProtocolError('INVALID_MESSAGE', 'A breakout room cannot have breakout rooms');
    }
    if (room.breakouts?.length) {
      throw new ProtocolError('INVALID_MESSAGE', 'Breakout rooms are open already: close them first');
    }
    const present = await ctx.rooms.store.getPeers(room.roomId);
    const goes = assignment(ctx, room, present, msg);
    const breakouts = msg.rooms.map((r, i) => ({ roomId: breakoutId(room.roomId, i), name: r.name }));
    for (const b of breakouts) {
      // A room left over from an earlier round (still within its empty TTL) is used again.
      await ctx.rooms.store.createRoom({
        ...ctx.rooms.newRoomRecord({
          roomId: b.roomId,
          hostPeerId: room.hostPeerId ?? undefined,
          maxParticipants: room.maxParticipants,
          encryption: room.encryption,
          mode: room.mode,
        }),
        parentRoomId: room.roomId,
      });
    }
    await setBreakouts(ctx, room, breakouts);
    for (const peer of present) {
      const index = goes.get(peer.peerId);
      const target = index === undefined ? undefined : breakouts[index];
      if (!target) continue;
      ctx.registry.sendToStored(room.roomId, peer, {
        type: 'move-to-room',
        roomId: target.roomId,
        fromRoomId: room.roomId,
        name: target.name,
        reason: 'breakout rooms opened',
      });
    }
    ctx.registry.broadcast(room.roomId, { type: 'breakouts', roomId: room.roomId, breakouts }, peerId);
    ctx.logger.info(
      { roomId: room.roomId, rooms: breakouts.length, moved: goes.size },
      'breakout rooms opened',
    );
    return reply({ type: 'breakouts', roomId: room.roomId, breakouts });
  },

  'close-breakouts': async (ctx, session, _msg, reply) => {
    const { room, peerId } = await hostRoom(ctx, session);
    for (const b of room.breakouts ?? []) {
      for (const peer of await ctx.rooms.store.getPeers(b.roomId)) {
        ctx.registry.sendToStored(b.roomId, peer, {
          type: 'move-to-room',
          roomId: room.roomId,
          fromRoomId: b.roomId,
          reason: 'breakout rooms closed',
        });
      }
    }
    await setBreakouts(ctx, room, null);
    ctx.registry.broadcast(room.roomId, { type: 'breakouts', roomId: room.roomId, breakouts: [] }, peerId);
    ctx.logger.info({ roomId: room.roomId }, 'breakout rooms closed');
    return reply({ type: 'breakouts', roomId: room.roomId, breakouts: [] });
  },

  'breakout-broadcast': async (ctx, session, msg, reply) => {
    const { room, peerId } = await hostRoom(ctx, session);
    const breakouts = room.breakouts ?? [];
    if (breakouts.length === 0) throw new ProtocolError('INVALID_MESSAGE', 'No breakout rooms are open');
    const message = {
      type: 'breakout-message',
      roomId: room.roomId,
      fromPeerId: peerId,
      text: msg.text,
      sentAt: Date.now(),
    } as const;
    for (const roomId of [room.roomId, ...breakouts.map((b) => b.roomId)]) {
      for (const peer of await ctx.rooms.store.getPeers(roomId)) {
        if (peer.peerId !== peerId) ctx.registry.sendToStored(roomId, peer, message);
      }
    }
    return reply({ type: 'breakouts', roomId: room.roomId, breakouts });
  },
};
