import { createServer } from 'node:http';
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { TokenVerifier } from './auth/TokenVerifier.ts';
import { ClusterBus } from './cluster/ClusterBus.ts';
import { ClusterMedia } from './cluster/ClusterMedia.ts';
import type { Config } from './config/index.ts';
import { clientPlugin } from './http/clientPlugin.ts';
import { hardeningPlugin } from './http/hardeningPlugin.ts';
import { healthPlugin } from './http/healthPlugin.ts';
import { restErrorHandler, restNotFoundHandler } from './http/httpErrors.ts';
import { metricsPlugin } from './http/metricsPlugin.ts';
import { registerOpenApi } from './http/openapi.ts';
import { roomsPlugin } from './http/roomsPlugin.ts';
import { sfuPlugin } from './http/sfuPlugin.ts';
import { zodValidatorCompiler } from './http/zodSchemas.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics/Metrics.ts';
import { createRedisClient, createRoomStore } from './rooms/createRoomStore.ts';
import { RedisRoomStore } from './rooms/RedisRoomStore.ts';
import { RoomService } from './rooms/RoomService.ts';
import type { RoomStore } from './rooms/RoomStore.ts';
import { ConnectionManager } from './sfu/ConnectionManager.ts';
import type { RoomMediaController } from './sfu/ConnectionManagerTypes.ts';
import { createMediaController } from './sfu/createMediaController.ts';
import { PeerRegistry } from './signaling/PeerRegistry.ts';
import { signalingPlugin } from './signaling/signalingPlugin.ts';

export interface AppDependencies {
  logger?: Logger;
  /** A store to use instead of the one the config selects (tests). */
  store?: RoomStore;
  /** A media controller to use instead of starting mediasoup workers (tests). */
  media?: RoomMediaController;
}

declare module 'fastify' {
  interface FastifyInstance {
    rooms: RoomService;
    media: RoomMediaController;
    registry: PeerRegistry;
  }
}

/**
 * Builds the whole server without listening: tests call it and listen on port 0 or use inject().
 * Closing the app closes everything it opened (sockets with 1001, the SFU, the store).
 */
export async function buildApp(
  config: Readonly<Config>,
  deps: AppDependencies = {},
): Promise<FastifyInstance> {
  const logger = deps.logger ?? createLogger(config.logLevel);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Request logs for the API only: probes and static files would drown them.
    logController: new LogController({
      disableRequestLogging: (request) => !request.url.startsWith('/api/'),
    }),
    bodyLimit: 64 * 1024,
    // Off unless TRUST_PROXY names the proxies: otherwise anyone could pick their address (and
    // their rate limit bucket) with an X-Forwarded-For header.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    // Slow-loris: the request head, a WebSocket handshake included, must arrive in time.
    serverFactory: (handler) => {
      const server = createServer(
        {
          headersTimeout: config.httpHeadersTimeoutMs,
          requestTimeout: config.httpHeadersTimeoutMs,
          connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutMs),
        },
        handler,
      );
      return server;
    },
    // Room ids may be 128 characters (protocol Id); fastify's default stops path parameters at 100.
    routerOptions: { maxParamLength: 128 },
  });

  const store = deps.store ?? (await createRoomStore(config, logger));
  const rooms = new RoomService(store, config, logger);
  if (store.kind === 'redis') {
    // Redis down at start-up is /ready's business, not a reason not to start.
    await rooms.removeLeftovers().catch((err: unknown) => {
      logger.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'could not check for leftover peers',
      );
    });
  }
  const registry = new PeerRegistry();
  // Several nodes on one Redis form a cluster: relays and broadcasts reach peers on other nodes.
  const cluster =
    store.kind === 'redis' && config.redis && !deps.store
      ? new ClusterBus({
          nodeId: config.nodeId,
          pub: createRedisClient(config.redis, logger, 'opencall-cluster'),
          sub: createRedisClient(config.redis, logger, 'opencall-cluster-sub'),
          keyPrefix: config.redis.keyPrefix,
          heartbeatMs: config.nodeHeartbeatMs,
          logger,
          knownNodes: () => registry.remoteNodes(),
          observe: {
            redisLatency: (s) => metrics.redisLatency(s),
            pubsubLag: (s) => metrics.pubsubLag(s),
          },
        })
      : undefined;
  registry.cluster = cluster;
  const localMedia = deps.media ?? (await createMediaController(config, registry, logger));
  // In a cluster, each room's media runs on one node; the others forward to it.
  const media =
    cluster && localMedia instanceof ConnectionManager
      ? new ClusterMedia({
          local: localMedia,
          bus: cluster,
          store,
          peersOf: (roomId) => registry.peersOf(roomId).keys(),
          nodesOf: (roomId) => registry.nodesOf(roomId),
          logger,
        })
      : localMedia;
  app.decorate('rooms', rooms);
  app.decorate('media', media);
  app.decorate('registry', registry);

  // Routes declare zod schemas (src/protocol/rest.ts): requests are validated with them, answers
  // serialized through them. Every error, a request that fails its schema included, is a RestError.
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(restErrorHandler);
  app.setNotFoundHandler(restNotFoundHandler);
  // Before the routes: the document at /api/openapi.json lists those registered after it.
  await registerOpenApi(app);

  await app.register(hardeningPlugin, { config });
  await app.register(cors, {
    origin: [config.clientUrl.replace(/\/+$/, '')],
    methods: ['GET', 'POST', 'DELETE'],
  });
  const auth = config.auth ? await TokenVerifier.create(config.auth) : undefined;
  const metrics = new Metrics({
    registry,
    media,
    connections: () => app.signalingStats().connections,
    pingStore: () => store.ping(),
  });
  if (store instanceof RedisRoomStore) store.onCommand = (command, s) => metrics.redisLatency(s, command);
  registry.onBroadcast = (message) => {
    if (message.type === 'mode-changed') metrics.modeChanged(message.mode);
  };
  await app.register(fp(signalingPlugin), {
    config,
    logger,
    rooms,
    registry,
    media,
    auth,
    metrics,
    cluster,
  });
  await app.register(metricsPlugin, { metrics, token: config.metricsToken });
  await app.register(healthPlugin, { store, media });
  await app.register(roomsPlugin, {
    config,
    auth,
    rooms,
    media,
    signalingStats: () => app.signalingStats(),
  });
  await app.register(sfuPlugin, { config, media });
  await app.register(clientPlugin);

  app.addHook('onClose', async () => {
    await cluster?.close();
    await media.close();
    await store.close();
  });
  return app;
}
