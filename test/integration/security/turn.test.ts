import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../../src/protocol/index.ts';
import { turnCredentials } from '../../../src/signaling/iceServers.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/* Ephemeral TURN credentials (TURN_SECRET) in the form coturn's use-auth-secret checks. */

let server: TestServer;
let client: TestClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
});

/** base64(HMAC-SHA1(secret, text)) computed by openssl, independently of our code. */
function opensslHmac(secret: string, text: string): string {
  const hex = execFileSync('openssl', ['dgst', '-sha1', '-hmac', secret, '-r'], { input: text })
    .toString()
    .split(' ')[0];
  return Buffer.from(hex ?? '', 'hex').toString('base64');
}

describe('TURN REST credentials', () => {
  it('are <expiry>:<peerId> and base64(HMAC-SHA1(secret, username))', () => {
    const now = Date.UTC(2026, 11, 3, 12, 0, 0);
    const { username, credential } = turnCredentials('coturn-secret', 'alice', 3600, now);
    expect(username).toBe(`${now / 1000 + 3600}:alice`);
    expect(credential).toBe(opensslHmac('coturn-secret', username));
  });

  it('are in room-joined per peer, refreshed by ice-servers-updated before they expire', async () => {
    server = await startServer({
      TURN_URL: 'turn:127.0.0.1:3478',
      TURN_SECRET: 'coturn-secret',
      TURN_TTL_S: '1',
      STUN_URLS: '',
    });
    client = await TestClient.connect(server.wsUrl);
    const before = Math.floor(Date.now() / 1000);
    const joined = await client.join('turn', 'alice');
    const turn = joined.iceServers.find((s) => String(s.urls).includes('turn:'));
    expect(turn).toMatchObject({ urls: ['turn:127.0.0.1:3478'], credentialType: 'password' });
    const [expiry, peer] = String(turn?.username).split(':');
    expect(peer).toBe('alice');
    expect(Number(expiry)).toBeGreaterThanOrEqual(before + 1);
    expect(turn?.credential).toBe(opensslHmac('coturn-secret', String(turn?.username)));
    // At 80% of the 1 s lifetime, fresh ones arrive.
    const updated = (await client.next(
      'ice-servers-updated',
      undefined,
      3000,
    )) as ServerMessageOf<'ice-servers-updated'>;
    const fresh = updated.iceServers.find((s) => String(s.urls).includes('turn:'));
    expect(fresh?.credential).toBe(opensslHmac('coturn-secret', String(fresh?.username)));
  });

  it('keeps static TURN_USERNAME/TURN_CREDENTIAL working', async () => {
    server = await startServer({ TURN_URL: 'turn:127.0.0.1:3478', TURN_USERNAME: 'u', TURN_CREDENTIAL: 'p' });
    client = await TestClient.connect(server.wsUrl);
    const joined = await client.join('turn', 'bob');
    expect(joined.iceServers).toContainEqual(
      expect.objectContaining({ urls: ['turn:127.0.0.1:3478'], username: 'u', credential: 'p' }),
    );
  });
});
