import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from '../config/index.ts';
import { RestError, SfuCapabilitiesResponse } from '../protocol/index.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import { apiRateLimit } from './apiRateLimit.ts';
import { restError } from './httpErrors.ts';

/**
 * GET /api/sfu/capabilities: what a client needs to load its mediasoup Device before it joins a
 * room (the SDK's prepareConnection), the way LiveKit's prepareConnection warms a connection up.
 * Public, like the join itself: the capabilities say which codecs the server forwards, nothing more.
 */
export async function sfuPlugin(
  base: FastifyInstance,
  opts: { config: Config; media: RoomMediaController },
): Promise<void> {
  const app = base.withTypeProvider<ZodTypeProvider>();
  await app.register(rateLimit, apiRateLimit(opts.config));
  app.get(
    '/api/sfu/capabilities',
    {
      schema: {
        tags: ['sfu'],
        summary: "The routers' RTP capabilities, to load a mediasoup Device before joining",
        response: { 200: SfuCapabilitiesResponse, 429: RestError, 503: RestError, 500: RestError },
      },
    },
    async (_request, reply) => {
      const routerRtpCapabilities = opts.media.routerRtpCapabilities();
      if (!routerRtpCapabilities) {
        return reply
          .code(503)
          .send(restError(503, 'SFU_UNAVAILABLE', 'The SFU is off or not running: rooms stay peer-to-peer'));
      }
      // The same for the server's whole life (its codecs are configuration).
      reply.header('cache-control', 'max-age=300');
      return { routerRtpCapabilities };
    },
  );
}
