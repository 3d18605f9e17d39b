import { z } from 'zod';

/** Ids are short printable strings; this keeps Redis keys and logs sane. */
export const Id = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_.:@-]+$/, 'may contain only letters, digits and _ . : @ -');
export type Id = z.infer<typeof Id>;

export const RequestId = z.union([z.string().max(128), z.number()]);
export type RequestId = z.infer<typeof RequestId>;

export const MediaState = z.object({
  audio: z.boolean(),
  video: z.boolean(),
  screen: z.boolean(),
});
export type MediaState = z.infer<typeof MediaState>;

export const DisplayName = z.string().trim().min(1).max(100);

export const PeerInfo = z.object({
  peerId: Id,
  displayName: z.string(),
  mediaState: MediaState,
});
export type PeerInfo = z.infer<typeof PeerInfo>;

/** RTCIceServer as the browser takes it. */
export const IceServer = z.object({
  urls: z.array(z.string()),
  username: z.string().optional(),
  credential: z.string().optional(),
  credentialType: z.literal('password').optional(),
});
export type IceServer = z.infer<typeof IceServer>;

/** What a room is meant to be: `auto` switches on participant count, the others are forced. */
export const RoomModePolicy = z.enum(['auto', 'p2p', 'sfu']);
export type RoomModePolicy = z.infer<typeof RoomModePolicy>;

/** What a room is right now. */
export const ConnectionMode = z.enum(['p2p', 'upgrading', 'sfu', 'downgrading']);
export type ConnectionMode = z.infer<typeof ConnectionMode>;

export const Encryption = z.enum(['none', 'e2ee']);
export type Encryption = z.infer<typeof Encryption>;

/** What a join token lets its holder be in a room (auth on); hosts run the room, viewers only watch. */
export const PeerRole = z.enum(['host', 'participant', 'viewer']);
export type PeerRole = z.infer<typeof PeerRole>;

/** A chat message as the server stamped it (sender, id, time); `toPeerId` only on private ones. */
export const ChatMessage = z.object({
  messageId: z.string(),
  roomId: z.string(),
  fromPeerId: z.string(),
  displayName: z.string(),
  text: z.string(),
  toPeerId: z.string().optional(),
  sentAt: z.number(),
});
export type ChatMessage = z.infer<typeof ChatMessage>;

/** Chat text: 1 character to 4 KB (UTF-8). */
export const ChatText = z
  .string()
  .min(1, 'must not be empty')
  .refine((t) => Buffer.byteLength(t) <= 4096, 'must be at most 4096 bytes');

/** A breakout room of a meeting: its room id and the name the host gave it. */
export const BreakoutRoom = z.object({ roomId: z.string(), name: z.string() });
export type BreakoutRoom = z.infer<typeof BreakoutRoom>;
