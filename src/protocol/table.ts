import { z } from 'zod';
import { RequestId } from './common.ts';
import type { ErrorCode } from './errors.ts';

/*
 * The machinery of the two message tables (client.ts, server.ts). A message is declared once, as
 * one table entry: its fields, and for a client message its reply, its route on the server and its
 * errors. Everything else is derived from the tables: the zod schema of each message (with its
 * `type` literal and the common fields added), the TypeScript types, the server's dispatch tables
 * and the SDK's, which are typed so that a message without a handler does not compile.
 */

/** Who handles a client message on the server. */
export type Route =
  /** The signaling layer (signaling/handlers.ts): rooms, relays, keepalive. */
  | 'signaling'
  /** The room's SFU (ConnectionManager's operation table); needs the room to have a router. */
  | 'sfu'
  /** The room's mode switch (ConnectionManager): readiness and failure reports. */
  | 'switch';

/** How a server message reaches a client: as the reply to a request, pushed, or either. */
export type Delivery = 'reply' | 'push' | 'both';

type Shape = z.ZodRawShape;

/** Fields every client message may carry: `requestId` is echoed; `timestamp` is ignored. */
const clientBase = {
  requestId: RequestId.optional(),
  timestamp: z.number().optional(),
};
/** Fields the server puts on every message: its own `timestamp`, and `requestId` on a reply. */
const serverBase = {
  timestamp: z.number(),
  requestId: RequestId.optional(),
};

export type ClientSchema<T extends string, S extends Shape> = z.ZodObject<
  { type: z.ZodLiteral<T> } & S & typeof clientBase
>;
export type ServerSchema<T extends string, S extends Shape> = z.ZodObject<
  { type: z.ZodLiteral<T> } & S & typeof serverBase
>;

/** One client message as declared in the table. */
export interface ClientMessageDecl<R extends string = string> {
  /** Its fields (besides type, requestId and timestamp). */
  shape: Shape;
  /** The server message that answers it, or null when nothing does (relays, reports). */
  reply: R | null;
  route: Route;
  /** The error codes it can be answered with, besides INVALID_MESSAGE, RATE_LIMITED and INTERNAL. */
  errors: readonly ErrorCode[];
}

/** One server message as declared in the table. */
export interface ServerMessageDecl {
  shape: Shape;
  delivery: Delivery;
}

export type ClientTable<D extends Record<string, ClientMessageDecl>> = {
  [T in keyof D & string]: D[T] & { schema: ClientSchema<T, D[T]['shape']> };
};
export type ServerTable<D extends Record<string, ServerMessageDecl>> = {
  [T in keyof D & string]: D[T] & { schema: ServerSchema<T, D[T]['shape']> };
};

/** Builds the client table: each entry gets its schema, `type` literal and common fields added. */
export function defineClientMessages<
  const R extends string,
  const D extends Record<string, ClientMessageDecl<R>>,
>(declarations: D): ClientTable<D> {
  const entries = Object.entries(declarations).map(([type, decl]) => [
    type,
    { ...decl, schema: z.object({ type: z.literal(type), ...decl.shape, ...clientBase }) },
  ]);
  // Object.fromEntries cannot carry the per-key types that the mapped type states.
  return Object.fromEntries(entries) as ClientTable<D>;
}

/** Builds the server table, the same way. */
export function defineServerMessages<const D extends Record<string, ServerMessageDecl>>(
  declarations: D,
): ServerTable<D> {
  const entries = Object.entries(declarations).map(([type, decl]) => [
    type,
    { ...decl, schema: z.object({ type: z.literal(type), ...decl.shape, ...serverBase }) },
  ]);
  return Object.fromEntries(entries) as ServerTable<D>;
}
