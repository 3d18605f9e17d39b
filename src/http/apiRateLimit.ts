import type { RateLimitPluginOptions } from '@fastify/rate-limit';
import type { Config } from '../config/index.ts';
import { httpError } from './httpErrors.ts';

/** The REST API's rate limit (RATE_LIMIT_*), the same for every plugin under /api. */
export function apiRateLimit(config: Config): RateLimitPluginOptions {
  return {
    max: config.rateLimit.max,
    timeWindow: config.rateLimit.windowMs,
    errorResponseBuilder: (_req, context) =>
      httpError(429, 'RATE_LIMITED', `Rate limit exceeded: retry in ${Math.ceil(context.ttl / 1000)} s`),
  };
}
