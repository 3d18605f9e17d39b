import { Redis, type RedisOptions } from 'ioredis';
import type { Config, RedisConfig } from '../config/index.ts';
import type { Logger } from '../logger.ts';
import { MemoryRoomStore } from './MemoryRoomStore.ts';
import { RedisRoomStore } from './RedisRoomStore.ts';
import type { RoomStore } from './RoomStore.ts';

/** Repeats of the same Redis error are logged at most this often while it stays down. */
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * The ioredis options OpenCall uses. Commands issued while Redis is down fail within a second
 * (commandTimeout) instead of queueing, so requests and /ready fail fast; reconnection itself never
 * gives up, backing off to one attempt every 5 s.
 */
export function redisClientOptions(): RedisOptions {
  return {
    lazyConnect: false,
    connectionName: 'opencall',
    connectTimeout: 5_000,
    maxRetriesPerRequest: 1,
    // Every command answers or fails within a second: a Redis outage is STORE_UNAVAILABLE at once,
    // not an INTERNAL after the reconnection backoff.
    commandTimeout: 1_000,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5_000),
  };
}

/** RedisRoomStore when config.redis is set (REDIS_URL or REDIS_HOST), otherwise MemoryRoomStore. */
export function createRoomStore(config: Config, logger: Logger): RoomStore {
  const emptyTtlS = config.roomEmptyTtlS;
  const redis = config.redis;
  if (!redis) {
    logger.info({ store: 'memory' }, 'room store: in memory (single process)');
    return new MemoryRoomStore({ emptyTtlS });
  }

  const client = createRedisClient(redis, logger, 'opencall');
  logger.info({ store: 'redis', keyPrefix: redis.keyPrefix }, 'room store: redis');
  return new RedisRoomStore(client, { keyPrefix: redis.keyPrefix, emptyTtlS, closeClient: true });
}

/**
 * One ioredis connection to the configured Redis, with OpenCall's options and error logging. The
 * store uses one; the cluster bus two more (a subscriber connection can do nothing else).
 */
export function createRedisClient(redis: RedisConfig, logger: Logger, connectionName: string): Redis {
  const options = { ...redisClientOptions(), connectionName };
  // With a URL, what the URL says wins; REDIS_PASSWORD only fills in a URL without a password.
  const client = redis.url
    ? new Redis(redis.url, { ...options, ...(redis.password ? { password: redis.password } : {}) })
    : new Redis({
        ...options,
        port: redis.port,
        ...(redis.host ? { host: redis.host } : {}),
        ...(redis.password ? { password: redis.password } : {}),
      });

  // Only the message and code are logged: ioredis errors can carry the command's arguments (AUTH's
  // password), and the URL can hold credentials, so neither the error object nor the URL is logged.
  let lastError = '';
  let lastErrorAt = 0;
  client.on('error', (err: Error & { code?: string }) => {
    const now = Date.now();
    if (err.message === lastError && now - lastErrorAt < ERROR_LOG_INTERVAL_MS) return;
    lastError = err.message;
    lastErrorAt = now;
    logger.error({ store: 'redis', code: err.code, message: err.message }, 'redis error');
  });
  client.on('ready', () => {
    lastError = '';
    logger.info({ store: 'redis' }, 'redis connected');
  });
  client.on('reconnecting', (delayMs: number) => {
    logger.debug({ store: 'redis', delayMs }, 'redis reconnecting');
  });

  return client;
}
