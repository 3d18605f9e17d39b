import {
  type ClientMessage,
  clientMessages,
  type ErrorCode,
  isClientMessageType,
  type RequestId,
} from '../protocol/index.ts';

export type Decoded =
  | { ok: true; message: ClientMessage }
  | {
      ok: false;
      code: ErrorCode;
      error: string;
      requestId?: RequestId;
      relatedType?: string;
      details?: unknown;
    };

function requestIdOf(value: Record<string, unknown>): RequestId | undefined {
  const id = value.requestId;
  return typeof id === 'string' || typeof id === 'number' ? id : undefined;
}

/** Text frame → validated client message, or the protocol error to answer with. */
export function decodeClientMessage(text: string): Decoded {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'INVALID_MESSAGE', error: 'Malformed JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'INVALID_MESSAGE', error: 'A message must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const requestId = requestIdOf(record);
  const base = requestId !== undefined ? { requestId } : {};
  const type = record.type;
  if (typeof type !== 'string') {
    return { ok: false, code: 'INVALID_MESSAGE', error: 'Missing "type" field', ...base };
  }
  // One schema per type, from the protocol table: a lookup beats trying every member of a union.
  if (!isClientMessageType(type)) {
    return {
      ok: false,
      code: 'UNKNOWN_TYPE',
      error: `Unknown message type "${type.slice(0, 64)}"`,
      relatedType: type.slice(0, 64),
      ...base,
    };
  }
  const parsed = clientMessages[type].schema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    return {
      ok: false,
      code: 'INVALID_MESSAGE',
      error: `Invalid ${type} message: ${first ? `${first.path || '(root)'}: ${first.message}` : 'validation failed'}`,
      relatedType: type,
      details: issues,
      ...base,
    };
  }
  return { ok: true, message: parsed.data };
}
