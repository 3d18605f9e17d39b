import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { type AppDependencies, buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/index.ts';
import { createLogger } from '../../src/logger.ts';

export interface TestServer {
  app: FastifyInstance;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
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
    close: () => app.close(),
  };
}
