import { nanoid } from 'nanoid';
import { type ChatMessage, ProtocolError, type SignalingMessageType } from '../protocol/index.ts';
import type { Handler } from './handlers.ts';
import type { Session } from './Session.ts';

/*
 * Chat over signaling: room messages (kept, the last CHAT_HISTORY) and private ones (not kept).
 * The server stamps sender, id and time; names and text travel as data, never as markup.
 */

type ChatMessageType = Extract<SignalingMessageType, 'chat-message' | 'chat-history'>;

/** Chat messages per second per connection, and the burst allowed: chat is for people. */
const CHAT_PER_S = 5;
const CHAT_BURST = 20;
const buckets = new WeakMap<Session, { tokens: number; at: number }>();

function takeChatToken(session: Session): boolean {
  const now = performance.now();
  const bucket = buckets.get(session) ?? { tokens: CHAT_BURST, at: now };
  bucket.tokens = Math.min(CHAT_BURST, bucket.tokens + ((now - bucket.at) / 1000) * CHAT_PER_S);
  bucket.at = now;
  buckets.set(session, bucket);
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

function joined(session: Session): { roomId: string; peerId: string } {
  if (session.roomId === undefined || session.peerId === undefined) {
    throw new ProtocolError('NOT_IN_ROOM', 'Join a room first');
  }
  return { roomId: session.roomId, peerId: session.peerId };
}

export const chatHandlers: { [T in ChatMessageType]: Handler<T> } = {
  'chat-message': async (ctx, session, msg, reply) => {
    const { roomId, peerId } = joined(session);
    if (msg.roomId !== undefined && msg.roomId !== roomId)
      throw new ProtocolError('NOT_IN_ROOM', `Not in room ${msg.roomId}`);
    if (!takeChatToken(session)) {
      throw new ProtocolError('RATE_LIMITED', `At most ${CHAT_PER_S} chat messages a second`);
    }
    const target = msg.toPeerId !== undefined ? ctx.registry.get(roomId, msg.toPeerId) : undefined;
    if (msg.toPeerId !== undefined && (!target || msg.toPeerId === peerId)) {
      throw new ProtocolError('PEER_NOT_FOUND', `Peer ${msg.toPeerId} is not in room ${roomId}`);
    }
    const message: ChatMessage = {
      messageId: nanoid(12),
      roomId,
      fromPeerId: peerId,
      displayName: session.displayName ?? peerId,
      text: msg.text,
      ...(msg.toPeerId !== undefined ? { toPeerId: msg.toPeerId } : {}),
      sentAt: Date.now(),
    };
    if (target) {
      target.send({ type: 'chat-message', message });
    } else {
      await ctx.rooms.store.appendChat(roomId, message, ctx.config.chatHistory);
      ctx.registry.broadcast(roomId, { type: 'chat-message', message }, peerId);
    }
    return reply({ type: 'chat-message', message });
  },

  'chat-history': async (ctx, session, _msg, reply) => {
    const { roomId } = joined(session);
    return reply({ type: 'chat-history', roomId, messages: await ctx.rooms.store.chatHistory(roomId) });
  },
};
