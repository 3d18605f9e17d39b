import { nanoid } from 'nanoid';
import type { Identity } from '../auth/JoinClaims.ts';
import {
  type ClientMessageOf,
  type PeerInfo,
  ProtocolError,
  type ReplyBody,
  type ReplyTypeOf,
  type SignalingMessageType,
} from '../protocol/index.ts';
import type { PeerRecord, RoomRecord } from '../rooms/RoomTypes.ts';
import { breakoutHandlers } from './breakoutHandlers.ts';
import { chatHandlers } from './chatHandlers.ts';
import { hostHandlers } from './hostHandlers.ts';
import { iceRefreshMs, iceServersFor } from './iceServers.ts';
import { authorizeJoin } from './joinAuth.ts';
import { sdpSendsMedia } from './mediaPolicy.ts';
import { type ParkedPeer, resumeHash, sameSecret } from './PeerParking.ts';
import { RemotePeer } from './RemotePeer.ts';
import { admission, isHost } from './roomAccess.ts';
import { CloseCode, Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/*
 * The dispatch table: one handler per client message the protocol routes to `signaling` (the SFU
 * and switch messages go to the ConnectionManager). Handlers get validated messages only, throw
 * ProtocolError for protocol failures, and never trust identities the client sends: the sender's
 * peerId comes from the session.
 */

/** Proof that a handler answered: only a reply function hands one out. */
export interface Replied {
  readonly replied: true;
}

/** Sends the reply (the dispatcher adds `requestId` and `timestamp`). */
export type ReplyFn<T extends SignalingMessageType> = (body: ReplyBody<T>) => Replied;

/** A message with a reply must be answered: its handler can only finish with the proof. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler of a message without a reply returns nothing
type Outcome<T extends SignalingMessageType> = ReplyTypeOf<T> extends null ? void : Replied;

export type Handler<T extends SignalingMessageType> = (
  ctx: SignalingContext,
  session: Session,
  message: ClientMessageOf<T>,
  reply: ReplyFn<T>,
) => Outcome<T> | Promise<Outcome<T>>;

/** One handler per signaling message of the protocol: a missing one does not compile. */
export type HandlerTable = { [T in SignalingMessageType]: Handler<T> };

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

const joinRoom: Handler<'join-room'> = (ctx, session, msg, reply) =>
  enterRoom(ctx, session, msg, reply, false);

/**
 * A join: straight in, or held in the waiting room (`admitted` is the host letting a guest in).
 * Exported for admit-peer.
 */
export async function enterRoom(
  ctx: SignalingContext,
  session: Session,
  msg: ClientMessageOf<'join-room'>,
  reply: ReplyFn<'join-room'>,
  admitted: boolean,
): Promise<Replied> {
  if (ctx.waiting.isWaiting(session)) {
    throw new ProtocolError('ALREADY_IN_ROOM', 'This connection is waiting to be admitted');
  }
  const started = performance.now();
  if (session.roomId !== undefined) {
    throw new ProtocolError(
      'ALREADY_IN_ROOM',
      `This connection is already peer ${session.peerId} in room ${session.roomId}`,
    );
  }
  if (msg.resumeToken !== undefined) {
    const resumed = await resume(ctx, session, msg, msg.resumeToken, reply);
    if (resumed) return resumed;
  }
  const identity = await authorizeJoin(ctx, session, msg);
  const wantedPeerId = identity?.peerId ?? msg.peerId;
  if (
    wantedPeerId !== undefined &&
    (ctx.registry.get(msg.roomId, wantedPeerId) || (!admitted && ctx.waiting.has(msg.roomId, wantedPeerId)))
  ) {
    throw new ProtocolError(
      'DUPLICATE_PEER',
      `Peer ${wantedPeerId} is already connected to room ${msg.roomId}`,
    );
  }
  const resumeToken = ctx.parking.enabled ? nanoid(32) : undefined;
  const joined = await ctx.rooms.join({
    roomId: msg.roomId,
    ...(resumeToken !== undefined ? { resumeHash: resumeHash(resumeToken) } : {}),
    ...(wantedPeerId !== undefined ? { peerId: wantedPeerId } : {}),
    displayName: identity?.name ?? msg.displayName,
    mediaState: identity?.canPublish === false ? NOTHING_PUBLISHED : msg.mediaState,
  });
  const { room, self } = joined;
  // The socket may have closed, or another connection may have claimed the id, while we awaited.
  if (!session.isOpen || ctx.registry.get(room.roomId, self.peerId)) {
    await ctx.rooms.leave(room.roomId, self.peerId);
    throw new ProtocolError('DUPLICATE_PEER');
  }
  // The host's settings: a refused or held joiner leaves the store again before anyone hears of it.
  let verdict: 'enter' | 'wait';
  try {
    verdict = admitted ? 'enter' : admission(room, msg.password, isHost(room, self.peerId, identity?.role));
  } catch (err) {
    await ctx.rooms.leave(room.roomId, self.peerId);
    throw err;
  }
  if (verdict === 'wait') {
    await ctx.rooms.leave(room.roomId, self.peerId);
    return holdInWaitingRoom(ctx, session, msg, reply, room, self.peerId, self.displayName, joined.others);
  }
  session.roomId = room.roomId;
  session.peerId = self.peerId;
  session.identity = identity;
  session.displayName = self.displayName;
  session.peerRecord = self;
  session.resumeToken = resumeToken;
  session.stopJoinTimer();
  ctx.registry.add(room.roomId, self.peerId, session);
  addRemotePeers(ctx, room.roomId, joined.others);
  const media = await ctx.media.peerJoining(
    room,
    self.peerId,
    ctx.registry.countIn(room.roomId),
    joined.mediaNode,
  );

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
  const replied = reply({
    type: 'room-joined',
    roomId: room.roomId,
    peerId: self.peerId,
    peers,
    iceServers: iceServersFor(ctx.config, self.peerId),
    connectionMode: media.mode,
    roomMode: media.roomMode,
    encryption: room.encryption,
    ...(media.routerRtpCapabilities !== undefined
      ? { routerRtpCapabilities: media.routerRtpCapabilities }
      : {}),
    ...(session.resumeToken !== undefined ? { resumeToken: session.resumeToken } : {}),
    ...(identity ? { role: identity.role, canPublish: identity.canPublish } : {}),
  });
  keepIceFresh(ctx, session, self.peerId);
  for (const message of media.toJoiner) session.send(message);
  for (const message of media.toOthers) ctx.registry.broadcast(room.roomId, message, self.peerId);
  ctx.registry.broadcastJoined(room.roomId, self.peerId, {
    type: 'peer-joined',
    roomId: room.roomId,
    peerId: self.peerId,
    displayName: self.displayName,
    mediaState: self.mediaState,
  });
  ctx.metrics.observeJoin((performance.now() - started) / 1000);
  ctx.logger.info({ roomId: room.roomId, peerId: self.peerId, sessionId: session.id }, 'peer joined');
  return replied;
}

/**
 * In a cluster, the peers the store says live on other nodes get stand-ins here, so relays and
 * broadcasts reach them. (Those nodes learn of the newcomer from its peer-joined.)
 */
export function addRemotePeers(ctx: SignalingContext, roomId: string, others: readonly PeerRecord[]): void {
  const cluster = ctx.registry.cluster;
  if (!cluster) return;
  for (const other of others) {
    if (other.serverId !== cluster.nodeId && !ctx.registry.get(roomId, other.peerId)) {
      ctx.registry.add(roomId, other.peerId, new RemotePeer(cluster, other.serverId, roomId, other.peerId));
    }
  }
}

/** Holds a newcomer for the hosts to admit: it hears `waiting`, the hosts a `knock`. */
function holdInWaitingRoom(
  ctx: SignalingContext,
  session: Session,
  msg: ClientMessageOf<'join-room'>,
  reply: ReplyFn<'join-room'>,
  room: RoomRecord,
  peerId: string,
  displayName: string,
  present: readonly PeerRecord[],
): Replied {
  const { roomId } = room;
  session.stopJoinTimer();
  ctx.waiting.hold(roomId, { session, peerId, displayName, message: { ...msg, peerId }, reply });
  session.send({ type: 'waiting', roomId, peerId });
  const knock = { type: 'knock', roomId, peerId, displayName } as const;
  for (const [hostId, handle] of ctx.registry.peersOf(roomId)) {
    if (handle instanceof Session && isHost(room, hostId, handle.role)) handle.send({ ...knock });
  }
  // A host on another node (known by the room's hostPeerId: token roles stay on their node) gets
  // it through that node; this node keeps no stand-in for a room it only holds a guest of.
  for (const other of present) {
    const held = ctx.registry.get(roomId, other.peerId);
    // The hosts held here heard it above (or wait parked).
    if (isHost(room, other.peerId, undefined) && (!held || held instanceof RemotePeer)) {
      ctx.registry.sendToStored(roomId, other, knock);
    }
  }
  ctx.logger.info({ roomId, peerId, sessionId: session.id }, 'peer waiting to be admitted');
  // room-joined (or a FORBIDDEN error) answers the request when a host decides.
  return { replied: true };
}

const NOTHING_PUBLISHED = { audio: false, video: false, screen: false };

/**
 * Gives a dropped peer back to the connection that presents its resumeToken: same peerId, role,
 * media state and SFU objects, and the messages that waited for it. The room hears nothing: for
 * the others the peer never left. A token for a peer whose old socket the server still thinks is
 * open (it has not noticed the drop yet) takes it over the same way. Undefined when the token
 * resumes nothing (expired, unknown): the join goes on as a new one.
 */
async function resume(
  ctx: SignalingContext,
  session: Session,
  msg: ClientMessageOf<'join-room'>,
  resumeToken: string,
  reply: ReplyFn<'join-room'>,
): Promise<Replied | undefined> {
  let taken: Taken | undefined;
  const parked = ctx.parking.claim(resumeToken, msg.roomId);
  if (parked) {
    ctx.registry.remove(parked.roomId, parked.peerId, parked);
    taken = {
      peerId: parked.peerId,
      identity: parked.identity,
      frames: parked.drain(),
      peerRecord: parked.peerRecord,
    };
  } else if (msg.peerId !== undefined) {
    const live = ctx.registry.get(msg.roomId, msg.peerId);
    if (
      live instanceof Session &&
      live.resumeToken !== undefined &&
      sameSecret(live.resumeToken, resumeToken)
    ) {
      ctx.registry.remove(msg.roomId, msg.peerId, live);
      live.roomId = undefined;
      live.peerId = undefined;
      live.close(CloseCode.NORMAL, 'Resumed on another connection');
      taken = { peerId: msg.peerId, identity: live.identity, frames: [], peerRecord: live.peerRecord };
    }
  }
  const nextToken = nanoid(32);
  if (!taken && msg.peerId !== undefined && ctx.registry.cluster) {
    taken = await takeFromNode(ctx, session, msg, msg.peerId, resumeToken, nextToken);
  } else if (taken) {
    // The stored hash follows the new token, so a later resume on another node can check it.
    await ctx.rooms.store
      .movePeer(msg.roomId, taken.peerId, {
        fromServerId: ctx.rooms.serverId,
        toServerId: ctx.rooms.serverId,
        resumeHash: resumeHash(nextToken),
        peerTtlMs: ctx.rooms.peerTtlMs,
      })
      .catch((err: unknown) => ctx.logger.warn({ err }, 'could not store the new resume hash'));
  }
  if (!taken) return undefined;
  if (msg.peerId !== undefined && msg.peerId !== taken.peerId) {
    throw new ProtocolError('FORBIDDEN', 'This resumeToken belongs to another peer');
  }
  const { roomId } = msg;
  const { peerId } = taken;
  if (!session.isOpen) {
    // Came and went again: park it anew rather than lose it.
    const again = ctx.parking.park({ id: session.id, roomId, peerId, identity: taken.identity, resumeToken });
    ctx.registry.add(roomId, peerId, again);
    return { replied: true };
  }
  session.roomId = roomId;
  session.peerId = peerId;
  session.identity = taken.identity;
  session.peerRecord = taken.peerRecord;
  session.displayName = taken.peerRecord?.displayName;
  session.resumeToken = nextToken;
  session.stopJoinTimer();
  ctx.registry.add(roomId, peerId, session);
  const [room, stored] = await Promise.all([
    ctx.rooms.store.getRoom(roomId),
    ctx.rooms.store.getPeers(roomId),
  ]);
  let connectionMode = ctx.media.modeOf(roomId);
  let restartSfu = false;
  if (taken.fromNode !== undefined) {
    // Resumed here from another node: stand-ins for the room's other peers, and every node of the
    // room (and the one it came from) learns where it lives now. In an SFU room it gets new
    // transports: its old ones may have been on the node that went away. The room's media node
    // drops its SFU objects and takes it in again (others see its producers close and come back).
    addRemotePeers(ctx, roomId, stored);
    ctx.registry.notifyNodes('M', roomId, peerId, '', taken.fromNode);
    if (room) {
      const count = ctx.registry.countIn(roomId);
      ctx.media.peerLeft(roomId, peerId, count);
      const effects = await ctx.media.peerJoining(room, peerId, count);
      connectionMode = effects.mode;
      restartSfu = effects.mode !== 'p2p';
    }
  }
  const routerRtpCapabilities = ctx.media.routerRtpCapabilities(roomId);
  const replied = reply({
    type: 'room-joined',
    roomId,
    peerId,
    peers: stored
      .filter((p) => p.peerId !== peerId)
      .map((p) => ({ peerId: p.peerId, displayName: p.displayName, mediaState: p.mediaState })),
    iceServers: iceServersFor(ctx.config, peerId),
    connectionMode,
    ...(room ? { roomMode: room.mode, encryption: room.encryption } : {}),
    ...(routerRtpCapabilities !== undefined ? { routerRtpCapabilities } : {}),
    resumeToken: session.resumeToken,
    resumed: true,
    ...(taken.identity ? { role: taken.identity.role, canPublish: taken.identity.canPublish } : {}),
  });
  keepIceFresh(ctx, session, peerId);
  for (const frame of taken.frames) session.sendRaw(frame);
  if (restartSfu && routerRtpCapabilities !== undefined) {
    session.send({ type: 'sfu-restart', roomId, routerRtpCapabilities, reason: 'resumed on another node' });
  }
  ctx.logger.info({ roomId, peerId, sessionId: session.id, queued: taken.frames.length }, 'peer resumed');
  return replied;
}

/** A peer given back to a new connection, from wherever it was. */
interface Taken {
  peerId: string;
  identity: Identity | undefined;
  frames: string[];
  peerRecord: PeerRecord | undefined;
  /** Set when the peer was held by another node of the cluster. */
  fromNode?: string;
}

/**
 * Cross-node resume: the peer's node went away (drained or crashed) and the client came here. The
 * stored record proves the token (its hash) and says which node held it; the store moves it here
 * atomically, so two nodes can never both take it. The join token, if any, is checked again.
 */
async function takeFromNode(
  ctx: SignalingContext,
  session: Session,
  msg: ClientMessageOf<'join-room'>,
  peerId: string,
  resumeToken: string,
  nextToken: string,
): Promise<Taken | undefined> {
  const stored = (await ctx.rooms.store.getPeers(msg.roomId)).find((p) => p.peerId === peerId);
  if (
    !stored ||
    stored.serverId === ctx.rooms.serverId ||
    stored.resumeHash === undefined ||
    !sameSecret(stored.resumeHash, resumeHash(resumeToken))
  ) {
    return undefined;
  }
  const identity = await authorizeJoin(ctx, session, msg);
  if (identity && identity.peerId !== peerId) return undefined;
  const nextHash = resumeHash(nextToken);
  const moved = await ctx.rooms.store.movePeer(msg.roomId, peerId, {
    fromServerId: stored.serverId,
    toServerId: ctx.rooms.serverId,
    resumeHash: nextHash,
    peerTtlMs: ctx.rooms.peerTtlMs,
  });
  if (!moved) return undefined;
  ctx.logger.info({ roomId: msg.roomId, peerId, from: stored.serverId }, 'peer resumed from another node');
  return {
    peerId,
    identity,
    frames: [],
    peerRecord: { ...stored, serverId: ctx.rooms.serverId, resumeHash: nextHash },
    fromNode: stored.serverId,
  };
}

/** With TURN_SECRET, new credentials before the old ones expire (ice-servers-updated). */
function keepIceFresh(ctx: SignalingContext, session: Session, peerId: string): void {
  session.keepIceFresh(iceRefreshMs(ctx.config), () =>
    session.send({ type: 'ice-servers-updated', iceServers: iceServersFor(ctx.config, peerId) }),
  );
}

/**
 * The socket of a joined peer dropped: keep the peer for its resumeToken (the room hears nothing
 * yet), or take it out at once when resuming is off.
 */
export async function parkOrDetach(ctx: SignalingContext, session: Session, why: string): Promise<void> {
  const { roomId, peerId, resumeToken } = session;
  session.stopJoinTimer();
  session.stopIceRefresh();
  if (roomId === undefined || peerId === undefined) return;
  if (resumeToken === undefined || !ctx.parking.enabled) {
    return detachSession(ctx, session, why);
  }
  session.roomId = undefined;
  session.peerId = undefined;
  const parked = ctx.parking.park({
    id: session.id,
    roomId,
    peerId,
    identity: session.identity,
    resumeToken,
  });
  ctx.registry.remove(roomId, peerId, session);
  ctx.registry.add(roomId, peerId, parked);
  ctx.logger.info({ roomId, peerId, sessionId: session.id, why }, 'peer parked for resume');
}

/** A parked peer's window ended (or its queue overflowed): it leaves the room now. */
export async function releaseParked(ctx: SignalingContext, parked: ParkedPeer, why: string): Promise<void> {
  const { roomId, peerId } = parked;
  if (ctx.registry.get(roomId, peerId) !== parked) return;
  ctx.registry.remove(roomId, peerId, parked);
  await leaveRoomOf(ctx, roomId, peerId, parked.id, why);
}

/** Takes the session out of its room: store, registry, broadcast, SFU. Shared by leave, kick and the rest. */
export async function detachSession(ctx: SignalingContext, session: Session, why: string): Promise<void> {
  const { roomId, peerId } = session;
  if (roomId === undefined || peerId === undefined) return;
  session.roomId = undefined;
  session.peerId = undefined;
  session.resumeToken = undefined;
  session.stopIceRefresh();
  if (session.isOpen) session.awaitJoin(ctx.config.joinTimeoutMs);
  ctx.registry.remove(roomId, peerId, session);
  await leaveRoomOf(ctx, roomId, peerId, session.id, why);
}

async function leaveRoomOf(
  ctx: SignalingContext,
  roomId: string,
  peerId: string,
  sessionId: string,
  why: string,
): Promise<void> {
  // The store first: once the others hear peer-left, the id is free to join again.
  try {
    await ctx.rooms.leave(roomId, peerId);
  } catch (err) {
    // The peer is gone from this process either way; its stored record expires by TTL.
    ctx.logger.error({ err, roomId, peerId }, 'store leave failed');
  }
  ctx.registry.broadcastLeft(roomId, peerId, { type: 'peer-left', roomId, peerId });
  ctx.media.peerLeft(roomId, peerId, ctx.registry.countIn(roomId));
  if (ctx.registry.countIn(roomId) === 0) ctx.rooms.forget(roomId);
  ctx.logger.info({ roomId, peerId, sessionId, why }, 'peer left');
}

const leaveRoom: Handler<'leave-room'> = async (ctx, session, msg, reply) => {
  const { roomId, peerId } = membership(session, msg.roomId);
  assertSelf(msg.peerId, peerId, 'peerId');
  await detachSession(ctx, session, 'leave-room');
  return reply({ type: 'room-left', roomId });
};

/** The addressing of a relayed message. */
interface RelayFields {
  roomId?: string | undefined;
  fromPeerId?: string | undefined;
  toPeerId: string;
}

/**
 * Forwards a relay. `payload` is the message's own field (offer, answer or candidate) as JSON; the
 * rest of the frame is written by hand. This is the hot path: the ids in it matched the protocol's
 * Id pattern (letters, digits, `_ . : @ -`: nothing JSON escapes), so the frame is exactly what
 * JSON.stringify would give, at a fraction of the cost. Only validated fields travel on; the
 * client's raw JSON is never forwarded.
 */
function forward(
  ctx: SignalingContext,
  session: Session,
  msg: RelayFields,
  type: string,
  payload: string,
): void {
  const { roomId, peerId } = membership(session, msg.roomId);
  assertSelf(msg.fromPeerId, peerId, 'fromPeerId');
  if (msg.toPeerId === peerId) throw new ProtocolError('INVALID_MESSAGE', 'toPeerId is your own peer id');
  const target = ctx.registry.get(roomId, msg.toPeerId);
  if (!target) throw new ProtocolError('PEER_NOT_FOUND', `Peer ${msg.toPeerId} is not in room ${roomId}`);
  target.sendRaw(
    `{"type":"${type}","roomId":"${roomId}","fromPeerId":"${peerId}","toPeerId":"${msg.toPeerId}",${payload},"timestamp":${Date.now()}}`,
  );
}

/** A peer that may not publish (a viewer) may still negotiate, but only to receive. */
function assertMayNegotiate(session: Session, sdp: string): void {
  if (!session.canPublish && sdpSendsMedia(sdp)) {
    throw new ProtocolError(
      'FORBIDDEN',
      'Your token does not allow publishing: send recvonly or inactive media only',
    );
  }
}

const offer: Handler<'offer'> = (ctx, session, msg) => {
  assertMayNegotiate(session, msg.offer.sdp);
  forward(ctx, session, msg, 'offer', `"offer":{"type":"offer","sdp":${JSON.stringify(msg.offer.sdp)}}`);
};

const answer: Handler<'answer'> = (ctx, session, msg) => {
  assertMayNegotiate(session, msg.answer.sdp);
  forward(ctx, session, msg, 'answer', `"answer":{"type":"answer","sdp":${JSON.stringify(msg.answer.sdp)}}`);
};

const iceCandidate: Handler<'ice-candidate'> = (ctx, session, msg) =>
  forward(ctx, session, msg, 'ice-candidate', `"candidate":${JSON.stringify(msg.candidate)}`);

/** A file receiver's progress to the file's sender (the bytes go over data channels, not here). */
const fileAck: Handler<'file-ack'> = (ctx, session, msg) =>
  forward(
    ctx,
    session,
    msg,
    'file-ack',
    `"fileId":"${msg.fileId}","attempt":${msg.attempt},"bytes":${msg.bytes}${msg.ok === undefined ? '' : `,"ok":${msg.ok}`}`,
  );

/** An E2EE key-exchange message: relayed opaquely (the server never reads keys). */
const e2eeKey: Handler<'e2ee-key'> = (ctx, session, msg) =>
  forward(ctx, session, msg, 'e2ee-key', `"payload":${JSON.stringify(msg.payload)}`);

const mediaStateChanged: Handler<'media-state-changed'> = async (ctx, session, msg, reply) => {
  const { roomId, peerId } = membership(session, msg.roomId);
  assertSelf(msg.peerId, peerId, 'peerId');
  if (!session.canPublish && Object.values(msg.mediaState).some(Boolean)) {
    throw new ProtocolError('FORBIDDEN', 'Your token does not allow publishing');
  }
  const stored = await ctx.rooms.store.updateMediaState(roomId, peerId, msg.mediaState);
  if (!stored) throw new ProtocolError('PEER_NOT_FOUND', 'Your membership expired; join again');
  if (session.peerRecord) session.peerRecord = { ...session.peerRecord, mediaState: msg.mediaState };
  const body = { type: 'media-state-changed', roomId, peerId, mediaState: msg.mediaState } as const;
  ctx.registry.broadcast(roomId, { ...body }, peerId);
  // The sender gets the same message as its acknowledgement; without a requestId it needs none.
  return msg.requestId !== undefined ? reply(body) : { replied: true };
};

const ping: Handler<'ping'> = (_ctx, session, _msg, reply) => {
  session.missedPongs = 0;
  return reply({ type: 'pong' });
};

export const handlers: HandlerTable = {
  ...hostHandlers,
  ...chatHandlers,
  ...breakoutHandlers,
  'join-room': joinRoom,
  'leave-room': leaveRoom,
  offer,
  answer,
  'ice-candidate': iceCandidate,
  'file-ack': fileAck,
  'e2ee-key': e2eeKey,
  'media-state-changed': mediaStateChanged,
  ping,
};
