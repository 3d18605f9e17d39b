import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { restError } from '../../src/http/httpErrors.ts';
import { createLogger } from '../../src/logger.ts';
import {
  type CreateRoomResponse,
  CreateRoomResponse as MeetingInfo,
  RestError,
} from '../../src/protocol/index.ts';

/*
 * The REST routes answer through their zod schemas. This file registers routes of its own on the
 * real app (same compilers, same error handler) with answers that do not match:
 * - at compile time, the lines marked @ts-expect-error must not compile (`npm run typecheck`
 *   fails on an unused directive, so a schema that stopped constraining a handler is caught);
 * - at run time, the same answers are refused by the serializer: a 500 in the REST error shape,
 *   never the wrong body.
 */

const room: CreateRoomResponse = {
  roomId: 'r',
  joinLink: 'http://localhost:3000/meeting/r',
  hostPeerId: null,
  maxParticipants: 10,
  encryption: 'none',
  mode: 'auto',
  createdAt: '2026-01-01T00:00:00.000Z',
};
const schema = { response: { 200: MeetingInfo, 404: RestError, 500: RestError } };

async function buildTestApp(logLines: string[]): Promise<FastifyInstance> {
  const config = loadConfig({ LOG_LEVEL: 'error', SFU_ENABLED: 'false', PORT: '0', HOST: '127.0.0.1' });
  const logger = createLogger('error', { write: (line: string) => void logLines.push(line) });
  return buildApp(config, { logger });
}

describe('REST answers go through their schemas', () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('compiles a handler that answers its schema, and sends that answer', async () => {
    const logs: string[] = [];
    app = await buildTestApp(logs);
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get('/test/right', { schema }, async () => room);
    typed.get('/test/right-404', { schema }, async (_req, reply) =>
      reply.code(404).send(restError(404, 'ROOM_NOT_FOUND', 'gone')),
    );
    const res = await app.inject({ method: 'GET', url: '/test/right' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(room);
    const gone = await app.inject({ method: 'GET', url: '/test/right-404' });
    expect(gone.statusCode).toBe(404);
    expect(gone.json()).toEqual({ error: 'gone', code: 'ROOM_NOT_FOUND', statusCode: 404 });
    expect(logs).toEqual([]);
  });

  it('refuses an answer of the wrong shape at run time: 500 INTERNAL, the issues in the log', async () => {
    const logs: string[] = [];
    app = await buildTestApp(logs);
    const typed = app.withTypeProvider<ZodTypeProvider>();

    // A field of the wrong type.
    // @ts-expect-error maxParticipants is a number in CreateRoomResponse
    typed.get('/test/wrong-type', { schema }, async () => ({ ...room, maxParticipants: 'ten' }));
    // A field missing.
    const { joinLink: _dropped, ...withoutJoinLink } = room;
    // @ts-expect-error joinLink is required
    typed.get('/test/missing', { schema }, async () => withoutJoinLink);
    // An error body that is not the REST error shape.
    typed.get('/test/wrong-error', { schema }, async (_req, reply) =>
      // @ts-expect-error a 404 answers a RestError, not meeting info
      reply.code(404).send(room),
    );

    for (const url of ['/test/wrong-type', '/test/missing', '/test/wrong-error']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(500);
      expect(res.json(), url).toEqual({ error: 'Internal server error', code: 'INTERNAL', statusCode: 500 });
    }
    const logged = logs.map((l) => JSON.parse(l));
    expect(logged.map((l) => [l.msg, l.err?.code])).toEqual([
      ['request failed', 'FST_ERR_RESPONSE_SERIALIZATION'],
      ['request failed', 'FST_ERR_RESPONSE_SERIALIZATION'],
      ['request failed', 'FST_ERR_RESPONSE_SERIALIZATION'],
    ]);
    expect(logged.map((l) => l.issues.map((i: { path: string[] }) => i.path.join('.')))).toEqual([
      ['maxParticipants'],
      ['joinLink'],
      ['error', 'code', 'statusCode'],
    ]);
  });

  it('does not compile a status code the route does not declare', async () => {
    app = await buildTestApp([]);
    const typed = app.withTypeProvider<ZodTypeProvider>();
    typed.get('/test/teapot', { schema }, async (_req, reply) =>
      // @ts-expect-error 418 is not among the route's response codes
      reply.code(418).send(restError(418, 'TEAPOT', 'short and stout')),
    );
    expect(app.hasRoute({ method: 'GET', url: '/test/teapot' })).toBe(true);
  });

  it('strips what the schema does not list: nothing leaks', async () => {
    app = await buildTestApp([]);
    const typed = app.withTypeProvider<ZodTypeProvider>();
    const withSecret = { ...room, adminToken: 's3cret' };
    typed.get('/test/extra', { schema }, async () => withSecret);
    const res = await app.inject({ method: 'GET', url: '/test/extra' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(room);
  });

  it('validates requests with the zod schemas, into the REST error shape', async () => {
    app = await buildTestApp([]);
    const typed = app.withTypeProvider<ZodTypeProvider>();
    const query = z.object({ limit: z.coerce.number().int().min(1) });
    typed.get('/test/query', { schema: { querystring: query } }, async (req) => ({ limit: req.query.limit }));
    expect((await app.inject({ method: 'GET', url: '/test/query?limit=5' })).json()).toEqual({ limit: 5 });
    const bad = await app.inject({ method: 'GET', url: '/test/query?limit=0' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({
      error: 'Invalid query string',
      code: 'INVALID_REQUEST',
      statusCode: 400,
      details: [{ code: 'too_small', path: ['limit'] }],
    });
  });
});

describe('GET /api/openapi.json', () => {
  it('documents every REST route from its zod schemas, and nothing else', async () => {
    const app = await buildTestApp([]);
    try {
      const res = await app.inject({ method: 'GET', url: '/api/openapi.json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(doc.openapi).toBe('3.1.0');
      const operations = Object.entries(doc.paths as Record<string, Record<string, { responses: object }>>)
        .flatMap(([path, ops]) =>
          Object.entries(ops).map(
            ([method, op]) => `${method} ${path} ${Object.keys(op.responses).join(',')}`,
          ),
        )
        .sort();
      expect(operations).toEqual([
        'delete /api/rooms/{roomId} 204,400,401,403,404,429,500',
        'delete /api/rooms/{roomId}/recordings/{recordingId} 200,400,401,403,404,429,500',
        'get /api/rooms 200,400,401,403,429,500',
        'get /api/rooms/{roomId} 200,400,404,429,500',
        'get /api/sfu/capabilities 200,429,500,503',
        'get /health 200',
        'get /ready 200,503',
        'post /api/rooms 201,400,401,409,429,500,503',
        'post /api/rooms/{roomId}/recordings 201,400,401,403,404,409,429,500,503',
      ]);
      const create = doc.paths['/api/rooms'].post;
      const body = create.requestBody.content['application/json'].schema;
      expect(Object.keys(body.properties).sort()).toEqual([
        'encryption',
        'hostPeerId',
        'maxParticipants',
        'mode',
        'roomId',
      ]);
      expect(body.additionalProperties).toBe(false);
      expect(create.responses['201'].content['application/json'].schema.required).toEqual([
        'roomId',
        'joinLink',
        'hostPeerId',
        'maxParticipants',
        'encryption',
        'mode',
        'createdAt',
      ]);
      expect(create.responses['409'].content['application/json'].schema.required).toEqual([
        'error',
        'code',
        'statusCode',
      ]);
      expect(doc.paths['/api/rooms/{roomId}'].get.parameters).toMatchObject([
        { in: 'path', name: 'roomId', required: true, schema: { type: 'string', maxLength: 128 } },
      ]);
    } finally {
      await app.close();
    }
  });
});
