import type { FastifyReply, FastifyRequest } from 'fastify';
import { ResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RestError } from '../protocol/index.ts';
import { isStoreUnavailable } from '../rooms/storeErrors.ts';
import { RequestValidationError } from './zodSchemas.ts';

/** REST errors share one JSON shape: { error, code, statusCode, details? }. */
export function restError(statusCode: number, code: string, error: string, details?: unknown): RestError {
  return { error, code, statusCode, ...(details !== undefined ? { details } : {}) };
}

/** An error with a status and a code, for hooks and plugins that throw (rate limit). */
export function httpError(statusCode: number, code: string, message: string): HttpError {
  return Object.assign(new Error(message), { statusCode, code });
}

type HttpError = Error & { statusCode?: number; code?: string };

/**
 * A request that does not match its route's schema: 400 INVALID_REQUEST. A body lists the zod
 * issues in `details`; a path (the API's one path parameter is roomId) gives zod's error tree.
 */
function invalidRequest(err: RequestValidationError): RestError {
  switch (err.httpPart) {
    case 'params':
      return restError(400, 'INVALID_REQUEST', 'Invalid room id', z.treeifyError(err.zodError));
    case 'querystring':
      return restError(400, 'INVALID_REQUEST', 'Invalid query string', err.zodError.issues);
    case 'headers':
      return restError(400, 'INVALID_REQUEST', 'Invalid headers', err.zodError.issues);
    default:
      return restError(400, 'INVALID_REQUEST', 'Invalid request body', err.zodError.issues);
  }
}

/**
 * The error handler of the whole server: every error answers the REST error shape. 5xx say no
 * more than "Internal server error" (the log has the cause); a response that did not match its
 * schema is one of them, logged with the zod issues.
 */
export function restErrorHandler(err: HttpError, request: FastifyRequest, reply: FastifyReply) {
  if (err instanceof RequestValidationError) return reply.code(400).send(invalidRequest(err));
  if (isStoreUnavailable(err)) {
    request.log.warn({ err: err.message }, 'store unavailable');
    return reply
      .code(503)
      .send(restError(503, 'STORE_UNAVAILABLE', 'The room store cannot be reached; try again shortly'));
  }
  const status = err.statusCode ?? 500;
  if (status >= 500) {
    const issues = err instanceof ResponseSerializationError ? err.cause.issues : undefined;
    request.log.error({ err, ...(issues ? { issues } : {}) }, 'request failed');
  }
  const code = status === 429 ? 'RATE_LIMITED' : status < 500 ? (err.code ?? 'INVALID_REQUEST') : 'INTERNAL';
  return reply
    .code(status)
    .send(restError(status, code, status >= 500 ? 'Internal server error' : err.message));
}

/** Unknown routes: 404 NOT_FOUND in the same shape. */
export function restNotFoundHandler(request: FastifyRequest, reply: FastifyReply) {
  return reply
    .code(404)
    .send(restError(404, 'NOT_FOUND', `Route ${request.method} ${request.url.split('?')[0]} not found`));
}
