import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import { nanoid } from 'nanoid';
import type { RawData, WebSocket } from 'ws';
import type { ClusterBus } from '../cluster/ClusterBus.ts';
import { UpgradeGate } from '../http/upgradeGate.ts';
import {
  type ClientMessage,
  type ClientMessageOf,
  isSignalingMessage,
  ProtocolError,
  type RequestId,
  type SignalingMessageType,
} from '../protocol/index.ts';
import type { PeerRecord } from '../rooms/RoomTypes.ts';
import { isStoreUnavailable } from '../rooms/storeErrors.ts';
import type { MediaMessage } from '../sfu/ConnectionManagerTypes.ts';
import { joinCluster } from './clusterSignaling.ts';
import {
  detachSession,
  type Handler,
  handlers,
  parkOrDetach,
  type ReplyFn,
  releaseParked,
} from './handlers.ts';
import { exposedGc, MemoryReclaimer } from './MemoryReclaimer.ts';
import { decodeClientMessage } from './MessageDecoder.ts';
import { ParkedPeer, PeerParking } from './PeerParking.ts';
import { CloseCode, Session, type SessionLimits } from './Session.ts';
import type { SignalingContext, SignalingOptions } from './SignalingContext.ts';
import { WaitingRoom } from './WaitingRoom.ts';

/**
 * Requests that do not wait for one another (they still run after everything sent before them):
 * each concerns one consumer. A peer coming into an SFU room consumes every producer at once; run
 * one after the other, the last reply waited for every earlier worker round trip.
 */
const ALONGSIDE: ReadonlySet<string> = new Set([
  'sfu-consume',
  'sfu-resume-consumer',
  'sfu-pause-consumer',
  'sfu-consume-data',
]);

/**
 * No connection for this long ends a connection storm (MemoryReclaimer). Long enough that storms a
 * few seconds apart (a reconnect wave, a benchmark's steps) count as one, so the collection's pause
 * (~0.2 s) does not land in the next one.
 */
const STORM_QUIET_MS = 15_000;

/**
 * The WebSocket endpoint /ws: one Session per connection, the heartbeat, and the orderly goodbye
 * on shutdown. Frames are decoded and validated here; handlers see only valid messages.
 */
export async function signalingPlugin(app: FastifyInstance, options: SignalingOptions): Promise<void> {
  const { config, logger } = options;
  const log = logger.child({ component: 'signaling' });
  const sessions = new Set<Session>();
  let shuttingDown = false;
  const parking = new PeerParking(config.resumeWindowMs, (parked, why) => {
    releaseParked(ctx, parked, why).catch((err) => log.error({ err }, 'releasing a parked peer failed'));
  });
  const ctx: SignalingContext = { ...options, parking, waiting: new WaitingRoom() };
  const limits: SessionLimits = {
    rate: config.wsRateLimit,
    maxBufferedBytes: config.wsMaxBufferedBytes,
    abuseCloseMs: config.wsAbuseCloseMs,
    readBytesPerS: config.wsReadBytesPerS,
    wire: options.metrics.wire,
  };

  /** A client's mistake: debug, and warn at most once a minute per connection; never a stack. */
  const clientMistake = (session: Session, what: string, detail: Record<string, unknown> = {}) => {
    const entry = { sessionId: session.id, peerId: session.peerId, ...detail };
    if (session.mayWarn()) log.warn(entry, `client mistake: ${what}`);
    else log.debug(entry, `client mistake: ${what}`);
  };

  const goodbye = async (): Promise<void> => {
    shuttingDown = true;
    // From here a worker that exits is part of the shutdown, not a crash to tell clients about.
    ctx.media.beginShutdown();
    clearInterval(heartbeat);
    if (ctx.cluster?.hasOtherNodes) return drain(ctx.cluster);
    const closing = [...sessions].map(async (session) => {
      session.send({ type: 'server-shutdown', reason: 'The server is shutting down' });
      const { roomId, peerId } = session;
      session.roomId = undefined;
      session.peerId = undefined;
      if (roomId !== undefined && peerId !== undefined) {
        ctx.registry.remove(roomId, peerId, session);
        await ctx.rooms
          .leave(roomId, peerId)
          .catch((err) => log.error({ err, roomId }, 'leave on shutdown failed'));
      }
      session.close(CloseCode.GOING_AWAY, 'Server shutting down');
    });
    // Peers parked for a resume will not get one: they leave now, in the store too.
    const parked = parking.releaseAll().map(async (peer) => {
      ctx.registry.remove(peer.roomId, peer.peerId, peer);
      await ctx.rooms
        .leave(peer.roomId, peer.peerId)
        .catch((err) => log.error({ err, roomId: peer.roomId }, 'leave on shutdown failed'));
    });
    await Promise.all([...closing, ...parked]);
  };

  /**
   * Shutdown of a cluster node: its peers stay in the store and in the other nodes' rooms, and
   * their clients reconnect (through the load balancer) to another node and resume there with
   * their resumeToken. The node stays "alive" for the resume window; the peers that have not
   * resumed by then are removed by the node that declares it dead, and the rooms hear peer-left.
   */
  const drain = async (cluster: ClusterBus): Promise<void> => {
    await ctx.media.handOver?.().catch((err: unknown) => log.error({ err }, 'handing rooms over failed'));
    for (const session of sessions) {
      session.send({ type: 'server-shutdown', reason: 'The server is shutting down; reconnect' });
      const { roomId, peerId } = session;
      session.roomId = undefined;
      session.peerId = undefined;
      if (roomId !== undefined && peerId !== undefined) ctx.registry.remove(roomId, peerId, session);
      session.close(CloseCode.GOING_AWAY, 'Server shutting down');
    }
    for (const peer of parking.releaseAll()) ctx.registry.remove(peer.roomId, peer.peerId, peer);
    await cluster.drain(config.resumeWindowMs);
    log.info({ resumeWindowMs: config.resumeWindowMs }, 'cluster node drained: peers may resume elsewhere');
  };

  await app.register(websocket, {
    options: {
      // ws rejects frames above this by itself (closing with 1009); frames between MAX_MESSAGE_BYTES
      // and this bound get a MESSAGE_TOO_LARGE error first, so a client learns why.
      maxPayload: Math.max(config.maxMessageBytes * 4, 1024 * 1024),
      perMessageDeflate: false,
      // The sessions set tracks every connection already; ws's own Set and per-socket 'close'
      // listener would cost each idle peer for nothing (issue 12).
      clientTracking: false,
    },
    preClose: async function preClose(this: FastifyInstance) {
      await goodbye();
      await new Promise<void>((resolve) => this.websocketServer.close(() => resolve()));
    },
  });

  const onMessage = (session: Session, data: RawData, isBinary: boolean): void => {
    const size = Array.isArray(data)
      ? data.reduce((n, b) => n + b.length, 0)
      : data instanceof ArrayBuffer
        ? data.byteLength
        : data.length;
    const pauseMs = session.chargeRead(size);
    if (pauseMs > 0 && !session.socket.isPaused) {
      session.socket.pause();
      setTimeout(() => session.socket.resume(), pauseMs).unref();
    }
    // The rate limit comes first: a flood costs a counter, not a parse. Excess over the rate gets
    // one RATE_LIMITED, then is dropped unanswered; excess that goes on is closed.
    const verdict = session.admit();
    if (verdict !== 'ok') {
      if (verdict === 'limited') {
        clientMistake(session, 'over the message rate');
        session.sendError('RATE_LIMITED', 'Too many messages; slow down (further excess is dropped)', {
          requestId: requestIdOf(data, isBinary, size),
        });
      } else if (verdict === 'abusive') {
        clientMistake(session, 'sustained flood, closing');
        session.close(CloseCode.POLICY_VIOLATION, 'Message rate exceeded for too long');
      }
      return;
    }
    if (size > config.maxMessageBytes) {
      clientMistake(session, 'message too large', { size });
      session.sendError(
        'MESSAGE_TOO_LARGE',
        `Message of ${size} bytes exceeds the limit of ${config.maxMessageBytes}`,
      );
      session.close(CloseCode.MESSAGE_TOO_BIG, 'Message too large');
      return;
    }
    if (isBinary) {
      clientMistake(session, 'binary frame');
      session.sendError('INVALID_MESSAGE', 'Binary frames are not supported; send JSON text');
      return;
    }
    const decoded = decodeClientMessage(data.toString());
    if (!decoded.ok) {
      clientMistake(session, 'invalid message', { code: decoded.code });
      session.sendError(decoded.code, decoded.error, decoded);
      return;
    }
    const message = decoded.message;
    ctx.metrics.messageIn(message.type);
    (ALONGSIDE.has(message.type) ? session.enqueueAlongside : session.enqueue).call(session, () => {
      try {
        const result = dispatch(session, message);
        if (result instanceof Promise) return result.catch((err) => fail(session, message, err));
      } catch (err) {
        fail(session, message, err);
      }
    });
  };

  /** Routes a valid message as the protocol table says: to its signaling handler, or to the SFU. */
  const dispatch = (session: Session, message: ClientMessage): unknown => {
    if (isSignalingMessage(message)) {
      return runHandler(message.type, session, message, replyTo(session, message.requestId));
    }
    return media(session, message);
  };

  const runHandler = <T extends SignalingMessageType>(
    type: T,
    session: Session,
    message: ClientMessageOf<T>,
    reply: ReplyFn<T>,
  ) => {
    const handler: Handler<T> = handlers[type];
    return handler(ctx, session, message, reply);
  };

  const replyTo =
    <T extends SignalingMessageType>(session: Session, requestId: RequestId | undefined): ReplyFn<T> =>
    (body) => {
      session.send(requestId !== undefined ? { ...body, requestId } : body);
      return { replied: true };
    };

  /** SFU operations and switch reports go to the room's ConnectionManager. */
  const media = async (session: Session, message: MediaMessage): Promise<void> => {
    if (session.roomId === undefined || session.peerId === undefined) {
      throw new ProtocolError('NOT_IN_ROOM', 'Join a room first');
    }
    if (message.type === 'sfu-produce' && !session.canPublish) {
      throw new ProtocolError('FORBIDDEN', 'Your token does not allow publishing');
    }
    const reply = await ctx.media.handle(session.roomId, session.peerId, message);
    if (reply)
      session.send(message.requestId !== undefined ? { ...reply, requestId: message.requestId } : reply);
  };

  const fail = (
    session: Session,
    message: { type: string; requestId?: string | number | undefined },
    err: unknown,
  ) => {
    const extra = { requestId: message.requestId, relatedType: message.type };
    if (err instanceof ProtocolError) {
      session.sendError(err.code, err.message, { ...extra, details: err.details });
      return;
    }
    if (isStoreUnavailable(err)) {
      log.warn(
        { err: err instanceof Error ? err.message : String(err), type: message.type },
        'store unavailable',
      );
      session.sendError('STORE_UNAVAILABLE', undefined, extra);
      return;
    }
    log.error({ err, type: message.type, sessionId: session.id }, 'handler failed');
    session.sendError('INTERNAL', undefined, extra);
  };

  const gate = new UpgradeGate(config);
  app.get<{ Querystring: { token?: string } }>(
    '/ws',
    { websocket: true, preValidation: gate.check },
    (socket: WebSocket, request) => {
      if (shuttingDown) {
        socket.close(CloseCode.GOING_AWAY, 'Server shutting down');
        return;
      }
      releaseUpgradeRequest(socket, request.raw);
      gate.opened(request.ip);
      reclaimer.connectionOpened();
      const session = new Session(nanoid(10), socket, limits, request.ip);
      const { token } = request.query;
      if (typeof token === 'string' && token.length > 0 && token.length <= 8192) session.urlToken = token;
      session.onSlowConsumer = onSlowConsumer;
      sessions.add(session);
      sessionOf.set(socket, session);
      session.awaitJoin(config.joinTimeoutMs);
      log.debug({ sessionId: session.id }, 'connected');
      socket.on('message', onSocketMessage);
      socket.on('pong', onSocketPong);
      socket.on('error', onSocketError);
      socket.on('close', onSocketClose);
    },
  );

  // One set of socket listeners for every connection, finding the session through the socket
  // (`this`), rather than closures made per connection: an idle peer costs less (issue 12).
  const sessionOf = new WeakMap<WebSocket, Session>();
  function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    const session = sessionOf.get(this);
    if (session) onMessage(session, data, isBinary);
  }
  function onSocketPong(this: WebSocket): void {
    const session = sessionOf.get(this);
    if (session) session.missedPongs = 0;
  }
  // ws reports a client's protocol errors here (an oversize or malformed frame): its mistake.
  function onSocketError(this: WebSocket, err: Error): void {
    const session = sessionOf.get(this);
    if (session) clientMistake(session, 'socket error', { error: err.message });
  }
  function onSocketClose(this: WebSocket, code: number): void {
    const session = sessionOf.get(this);
    if (!session) return;
    sessionOf.delete(this);
    gate.closed(session.remoteAddress);
    session.stopIceRefresh();
    const guest = ctx.waiting.leave(session);
    if (guest) {
      const { roomId, guest: g } = guest;
      ctx.registry.broadcast(roomId, { type: 'knock-ended', roomId, peerId: g.peerId, outcome: 'left' });
    }
    sessions.delete(session);
    log.debug({ sessionId: session.id, code }, 'disconnected');
    // A socket that ended without a close frame (1006: the network dropped, the process died)
    // is parked for its resumeToken; one closed with a close frame was closed on purpose.
    if (code === 1006) session.enqueue(() => parkOrDetach(ctx, session, 'socket dropped'));
    else session.enqueue(() => detachSession(ctx, session, 'socket closed'));
  }
  function onSlowConsumer(session: Session): void {
    session.enqueue(() => parkOrDetach(ctx, session, 'slow consumer'));
  }

  // The heartbeat: a ping per interval; two unanswered pings and the peer is removed. Live peers get
  // their store TTL refreshed, so the peers of a crashed process expire instead of haunting rooms.
  const heartbeat = setInterval(() => {
    const alive: Array<{ roomId: string; peerId: string }> = [];
    for (const session of sessions) {
      if (session.missedPongs >= 2) {
        log.info({ sessionId: session.id, peerId: session.peerId }, 'heartbeat timeout');
        sessions.delete(session);
        session.socket.terminate();
        session.enqueue(() => parkOrDetach(ctx, session, 'heartbeat timeout'));
        continue;
      }
      session.missedPongs += 1;
      session.socket.ping();
      if (session.roomId !== undefined && session.peerId !== undefined) {
        alive.push({ roomId: session.roomId, peerId: session.peerId });
      }
    }
    for (const parked of parking.peers()) alive.push({ roomId: parked.roomId, peerId: parked.peerId });
    if (alive.length > 0) {
      ctx.rooms.store
        .refreshPeers(alive, ctx.rooms.peerTtlMs)
        .catch((err) => log.error({ err }, 'heartbeat refresh failed'));
    }
  }, config.heartbeatIntervalMs);
  heartbeat.unref();

  const reclaimer = new MemoryReclaimer({
    stormConnections: config.reclaimAfterConnections,
    quietMs: STORM_QUIET_MS,
    gc: exposedGc(),
    logger: log,
  });

  // A room deleted through REST: tell its peers and detach them; their sockets stay open. In a
  // cluster, every other node does the same for its own peers.
  const onRoomDeleted = (roomId: string) => {
    ctx.cluster?.sendToAll('C', roomId, '', '');
    closeRoomHere(roomId);
  };
  const closeRoomHere = (roomId: string) => {
    for (const [peerId, session] of [...ctx.registry.peersOf(roomId)]) {
      ctx.registry.remove(roomId, peerId, session);
      if (session instanceof ParkedPeer) {
        parking.discard(session);
        continue;
      }
      if (!(session instanceof Session)) continue;
      session.roomId = undefined;
      session.peerId = undefined;
      session.resumeToken = undefined;
      session.awaitJoin(config.joinTimeoutMs);
      session.send({ type: 'room-closed', roomId, reason: 'The room was closed' });
    }
    ctx.media.roomClosed(roomId);
  };
  ctx.rooms.on('roomdeleted', onRoomDeleted);
  if (ctx.cluster) {
    joinCluster(ctx, ctx.cluster, { roomClosed: closeRoomHere });
    await ctx.cluster.start();
    // Once the bus knows the live nodes: a previous life's peers (removed from the store at
    // start-up) leave the rooms of the other nodes, then the rooms it ran the media of are handed
    // back. A restart under the same NODE_ID can be quicker than the others notice a death.
    for (const { roomId, peerId } of ctx.rooms.leftovers.splice(0)) {
      const frame = JSON.stringify({ type: 'peer-left', roomId, peerId, timestamp: Date.now() });
      ctx.cluster.sendToAll('L', roomId, peerId, frame);
    }
    await ctx.media
      .releaseLeftoverPins?.()
      .catch((err: unknown) => log.warn({ err }, 'could not release old pins'));
  }

  // Redis came back (maybe empty, after a crash): write back the peers this process holds.
  ctx.rooms.store.onRestored(() => {
    const peers: Array<{ roomId: string; record: PeerRecord }> = [];
    for (const session of sessions) {
      if (session.roomId !== undefined && session.peerRecord)
        peers.push({ roomId: session.roomId, record: session.peerRecord });
    }
    for (const parked of parking.peers()) {
      if (parked.peerRecord) peers.push({ roomId: parked.roomId, record: parked.peerRecord });
    }
    ctx.rooms.reconcile(peers).catch((err) => log.error({ err }, 'reconcile failed'));
  });
  app.addHook('onClose', async () => {
    clearInterval(heartbeat);
    reclaimer.close();
    parking.releaseAll();
    ctx.rooms.off('roomdeleted', onRoomDeleted);
  });

  app.decorate('signalingStats', () => ({ connections: sessions.size, peers: ctx.registry.size }));
  app.decorate('signalingSockets', () => [...sessions].map((session) => session.socket));
}

declare module 'fastify' {
  interface FastifyInstance {
    signalingStats: () => { connections: number; peers: number };
    /** The server's end of every open WebSocket, oldest first. */
    signalingSockets: () => WebSocket[];
  }
}

/**
 * Lets the upgrade's HTTP request and reply be collected once the WebSocket is open: otherwise they
 * live as long as the socket (~2 KB per idle peer, half of what OpenCall held above a bare `ws`
 * relay): @fastify/websocket's 'error' listener closes over them (ours, added right after, handles
 * socket errors instead), and the ServerResponse it routed the upgrade with stays attached to the
 * TCP socket as its current message.
 */
function releaseUpgradeRequest(socket: WebSocket, raw: IncomingMessage): void {
  socket.removeAllListeners('error');
  const tcp = raw.socket as Socket & { _httpMessage?: ServerResponse | null };
  if (tcp._httpMessage) tcp._httpMessage.detachSocket(tcp);
}

/**
 * The requestId of a frame that is otherwise dropped unread (the first one over the rate), so its
 * RATE_LIMITED can be matched; a cheap look, not a validation.
 */
function requestIdOf(data: RawData, isBinary: boolean, size: number): RequestId | undefined {
  if (isBinary || size > 64 * 1024) return undefined;
  try {
    const parsed: unknown = JSON.parse(data.toString());
    if (typeof parsed !== 'object' || parsed === null || !('requestId' in parsed)) return undefined;
    const { requestId } = parsed;
    return typeof requestId === 'string' || typeof requestId === 'number' ? requestId : undefined;
  } catch {
    return undefined;
  }
}
