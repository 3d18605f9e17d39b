import type { FastifyReply } from 'fastify';

/** REST errors share one JSON shape: { error, code, statusCode, details? }. */
export function sendHttpError(
  reply: FastifyReply,
  statusCode: number,
  code: string,
  error: string,
  details?: unknown,
): FastifyReply {
  return reply
    .code(statusCode)
    .send({ error, code, statusCode, ...(details !== undefined ? { details } : {}) });
}
