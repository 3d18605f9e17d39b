import { buildApp } from './app.ts';
import { ConfigError, loadConfig } from './config/index.ts';
import { createLogger } from './logger.ts';

/** Process entry: configuration, listen, and a graceful exit on SIGTERM/SIGINT within the timeout. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`opencall: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const app = await buildApp(config, { logger });
  await app.listen({ port: config.port, host: config.host });
  const sfu = app.media.status();
  logger.info(
    {
      store: app.rooms.store.kind,
      sfu: { health: sfu.health, workers: sfu.workers, candidates: sfu.candidates, reason: sfu.reason },
    },
    'opencall ready',
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Before anything else: workers that exit from here on (a Ctrl+C reaches them too) are not
    // crashes, so clients hear server-shutdown first, not SFU_WORKER_DIED.
    app.media.beginShutdown();
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();
    app.close().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err) => {
  process.stderr.write(`opencall: failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
