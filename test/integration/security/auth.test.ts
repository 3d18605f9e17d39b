import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../src/protocol/index.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/*
 * Join tokens, the way an attacker would try them: no token, expired, early, for another audience,
 * room or peer, `alg: none`, another HS algorithm, an HS256 token signed with the public key
 * (CVE-2021-39215's class), a key set served over HTTP. Real sockets, real server.
 */

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const secretKey = new TextEncoder().encode(SECRET);

const claims = (extra: JWTPayload = {}): JWTPayload => ({
  sub: 'alice',
  room: 'r1',
  name: 'Alice',
  ...extra,
});

async function hs(payload: JWTPayload, alg = 'HS256', exp: string | number = '5m'): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg })
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(secretKey);
}

const errorText = (reply: ServerMessage) => (reply.type === 'error' ? reply.error : '');

let server: TestServer;
const clients: TestClient[] = [];
const connect = async (query = '') => {
  const c = await TestClient.connect(`${server.wsUrl}${query}`);
  clients.push(c);
  return c;
};
const join = (c: TestClient, extra: Record<string, unknown> = {}) =>
  c.request({ type: 'join-room', roomId: 'r1', displayName: 'someone', ...extra });

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

describe('auth with AUTH_JWT_SECRET (HS256)', () => {
  const start = (env: Record<string, string> = {}) =>
    startServer({ AUTH_JWT_SECRET: SECRET, ...env }).then((s) => {
      server = s;
    });

  it('refuses a join without a token, with UNAUTHORIZED', async () => {
    await start();
    const reply = await join(await connect());
    expect(reply).toMatchObject({ type: 'error', code: 'UNAUTHORIZED', relatedType: 'join-room' });
    expect(errorText(reply)).toMatch(/token/);
  });

  it('takes the token from join-room: sub is the peerId, name the display name, role and canPublish', async () => {
    await start();
    const reply = await join(await connect(), { token: await hs(claims({ role: 'host' })) });
    expect(reply).toMatchObject({
      type: 'room-joined',
      peerId: 'alice',
      role: 'host',
      canPublish: true,
    });
    const other = await connect();
    const seen = await join(other, { token: await hs(claims({ sub: 'bob', name: 'Bob', room: '*' })) });
    expect(seen).toMatchObject({ type: 'room-joined', peerId: 'bob', role: 'participant' });
    if (seen.type !== 'room-joined') throw new Error('not joined');
    expect(seen.peers).toEqual([expect.objectContaining({ peerId: 'alice', displayName: 'Alice' })]);
  });

  it('takes the token from ?token= on the WebSocket URL', async () => {
    await start();
    const c = await connect(`?token=${await hs(claims())}`);
    expect(await join(c)).toMatchObject({ type: 'room-joined', peerId: 'alice' });
  });

  it('refuses expired, not-yet-valid, wrong-room and wrong-peer tokens', async () => {
    await start();
    const expired = await hs(claims(), 'HS256', Math.floor(Date.now() / 1000) - 60);
    const early = await new SignJWT({ ...claims(), nbf: Math.floor(Date.now() / 1000) + 600 })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(secretKey);
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ token: expired }, /expired/],
      [{ token: early }, /nbf/],
      [{ token: await hs(claims({ room: 'elsewhere' })) }, /room elsewhere/],
      [{ token: await hs(claims()), peerId: 'mallory' }, /sub/],
      [{ token: await hs({ room: 'r1' }) }, /claims \(sub\)/],
      [{ token: 'not.a.jwt' }, /Invalid token/],
    ];
    for (const [extra, message] of cases) {
      const reply = await join(await connect(), extra);
      expect(reply, JSON.stringify(extra)).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
      expect(errorText(reply)).toMatch(message);
    }
  });

  it('refuses alg none and other HMAC algorithms with the same secret (the algorithm is pinned)', async () => {
    await start();
    const none = new UnsecuredJWT(claims()).setExpirationTime('5m').encode();
    for (const token of [none, await hs(claims(), 'HS384'), await hs(claims(), 'HS512')]) {
      const reply = await join(await connect(), { token });
      expect(reply).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    }
  });

  it('checks aud when AUTH_AUDIENCE is set', async () => {
    await start({ AUTH_AUDIENCE: 'opencall' });
    expect(await join(await connect(), { token: await hs(claims({ aud: 'other' })) })).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(await join(await connect(), { token: await hs(claims()) })).toMatchObject({
      code: 'UNAUTHORIZED',
    });
    expect(await join(await connect(), { token: await hs(claims({ aud: 'opencall' })) })).toMatchObject({
      type: 'room-joined',
    });
  });

  it('a viewer can receive but not publish: media offers, media state and SFU produce are FORBIDDEN', async () => {
    await start();
    const host = await connect();
    await join(host, { token: await hs(claims({ sub: 'host' })) });
    const viewer = await connect();
    const joined = await join(viewer, {
      token: await hs(claims({ sub: 'v', role: 'viewer', canPublish: true })),
    });
    expect(joined).toMatchObject({ type: 'room-joined', role: 'viewer', canPublish: false });
    const sdp = (direction: string) =>
      `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=${direction}\r\n`;
    const sending = await viewer.request({
      type: 'offer',
      toPeerId: 'host',
      offer: { type: 'offer', sdp: sdp('sendrecv') },
    });
    expect(sending).toMatchObject({ type: 'error', code: 'FORBIDDEN', relatedType: 'offer' });
    viewer.send({ type: 'offer', toPeerId: 'host', offer: { type: 'offer', sdp: sdp('recvonly') } });
    expect(await host.next('offer')).toMatchObject({ fromPeerId: 'v' });
    const muted = await viewer.request({
      type: 'media-state-changed',
      mediaState: { audio: true, video: false, screen: false },
    });
    expect(muted).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    const produceMessage = {
      type: 'sfu-produce',
      transportId: 't',
      kind: 'audio',
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: 111, clockRate: 48000, channels: 2 }],
        encodings: [{ ssrc: 1111 }],
      },
      appData: { source: 'mic' },
    };
    const produce = await viewer.request(produceMessage);
    // The same request from a publisher gets past the token check (to the SFU, which is off here).
    expect(await host.request(produceMessage)).toMatchObject({ type: 'error', code: 'SFU_NOT_ACTIVE' });
    expect(produce).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    // A participant whose token says canPublish false is held to it the same way.
    const quiet = await connect();
    await join(quiet, { token: await hs(claims({ sub: 'q', canPublish: false })) });
    expect(
      await quiet.request({
        type: 'offer',
        toPeerId: 'host',
        offer: { type: 'offer', sdp: sdp('sendonly') },
      }),
    ).toMatchObject({ code: 'FORBIDDEN' });
  });
});

describe('auth with AUTH_PUBLIC_KEY', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`accepts ${alg} tokens of its key, and refuses other keys and algorithms`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const pem = await exportSPKI(publicKey);
      server = await startServer({ AUTH_PUBLIC_KEY: pem });
      const sign = (key: typeof privateKey, a: string = alg) =>
        new SignJWT(claims()).setProtectedHeader({ alg: a }).setExpirationTime('5m').sign(key);
      expect(await join(await connect(), { token: await sign(privateKey) })).toMatchObject({
        type: 'room-joined',
        peerId: 'alice',
      });
      // Another key pair of the same algorithm: bad signature.
      const stranger = await generateKeyPair(alg);
      expect(await join(await connect(), { token: await sign(stranger.privateKey) })).toMatchObject({
        code: 'UNAUTHORIZED',
      });
      // CVE-2021-39215's class: an HS256 token whose "secret" is the public key text.
      const confused = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(pem));
      const reply = await join(await connect(), { token: confused });
      expect(reply).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(errorText(reply)).toMatch(/algorithm not allowed/);
    });
  }

  it('refuses a start-up with two key sources at once', async () => {
    await expect(
      startServer({ AUTH_JWT_SECRET: SECRET, AUTH_JWKS_URL: 'http://127.0.0.1:1/jwks' }),
    ).rejects.toThrow(/only one of/);
  });
});

describe('auth with AUTH_JWKS_URL (a key set served on loopback)', () => {
  let jwks: Server;
  let jwksUrl: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => jwks.close(() => resolve())));

  it('verifies with the key of the token kid; HS tokens never pass', async () => {
    server = await startServer({ AUTH_JWKS_URL: jwksUrl });
    const good = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await join(await connect(), { token: good })).toMatchObject({
      type: 'room-joined',
      peerId: 'alice',
    });
    const unknownKid = await new SignJWT(claims({ sub: 'b' }))
      .setProtectedHeader({ alg: 'ES256', kid: 'k2' })
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await join(await connect(), { token: unknownKid })).toMatchObject({ code: 'UNAUTHORIZED' });
    const hmac = await hs(claims({ sub: 'c' }));
    expect(await join(await connect(), { token: hmac })).toMatchObject({ code: 'UNAUTHORIZED' });
  });
});

describe('auth off (the default)', () => {
  it('ignores tokens and lets anyone join, as the quick start needs', async () => {
    server = await startServer();
    expect(await join(await connect(), { token: 'anything', peerId: 'p' })).toMatchObject({
      type: 'room-joined',
      peerId: 'p',
    });
  });
});
