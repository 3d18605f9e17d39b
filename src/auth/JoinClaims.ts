import { z } from 'zod';
import { DisplayName, Id, PeerRole } from '../protocol/common.ts';

export { PeerRole };

/**
 * The claims of a join token (besides exp/nbf/aud, which jose checks). `sub` becomes the peerId:
 * a token holder cannot take another peer's id.
 */
export const JoinClaims = z.object({
  sub: Id,
  /** The one room this token opens, or `*` for any. */
  room: z.union([Id, z.literal('*')]),
  name: DisplayName.optional(),
  role: PeerRole.default('participant'),
  /** Defaults to true except for viewers, who never publish. */
  canPublish: z.boolean().optional(),
});
export type JoinClaims = z.infer<typeof JoinClaims>;

/** What the server knows about a connection's holder once its token checked out. */
export interface Identity {
  peerId: string;
  room: string;
  name: string | undefined;
  role: PeerRole;
  canPublish: boolean;
}

export function identityOf(claims: JoinClaims): Identity {
  return {
    peerId: claims.sub,
    room: claims.room,
    name: claims.name,
    role: claims.role,
    canPublish: claims.role !== 'viewer' && claims.canPublish !== false,
  };
}
