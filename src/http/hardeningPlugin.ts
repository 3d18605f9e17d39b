import compress from '@fastify/compress';
import helmet from '@fastify/helmet';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config/index.ts';

/**
 * Browser-facing hardening for every route: security headers with a Content-Security-Policy the
 * demo satisfies (its own scripts and styles, data: icons, and the WebSocket of this origin),
 * compression of what is served (the SDK bundle above all), and no source maps unless asked for.
 */
async function hardening(app: FastifyInstance, { config }: { config: Readonly<Config> }): Promise<void> {
  const sameOriginSocket = (request: FastifyRequest): string => {
    const host = request.headers.host ?? 'localhost';
    return `${request.protocol === 'https' ? 'wss' : 'ws'}://${host}`;
  };
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        mediaSrc: ["'self'", 'blob:', 'mediastream:'],
        // helmet calls a function directive with (req, res): the socket of the origin asked.
        connectSrc: ["'self'", (req) => sameOriginSocket(req as unknown as FastifyRequest)],
        // The E2EE frame transform runs in a worker the SDK makes from a Blob.
        workerSrc: ["'self'", 'blob:'],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
      },
    },
    // The demo uses the camera and microphone; cross-origin isolation would break TURN/STUN nothing,
    // but embedding third-party media (avatars) would: keep COEP off.
    crossOriginEmbedderPolicy: false,
  });
  await app.register(compress, { global: true, threshold: 1024 });
  if (!config.serveSourceMaps) {
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.split('?')[0]?.endsWith('.map')) {
        return reply.code(404).send({ error: 'Not found', code: 'NOT_FOUND', statusCode: 404 });
      }
    });
  }
}

export const hardeningPlugin = fp(hardening, { name: 'opencall-hardening' });
