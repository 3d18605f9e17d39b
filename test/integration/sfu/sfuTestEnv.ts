import { createSocket } from 'node:dgram';
import { type EventEmitter, once } from 'node:events';
import { createServer } from 'node:net';
import type { SfuConfig } from '../../../src/config/Config.ts';
import { createLogger, type Logger } from '../../../src/logger.ts';

/** Tests log nothing unless TEST_LOG_LEVEL says otherwise (e.g. TEST_LOG_LEVEL=debug). */
export function testLogger(): Logger {
  return createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
}

export function sfuTestConfig(overrides: Partial<SfuConfig> = {}): SfuConfig {
  return {
    enabled: true,
    upgradeAt: 4,
    downgradeAt: 2,
    downgradeDelayMs: 5000,
    switchTimeoutMs: 10000,
    numWorkers: 2,
    logLevel: 'warn',
    rtcPort: 40000,
    listenIp: '127.0.0.1',
    announced: { kind: 'none' },
    ipv6: false,
    upgradeBackoffMs: 30_000,
    prewarm: false,
    prewarmIdleMs: 120_000,
    recording: { dir: 'recordings', ffmpegPath: 'ffmpeg' },
    ...overrides,
  };
}

async function udpFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

async function tcpFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A base port such that base..base+count-1 are free on UDP and TCP right now. Test files run in
 * parallel, so each picks a random base rather than RTC_PORT's 40000.
 */
export async function freePortBase(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      ok = (await udpFree(port)) && (await tcpFree(port));
    }
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

/**
 * startServer's environment for a server with a real SFU: one worker on a free port of loopback,
 * no STUN (tests reach nothing off this machine); `extra` adds or overrides.
 */
export async function sfuServerEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    SFU_ENABLED: 'true',
    MEDIASOUP_NUM_WORKERS: '1',
    RTC_PORT: String(await freePortBase(1)),
    RTC_LISTEN_IP: '127.0.0.1',
    STUN_URLS: '',
    ...extra,
  };
}

/** The arguments of the next emission of `event`; rejects after timeoutMs. Call before the trigger. */
export async function nextEvent<T = unknown>(
  emitter: EventEmitter,
  event: string,
  timeoutMs = 15_000,
): Promise<T> {
  const [value] = await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) });
  return value as T;
}
