import { describe, expect, it } from 'vitest';
import {
  ClientMessage,
  DtlsParameters,
  ErrorCode,
  RtpCapabilities,
  RtpParameters,
  ServerMessage,
} from '../../src/protocol/index.ts';
import { decodeClientMessage } from '../../src/signaling/MessageDecoder.ts';

const seedJoin = {
  type: 'join-room',
  roomId: 'abc123',
  peerId: 'peer-unique-id',
  displayName: 'John Doe',
  mediaState: { audio: true, video: false, screen: false },
  timestamp: 1234567890,
};

describe('client messages', () => {
  it('accepts every client example of the seed document', () => {
    const examples = [
      seedJoin,
      { type: 'leave-room', roomId: 'abc123', peerId: 'peer-unique-id', timestamp: 1234567890 },
      {
        type: 'offer',
        roomId: 'abc123',
        fromPeerId: 'peer1',
        toPeerId: 'peer2',
        offer: { type: 'offer', sdp: '...' },
        timestamp: 1,
      },
      {
        type: 'answer',
        roomId: 'abc123',
        fromPeerId: 'peer2',
        toPeerId: 'peer1',
        answer: { type: 'answer', sdp: '...' },
        timestamp: 1,
      },
      {
        type: 'ice-candidate',
        roomId: 'abc123',
        fromPeerId: 'peer1',
        toPeerId: 'peer2',
        candidate: { candidate: '...', sdpMLineIndex: 0, sdpMid: '0' },
        timestamp: 1,
      },
      {
        type: 'media-state-changed',
        roomId: 'abc123',
        peerId: 'p',
        mediaState: { audio: false, video: true, screen: false },
        timestamp: 1,
      },
    ];
    for (const example of examples) {
      const result = ClientMessage.safeParse(example);
      expect(result.success, JSON.stringify(example)).toBe(true);
    }
  });

  it('strips unknown fields so they can never be relayed', () => {
    const parsed = ClientMessage.parse({ ...seedJoin, isAdmin: true, __proto__x: 1 });
    expect(parsed).not.toHaveProperty('isAdmin');
  });

  it('defaults mediaState and leaves peerId optional on join', () => {
    const parsed = ClientMessage.parse({ type: 'join-room', roomId: 'r', displayName: 'D' });
    expect(parsed).toMatchObject({ mediaState: { audio: false, video: false, screen: false } });
  });

  it('rejects bad ids, empty names and wrong sdp types', () => {
    expect(ClientMessage.safeParse({ ...seedJoin, roomId: 'a b' }).success).toBe(false);
    expect(ClientMessage.safeParse({ ...seedJoin, roomId: 'x'.repeat(129) }).success).toBe(false);
    expect(ClientMessage.safeParse({ ...seedJoin, displayName: '   ' }).success).toBe(false);
    expect(
      ClientMessage.safeParse({ type: 'offer', toPeerId: 'b', offer: { type: 'answer', sdp: 'x' } }).success,
    ).toBe(false);
    expect(
      ClientMessage.safeParse({ type: 'media-state-changed', mediaState: { audio: 'yes' } }).success,
    ).toBe(false);
  });
});

describe('decodeClientMessage', () => {
  it('maps each failure to its error code and keeps the requestId', () => {
    expect(decodeClientMessage('{')).toMatchObject({ ok: false, code: 'INVALID_MESSAGE' });
    expect(decodeClientMessage('"str"')).toMatchObject({ ok: false, code: 'INVALID_MESSAGE' });
    expect(decodeClientMessage('{"requestId":3}')).toMatchObject({
      ok: false,
      code: 'INVALID_MESSAGE',
      requestId: 3,
    });
    expect(decodeClientMessage('{"type":"nope","requestId":"r"}')).toMatchObject({
      ok: false,
      code: 'UNKNOWN_TYPE',
      requestId: 'r',
    });
    const missing = decodeClientMessage('{"type":"offer","toPeerId":"b"}');
    expect(missing).toMatchObject({ ok: false, code: 'INVALID_MESSAGE', relatedType: 'offer' });
    expect(decodeClientMessage(JSON.stringify(seedJoin))).toMatchObject({
      ok: true,
      message: { type: 'join-room' },
    });
  });
});

describe('mediasoup parameter schemas', () => {
  it('refuses dtlsParameters without fingerprints (mediasoup#537)', () => {
    expect(DtlsParameters.safeParse({ role: 'client', fingerprints: [] }).success).toBe(false);
    expect(DtlsParameters.safeParse({ role: 'client' }).success).toBe(false);
    expect(DtlsParameters.safeParse({ fingerprints: [{ algorithm: 'md5', value: 'AA:BB' }] }).success).toBe(
      false,
    );
    expect(
      DtlsParameters.safeParse({ fingerprints: [{ algorithm: 'sha-256', value: 'not hex' }] }).success,
    ).toBe(false);
    expect(
      DtlsParameters.safeParse({ role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD:EF' }] })
        .success,
    ).toBe(true);
  });

  it('refuses rtpParameters without codecs or with impossible values', () => {
    const good = {
      codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }],
      encodings: [{ ssrc: 1234 }],
    };
    expect(RtpParameters.safeParse(good).success).toBe(true);
    expect(RtpParameters.safeParse({ codecs: [] }).success).toBe(false);
    expect(
      RtpParameters.safeParse({ ...good, codecs: [{ ...good.codecs[0], payloadType: 300 }] }).success,
    ).toBe(false);
    expect(
      RtpParameters.safeParse({ ...good, codecs: [{ ...good.codecs[0], mimeType: 'opus' }] }).success,
    ).toBe(false);
    expect(RtpParameters.safeParse({ ...good, encodings: [{ ssrc: -1 }] }).success).toBe(false);
  });

  it('validates rtpCapabilities', () => {
    expect(
      RtpCapabilities.safeParse({
        codecs: [{ kind: 'audio', mimeType: 'audio/opus', preferredPayloadType: 100, clockRate: 48000 }],
      }).success,
    ).toBe(true);
    expect(
      RtpCapabilities.safeParse({ codecs: [{ kind: 'data', mimeType: 'audio/opus', clockRate: 48000 }] })
        .success,
    ).toBe(false);
    expect(RtpCapabilities.safeParse({ codecs: 'all' }).success).toBe(false);
  });
});

describe('server messages and error codes', () => {
  it('parses the seed examples of server messages', () => {
    expect(
      ServerMessage.safeParse({ type: 'peer-left', roomId: 'abc123', peerId: 'x', timestamp: 1 }).success,
    ).toBe(true);
    expect(
      ServerMessage.safeParse({
        type: 'error',
        error: 'Room not found',
        code: 'ROOM_NOT_FOUND',
        timestamp: 1,
      }).success,
    ).toBe(true);
  });

  it('has every code the issue lists', () => {
    for (const code of [
      'ROOM_NOT_FOUND',
      'ROOM_FULL',
      'INVALID_MESSAGE',
      'UNKNOWN_TYPE',
      'NOT_IN_ROOM',
      'PEER_NOT_FOUND',
      'DUPLICATE_PEER',
      'FORBIDDEN',
      'MESSAGE_TOO_LARGE',
      'RATE_LIMITED',
      'INTERNAL',
    ]) {
      expect(ErrorCode.options).toContain(code);
    }
  });
});
