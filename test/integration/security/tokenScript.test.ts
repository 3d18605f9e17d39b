import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportPKCS8, exportSPKI, generateKeyPair } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/* `npm run token` as README shows it: its token opens the room on a server with auth on. */

const run = promisify(execFile);
const SECRET = 'readme-example-secret-0123456789abcdef';
let server: TestServer;
let client: TestClient | undefined;
afterEach(async () => {
  await client?.close();
  await server?.close();
});

const mint = async (args: string[], env: Record<string, string> = {}) =>
  (
    await run(process.execPath, ['scripts/token.ts', ...args], { env: { ...process.env, ...env } })
  ).stdout.trim();

describe('npm run token', () => {
  it('mints an HS256 token from AUTH_JWT_SECRET that the server accepts', async () => {
    server = await startServer({ AUTH_JWT_SECRET: SECRET });
    const token = await mint(['--room', 'x', '--sub', 'alice', '--role', 'host', '--name', 'Alice'], {
      AUTH_JWT_SECRET: SECRET,
    });
    client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    expect(await client.request({ type: 'join-room', roomId: 'x', displayName: 'x' })).toMatchObject({
      type: 'room-joined',
      peerId: 'alice',
      role: 'host',
    });
  });

  it('signs with a private key file for a server with AUTH_PUBLIC_KEY', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const file = join(tmpdir(), `opencall-key-${process.pid}.pem`);
    await writeFile(file, await exportPKCS8(privateKey));
    server = await startServer({ AUTH_PUBLIC_KEY: await exportSPKI(publicKey) });
    const token = await mint(['--private-key', file, '--sub', 'bob', '--role', 'viewer']);
    client = await TestClient.connect(server.wsUrl);
    expect(await client.request({ type: 'join-room', roomId: 'any', displayName: 'b', token })).toMatchObject(
      {
        type: 'room-joined',
        peerId: 'bob',
        role: 'viewer',
        canPublish: false,
      },
    );
  });

  it('refuses bad arguments with the usage and exit code 2', async () => {
    await expect(mint(['--sub', 'a b'], { AUTH_JWT_SECRET: SECRET })).rejects.toMatchObject({ code: 2 });
  });
});
