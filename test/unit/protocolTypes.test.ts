import type { types as ms } from 'mediasoup';
import type { types as msc } from 'mediasoup-client';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { PushHandlers } from '../../src/client/ServerPushes.ts';
import type { OutgoingClientMessage, Signaling } from '../../src/client/Signaling.ts';
import type {
  ClientMessageType,
  ConsumerRtpParameters,
  DtlsParameters,
  IceCandidate,
  IceParameters,
  ReplyOf,
  RouterRtpCapabilities,
  RtpCapabilities,
  RtpParameters,
  SfuOperationType,
  SignalingMessageType,
  SwitchMessageType,
} from '../../src/protocol/index.ts';
import type { SfuOperationTable } from '../../src/sfu/ConnectionManagerTypes.ts';
import { type HandlerTable, handlers, type Replied } from '../../src/signaling/handlers.ts';

/*
 * Type-level tests: `npm run typecheck` (tsc over test/ too) is what runs them. Each `@ts-expect-error`
 * line must fail to compile, or tsc fails on the unused directive; each plain assignment must
 * compile. They prove the two promises of the protocol table:
 * - a message without its handler, SFU operation or SDK push case does not compile;
 * - the mediasoup payloads on the wire stay assignable to mediasoup's and mediasoup-client's types,
 *   in the direction each one travels, so an upgrade of either library that changes them fails tsc.
 */

/** Compiles only when A is assignable to B. */
const assignable = <A, B>(_check: [A] extends [B] ? true : false): void => undefined;

describe('the protocol table, at compile time', () => {
  it('every client message has exactly one route', () => {
    expectTypeOf<
      SignalingMessageType | SfuOperationType | SwitchMessageType
    >().toEqualTypeOf<ClientMessageType>();
  });

  it('a signaling message without a handler does not compile', () => {
    const { ping: _ping, ...withoutPing } = handlers;
    // @ts-expect-error the table misses 'ping'
    const incomplete: HandlerTable = withoutPing;
    expect(incomplete).toBeDefined();
  });

  it('a handler of a message with a reply must reply, and with the reply the table names', () => {
    const silent: HandlerTable['ping'] =
      // @ts-expect-error returns without calling reply()
      () => undefined;
    const wrongReply: HandlerTable['ping'] = (_ctx, _session, _msg, reply) =>
      // @ts-expect-error ping is answered with pong, not room-left
      reply({ type: 'room-left', roomId: 'r' });
    const right: HandlerTable['ping'] = (_ctx, _session, _msg, reply): Replied => reply({ type: 'pong' });
    expect([silent, wrongReply, right]).toHaveLength(3);
  });

  it('an SFU operation missing from ConnectionManager does not compile', () => {
    const operations = {} as SfuOperationTable;
    const { 'sfu-restart-ice': _restart, ...rest } = operations;
    // @ts-expect-error the table misses 'sfu-restart-ice'
    const incomplete: SfuOperationTable = rest;
    expect(incomplete).toBeDefined();
  });

  it('a pushed server message without an SDK case does not compile', () => {
    const pushes = {} as PushHandlers;
    const { 'sfu-restart': _restart, ...rest } = pushes;
    // @ts-expect-error the SDK's push table misses 'sfu-restart'
    const incomplete: PushHandlers = rest;
    expect(incomplete).toBeDefined();
  });

  it('the SDK gets each request typed and its reply typed from the table', () => {
    type Request = Signaling['request'];
    expectTypeOf<ReturnType<typeof requestJoin>>().toEqualTypeOf<Promise<ReplyOf<'join-room'>>>();
    function requestJoin(request: Request) {
      return request({ type: 'join-room', roomId: 'r', displayName: 'Ada' }, 'room-joined');
    }
    function wrongExpect(request: Request) {
      // @ts-expect-error join-room is answered with room-joined
      return request({ type: 'join-room', roomId: 'r', displayName: 'Ada' }, 'pong');
    }
    function unknownField(request: Request) {
      // @ts-expect-error sfu-join needs rtpCapabilities
      return request({ type: 'sfu-join' }, 'sfu-joined');
    }
    const relay: OutgoingClientMessage<'offer'> = {
      type: 'offer',
      toPeerId: 'b',
      offer: { type: 'offer', sdp: 'v=0' },
    };
    expect([requestJoin, wrongExpect, unknownField, relay]).toHaveLength(4);
  });
});

describe('mediasoup payloads on the wire, at compile time', () => {
  it('client → server: what a client sends is what mediasoup takes', () => {
    assignable<RtpCapabilities, ms.RtpCapabilities>(true);
    assignable<RtpParameters, ms.RtpParameters>(true);
    assignable<DtlsParameters, ms.DtlsParameters>(true);
    // mediasoup-client produces what the schemas accept (codec parameters go through scalars()).
    assignable<msc.DtlsParameters, DtlsParameters>(true);
    assignable<Omit<msc.RtpHeaderExtension, never>, NonNullable<RtpCapabilities['headerExtensions']>[number]>(
      true,
    );
  });

  it('server → client: what mediasoup gives is what the messages carry', () => {
    assignable<ms.RtpCapabilities, RouterRtpCapabilities>(true);
    assignable<ms.RtpParameters, ConsumerRtpParameters>(true);
    assignable<ms.IceParameters, IceParameters>(true);
    assignable<ms.IceCandidate, IceCandidate>(true);
    assignable<ms.DtlsParameters, DtlsParameters>(true);
    // …and mediasoup-client takes it (capabilities and RTP parameters through mediasoupWire.ts).
    assignable<IceParameters, msc.IceParameters>(true);
    assignable<IceCandidate, msc.IceCandidate>(true);
    assignable<DtlsParameters, msc.DtlsParameters>(true);
  });

  it('the checks can fail', () => {
    // @ts-expect-error a router capability is not a producer's RTP parameters
    assignable<ms.RtpCapabilities, RtpParameters>(true);
    // mediasoup's header extensions include one this mediasoup-client lacks: not assignable as is.
    assignable<ms.RtpHeaderExtensionUri, msc.RtpHeaderExtensionUri>(false);
    expect(true).toBe(true);
  });
});
