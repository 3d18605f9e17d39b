import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';

/**
 * A request part (body, params, querystring, headers) that does not match its zod schema. It
 * keeps the ZodError, so the error handler answers with zod's own issues (restErrorHandler).
 */
export class RequestValidationError extends Error {
  readonly statusCode = 400;
  readonly code = 'INVALID_REQUEST';
  readonly httpPart: string | undefined;
  readonly zodError: z.ZodError;

  constructor(httpPart: string | undefined, zodError: z.ZodError) {
    super(`Invalid ${httpPart ?? 'request'}`);
    this.name = 'RequestValidationError';
    this.httpPart = httpPart;
    this.zodError = zodError;
  }
}

/**
 * Validates request parts with the routes' zod schemas; the parsed value (defaults applied,
 * unknown keys stripped unless the schema is strict) replaces the raw one. Same contract as
 * fastify-type-provider-zod's validatorCompiler, whose ZodTypeProvider types the handlers, but the
 * error keeps the ZodError instead of flattening it to Ajv-style entries.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success
      ? { value: result.data }
      : { error: new RequestValidationError(httpPart, result.error) };
  };
