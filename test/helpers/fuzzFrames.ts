import fc from 'fast-check';
import { clientMessages } from '../../src/protocol/index.ts';

/*
 * Fuzzed client frames, derived from the protocol table so a new message is fuzzed as soon as it
 * is declared: each frame names a real message type (or a wrong one) and fills that message's own
 * fields with values of every JSON type, valid-looking ones among them. Some frames are truncated
 * JSON, some not JSON at all, some not objects.
 */

export const messageTypes = Object.keys(clientMessages) as Array<keyof typeof clientMessages>;

const fieldsOf = (type: keyof typeof clientMessages): string[] => Object.keys(clientMessages[type].shape);

/** Values a field may get: every JSON type, and some that look right for ids and SDP. */
const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('room-1', 'peer-1', 'peer-2', 'send', 'recv', 'audio', 'video', 'mic', 'camera', '*', ''),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    { type: 'offer', sdp: 'v=0\r\n' },
    { audio: true, video: false, screen: false },
    { codecs: [] },
  ),
  fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer()), { maxLength: 4 }),
  fc.dictionary(
    fc.string({ maxLength: 8 }),
    fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean()),
    {
      maxKeys: 4,
    },
  ),
  fc.string({ minLength: 200, maxLength: 2000 }),
);

/** A message object: a protocol type (mostly) with a random subset of its fields, randomly typed. */
const messageObject: fc.Arbitrary<Record<string, unknown>> = fc
  .oneof(
    { weight: 9, arbitrary: fc.constantFrom(...messageTypes) },
    {
      weight: 1,
      arbitrary: fc.oneof(fc.string({ maxLength: 12 }), fc.constant('__proto__'), fc.constant('constructor')),
    },
  )
  .chain((type) => {
    const fields =
      typeof type === 'string' && Object.hasOwn(clientMessages, type)
        ? fieldsOf(type as keyof typeof clientMessages)
        : [];
    return fc.record({
      type: fc.oneof(
        { weight: 19, arbitrary: fc.constant<unknown>(type) },
        { weight: 1, arbitrary: fieldValue },
      ),
      fields: fc
        .subarray(fields)
        .chain((chosen) => fc.tuple(...chosen.map((name) => fc.tuple(fc.constant(name), fieldValue)))),
      requestId: fc.option(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { nil: undefined }),
      extra: fc.dictionary(fc.string({ maxLength: 6 }), fieldValue, { maxKeys: 2 }),
    });
  })
  .map(({ type, fields, requestId, extra }) => ({
    ...extra,
    type,
    ...Object.fromEntries(fields),
    ...(requestId !== undefined ? { requestId } : {}),
  }));

/** One frame as sent: mostly JSON of a message object; sometimes truncated, not JSON, or not an object. */
export const fuzzFrame: fc.Arbitrary<string> = fc.oneof(
  { weight: 14, arbitrary: messageObject.map((m) => JSON.stringify(m)) },
  {
    weight: 2,
    arbitrary: messageObject.chain((m) => {
      const text = JSON.stringify(m);
      return fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n));
    }),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
);
