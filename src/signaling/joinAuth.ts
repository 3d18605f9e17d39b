import type { Identity } from '../auth/JoinClaims.ts';
import { type ClientMessageOf, ProtocolError } from '../protocol/index.ts';
import type { Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/**
 * With auth on, the identity the join's token grants (join-room's `token`, else the URL's), or
 * UNAUTHORIZED. The token's `sub` is the peerId and its `room` must be this room (or `*`).
 * Undefined while auth is off.
 */
export async function authorizeJoin(
  ctx: SignalingContext,
  session: Session,
  msg: ClientMessageOf<'join-room'>,
): Promise<Identity | undefined> {
  if (!ctx.auth) return undefined;
  const token = msg.token ?? session.urlToken;
  if (token === undefined) {
    throw new ProtocolError(
      'UNAUTHORIZED',
      'This server needs a join token: give it as ?token= on the WebSocket URL or as token in join-room',
    );
  }
  const identity = await ctx.auth.verify(token);
  if (identity.room !== '*' && identity.room !== msg.roomId) {
    throw new ProtocolError('UNAUTHORIZED', `The token is for room ${identity.room}, not ${msg.roomId}`);
  }
  if (msg.peerId !== undefined && msg.peerId !== identity.peerId) {
    throw new ProtocolError('UNAUTHORIZED', 'peerId must be the token subject (sub), or left out');
  }
  return identity;
}
