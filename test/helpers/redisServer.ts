import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';

export interface RedisServerHandle {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export const REDIS_SERVER_MISSING =
  'redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * A Redis for tests. With REDIS_URL set, that server is used as is (stop() does nothing; tests must
 * confine themselves to a uniqueKeyPrefix() and clean it with flushKeyPrefix()). Otherwise a private
 * redis-server is spawned on a free port, without persistence, and killed by stop().
 */
export async function startRedisServer(): Promise<RedisServerHandle> {
  const external = process.env.REDIS_URL;
  if (external) {
    const parsed = new URL(external);
    return { url: external, port: parsed.port ? Number(parsed.port) : 6379, stop: async () => {} };
  }
  let lastError: unknown;
  // A free port can be taken between probing and binding: retry with a fresh one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await spawnRedis(port);
    } catch (err) {
      if (err instanceof Error && err.message === REDIS_SERVER_MISSING) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

/** A key prefix no other test (or test run sharing REDIS_URL) uses. */
export function uniqueKeyPrefix(label = 'test'): string {
  return `opencall-test:${label}:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under prefix, with SCAN (never KEYS or FLUSHDB: the server may be shared). */
export async function flushKeyPrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      if (keys.length > 0) await client.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** A TCP port nothing listens on right now (on 127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the probed port'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** A fresh, empty redis-server on a given port (a restart after a crash, in outage tests). */
export function spawnRedis(port: number): Promise<RedisServerHandle> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      tmpdir(),
      '--loglevel',
      'notice',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  return new Promise<RedisServerHandle>((resolve, reject) => {
    let output = '';
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.off('exit', killOnExit);
      child.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(
      () =>
        fail(new Error(`redis-server on port ${port} not ready after ${START_TIMEOUT_MS} ms:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (settled || !output.includes('Ready to accept connections')) return;
      settled = true;
      clearTimeout(timer);
      resolve({
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: () => stopChild(child).finally(() => process.off('exit', killOnExit)),
      });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) => {
      fail(err.code === 'ENOENT' ? new Error(REDIS_SERVER_MISSING) : err);
    });
    child.once('exit', (code, signal) => {
      fail(new Error(`redis-server exited early (code ${code}, signal ${signal}):\n${output}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
