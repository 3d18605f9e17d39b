import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics/Metrics.ts';
import { restError } from './httpErrors.ts';

/**
 * GET /metrics: the Prometheus text format. With METRICS_TOKEN set it needs
 * `Authorization: Bearer <METRICS_TOKEN>`; without, it is open (it holds counts, no ids or secrets).
 */
export async function metricsPlugin(
  app: FastifyInstance,
  opts: { metrics: Metrics; token: string | undefined },
): Promise<void> {
  const expected = opts.token ? Buffer.from(`Bearer ${opts.token}`) : undefined;
  app.get('/metrics', async (request, reply) => {
    if (expected) {
      const given = Buffer.from(request.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return reply
          .code(401)
          .send(restError(401, 'UNAUTHORIZED', 'Missing or invalid Authorization: Bearer <METRICS_TOKEN>'));
      }
    }
    const text = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(text);
  });
}
