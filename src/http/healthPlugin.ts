import type { FastifyInstance } from 'fastify';
import type { RoomStore } from '../rooms/RoomStore.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';

/**
 * /health: the process is up. /ready: a body per component; 503 when the store does not answer
 * (nothing works without it). A degraded or unavailable SFU does not make the server unready:
 * rooms then stay peer-to-peer, and the body says why.
 */
export async function healthPlugin(
  app: FastifyInstance,
  opts: { store: RoomStore; media: RoomMediaController },
): Promise<void> {
  app.get('/health', async () => ({ status: 'ok', uptimeS: Math.round(process.uptime()) }));

  app.get('/ready', async (_request, reply) => {
    const media = opts.media.status();
    const sfu = {
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
    return { status: 'ready', store: { status: 'ok', kind: opts.store.kind }, sfu };
  });
}
