import type { ServerMessage, ServerMessageOf, ServerPushType } from '../protocol/index.ts';

/**
 * What the SDK does with each message the server pushes: one entry per `push` or `both` type of
 * the protocol table, so a new server message without a handler is a compile error, not silence.
 */
export type PushHandlers = { [T in ServerPushType]: (message: ServerMessageOf<T>) => void };

function isPush(handlers: PushHandlers, message: ServerMessage): message is ServerMessageOf<ServerPushType> {
  return Object.hasOwn(handlers, message.type);
}

function run<T extends ServerPushType>(handlers: PushHandlers, type: T, message: ServerMessageOf<T>): void {
  const handler: PushHandlers[T] = handlers[type];
  handler(message);
}

/**
 * Hands a pushed message to its handler. A type the table does not know (a newer server) goes to
 * `unknown`, which the client turns into an `unknownMessage` event.
 */
export function dispatchPush(
  handlers: PushHandlers,
  message: ServerMessage,
  unknown: (message: ServerMessage) => void,
): void {
  if (isPush(handlers, message)) run(handlers, message.type, message);
  else unknown(message);
}
