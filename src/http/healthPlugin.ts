import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { HealthResponse, NotReadyResponse, ReadyResponse, type ReadySfu } from '../protocol/index.ts';
import type { RoomStore } from '../rooms/RoomStore.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';

/**
 * /health: the process is up. /ready: a body per component; 503 when the store does not answer
 * (nothing works without it). A degraded or unavailable SFU does not make the server unready:
 * rooms then stay peer-to-peer, and the body says why.
 */
export async function healthPlugin(
  base: FastifyInstance,
  opts: { store: RoomStore; media: RoomMediaController },
): Promise<void> {
  const app = base.withTypeProvider<ZodTypeProvider>();

  app.get(
    '/health',
    { schema: { tags: ['health'], summary: 'The process is up', response: { 200: HealthResponse } } },
    async (): Promise<HealthResponse> => ({ status: 'ok', uptimeS: Math.round(process.uptime()) }),
  );

  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary: 'Readiness per component: 503 while the store does not answer',
        response: { 200: ReadyResponse, 503: NotReadyResponse },
      },
    },
    async (_request, reply) => {
      const media = opts.media.status();
      const sfu: ReadySfu = {
        status: media.health,
        enabled: media.enabled,
        ...(media.reason !== undefined ? { reason: media.reason } : {}),
        workers: media.workers,
        down: media.down,
        announcedAddresses: media.candidates,
        addressSource: media.addressSource,
        routers: media.routers,
        clientReachability: media.clientReachability,
      };
      try {
        await opts.store.ping();
      } catch (err) {
        return reply.code(503).send({
          status: 'not-ready',
          store: {
            status: 'unreachable',
            kind: opts.store.kind,
            reason: err instanceof Error ? err.message : String(err),
          },
          sfu,
        });
      }
      return reply.code(200).send({ status: 'ready', store: { status: 'ok', kind: opts.store.kind }, sfu });
    },
  );
}
