import type { FastifyInstance } from 'fastify';
import type { RoomStore } from '../rooms/RoomStore.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';

/** /health: the process is up. /ready: the store answers (and how the SFU is doing). */
export async function healthPlugin(
  app: FastifyInstance,
  opts: { store: RoomStore; media: RoomMediaController },
): Promise<void> {
  app.get('/health', async () => ({ status: 'ok', uptimeS: Math.round(process.uptime()) }));

  app.get('/ready', async (_request, reply) => {
    const sfu = opts.media.status();
    const sfuState = !sfu.enabled ? 'disabled' : sfu.available ? 'available' : 'unavailable';
    try {
      await opts.store.ping();
    } catch (err) {
      return reply.code(503).send({
        status: 'not-ready',
        store: 'unreachable',
        storeKind: opts.store.kind,
        reason: err instanceof Error ? err.message : String(err),
        sfu: sfuState,
      });
    }
    return {
      status: 'ready',
      store: 'ok',
      storeKind: opts.store.kind,
      sfu: sfuState,
      ...(sfu.reason && !sfu.available ? { sfuReason: sfu.reason } : {}),
    };
  });
}
