import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { packageRoot } from './clientPlugin.ts';

const PackageJson = z.object({ version: z.string() });

/**
 * The OpenAPI document of the REST API at GET /api/openapi.json, built from the routes' zod
 * schemas (jsonSchemaTransform). Called on the root instance before any route is registered: the
 * document lists the routes registered after it. Only tagged routes appear (rooms, health), so the
 * WebSocket endpoint, the SDK files and the demo pages stay out.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  const { version } = PackageJson.parse(
    JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')),
  );
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OpenCall REST API',
        version,
        description:
          'Rooms of the OpenCall signaling server. Errors share one shape: { error, code, statusCode, details? }.',
      },
      tags: [
        { name: 'rooms', description: 'Create, inspect, list and close rooms' },
        { name: 'health', description: 'Liveness and readiness probes' },
        { name: 'sfu', description: "The SFU's router capabilities, for clients to prepare before joining" },
      ],
    },
    hideUntagged: true,
    transform: jsonSchemaTransform,
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
