import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** The package root, found from this file whether it runs from src/ or from dist/src/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the server code');
    dir = parent;
  }
  return dir;
}

/**
 * The browser side: the SDK bundle at /client/opencall.js and the demo page at / and
 * /meeting/:roomId (the shape of the seed's joinLink), all from dist/client (npm run build).
 */
export async function clientPlugin(app: FastifyInstance): Promise<void> {
  const root = join(packageRoot(), 'dist', 'client');
  const built = existsSync(join(root, 'opencall.js'));
  if (!built) app.log.warn({ root }, 'client bundle missing: run `npm run build` to serve the SDK and demo');
  await app.register(fastifyStatic, {
    root,
    prefix: '/client/',
    index: false,
    wildcard: true,
    decorateReply: true,
  });
  app.get('/', (_request, reply) => reply.sendFile('index.html'));
  app.get('/meeting/:roomId', (_request, reply) => reply.sendFile('index.html'));
}
