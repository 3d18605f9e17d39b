import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type AppDependencies, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';
import { ConnectionManager } from '../../src/sfu/ConnectionManager.ts';

export interface TestServer {
  app: FastifyInstance;
  url: string;
  wsUrl: string;
  /** The app's ConnectionManager (the real one, not a test double), for tests that look inside. */
  readonly media: ConnectionManager;
  close(): Promise<void>;
}

/** The app's media controller as the ConnectionManager it is; throws when a test swapped it. */
export function connectionManagerOf(app: FastifyInstance): ConnectionManager {
  if (!(app.media instanceof ConnectionManager)) throw new Error('the app runs a media controller double');
  return app.media;
}

/** Starts the real app on 127.0.0.1:0 with the given environment (SFU off unless asked for). */
export async function startServer(
  env: Record<string, string> = {},
  deps: AppDependencies = {},
): Promise<TestServer> {
  const config = loadConfig({
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SFU_ENABLED: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    ...env,
  });
  const app = await buildApp(config, { logger: createLogger(config.logLevel), ...deps });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    get media() {
      return connectionManagerOf(app);
    },
    close: () => app.close(),
  };
}
