import { type Logger, type LoggerOptions, pino } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a logged object: secrets never reach a log.
 * Messages are logged by type and ids only; SDP, candidates and tokens are not logged.
 */
export const redactPaths = [
  'password',
  '*.password',
  'credential',
  '*.credential',
  '*.credentials',
  'token',
  '*.token',
  'resumeToken',
  '*.resumeToken',
  'secret',
  '*.secret',
  'adminToken',
  '*.adminToken',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'iceServers[*].credential',
  'iceServers[*].username',
  '*.iceServers[*].credential',
  'redis.password',
  'redis.url',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'opencall' },
    redact: { paths: redactPaths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
