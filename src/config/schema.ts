import { z } from 'zod';
import defaults from '../../config/defaults.json' with { type: 'json' };

/*
 * The one place that reads the environment. Every variable has a zod schema; defaults live in
 * config/defaults.json so a self-hoster can read them without reading code.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const bool = (def: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
      .default(def ? 'true' : 'false')
      .transform((v) => v === 'true' || v === '1' || v === 'yes'),
  );

const intSchema = (min: number, max: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);
const int = (def: number, min: number, max: number) =>
  z.preprocess(emptyToUndefined, intSchema(min, max).default(def));
const optInt = (min: number, max: number) => z.preprocess(emptyToUndefined, intSchema(min, max).optional());

/** One of `values`; the default (from defaults.json, a plain string there) is validated like a value. */
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, def: string) =>
  z.preprocess((v) => emptyToUndefined(v) ?? def, z.enum(values));

const str = () => z.preprocess(emptyToUndefined, z.string().optional());

const list = (def: string) =>
  z.preprocess(
    (v) => (v === undefined ? def : v),
    z.string().transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  );

const url = (protocols: RegExp, what: string) =>
  z.preprocess(emptyToUndefined, z.string().regex(protocols, `must be a ${what} URL`).optional());

export const EnvSchema = z
  .object({
    PORT: int(defaults.PORT, 0, 65535),
    HOST: z.preprocess(emptyToUndefined, z.string().default(defaults.HOST)),
    LOG_LEVEL: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], defaults.LOG_LEVEL),
    CLIENT_URL: z.preprocess(
      emptyToUndefined,
      z.url({ message: 'must be a URL' }).default(defaults.CLIENT_URL),
    ),

    REDIS_URL: url(/^rediss?:\/\/.+/, 'redis:// or rediss://'),
    REDIS_HOST: str(),
    REDIS_PORT: int(defaults.REDIS_PORT, 1, 65535),
    REDIS_PASSWORD: str(),
    REDIS_KEY_PREFIX: z.preprocess(emptyToUndefined, z.string().default(defaults.REDIS_KEY_PREFIX)),

    STUN_URLS: list(defaults.STUN_URLS),
    TURN_URL: str(),
    TURN_USERNAME: str(),
    TURN_CREDENTIAL: str(),
    /** coturn's static-auth-secret: per-peer credentials in the TURN REST form instead of static ones. */
    TURN_SECRET: str(),
    TURN_TTL_S: int(defaults.TURN_TTL_S, 1, 30 * 24 * 3600),

    AUTO_CREATE_ROOMS: bool(defaults.AUTO_CREATE_ROOMS),
    MAX_PARTICIPANTS: int(defaults.MAX_PARTICIPANTS, 1, 1000),
    MAX_MESSAGE_BYTES: int(defaults.MAX_MESSAGE_BYTES, 1024, 16 * 1024 * 1024),
    HEARTBEAT_INTERVAL_MS: int(defaults.HEARTBEAT_INTERVAL_MS, 50, 3_600_000),
    RECLAIM_AFTER_CONNECTIONS: int(defaults.RECLAIM_AFTER_CONNECTIONS, 0, 100_000_000),
    ROOM_EMPTY_TTL_S: int(defaults.ROOM_EMPTY_TTL_S, 1, 30 * 24 * 3600),
    ADMIN_TOKEN: str(),
    RATE_LIMIT_MAX: int(defaults.RATE_LIMIT_MAX, 0, 1_000_000),
    RATE_LIMIT_WINDOW_MS: int(defaults.RATE_LIMIT_WINDOW_MS, 1, 3_600_000),
    WS_RATE_LIMIT_PER_S: int(defaults.WS_RATE_LIMIT_PER_S, 0, 1_000_000),
    WS_RATE_LIMIT_BURST: int(defaults.WS_RATE_LIMIT_BURST, 1, 1_000_000),
    SHUTDOWN_TIMEOUT_MS: int(defaults.SHUTDOWN_TIMEOUT_MS, 100, 60_000),

    SFU_ENABLED: bool(defaults.SFU_ENABLED),
    SFU_UPGRADE_AT: int(defaults.SFU_UPGRADE_AT, 2, 1000),
    SFU_DOWNGRADE_AT: int(defaults.SFU_DOWNGRADE_AT, 1, 1000),
    SFU_DOWNGRADE_DELAY_MS: int(defaults.SFU_DOWNGRADE_DELAY_MS, 0, 3_600_000),
    SFU_SWITCH_TIMEOUT_MS: int(defaults.SFU_SWITCH_TIMEOUT_MS, 100, 120_000),
    MEDIASOUP_NUM_WORKERS: optInt(0, 256),
    MEDIASOUP_LOG_LEVEL: oneOf(['debug', 'warn', 'error', 'none'], defaults.MEDIASOUP_LOG_LEVEL),
    RTC_PORT: int(defaults.RTC_PORT, 1, 65535),
    RTC_MIN_PORT: optInt(1, 65535),
    RTC_MAX_PORT: optInt(1, 65535),
    /** Unset: every usable local address (or loopback when HOST is loopback). */
    RTC_LISTEN_IP: z.preprocess(
      emptyToUndefined,
      z.union([z.ipv4(), z.ipv6()], { message: 'must be an IPv4 or IPv6 address' }).optional(),
    ),
    /** A comma-separated list of addresses or host names, or `auto` (ask the STUN server). */
    ANNOUNCED_IP: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .transform((v) =>
          v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
        )
        .pipe(
          z
            .array(
              z
                .string()
                .max(253)
                .regex(/^[A-Za-z0-9.:-]+$/, 'must be IP addresses or host names, comma-separated, or auto'),
            )
            .min(1, 'must name at least one address, or be auto'),
        )
        .refine(
          (list) => !list.includes('auto') || list.length === 1,
          'auto cannot be combined with addresses',
        )
        .optional(),
    ),
    RTC_IPV6: bool(defaults.RTC_IPV6),
    STUN_TIMEOUT_MS: int(defaults.STUN_TIMEOUT_MS, 100, 30_000),
    SFU_UPGRADE_BACKOFF_MS: int(defaults.SFU_UPGRADE_BACKOFF_MS, 0, 3_600_000),
    SFU_PREWARM: bool(defaults.SFU_PREWARM),
    SFU_PREWARM_IDLE_MS: int(defaults.SFU_PREWARM_IDLE_MS, 1_000, 86_400_000),

    /** HS256 shared secret; at least 32 bytes, as RFC 7518 asks of an HS256 key. */
    AUTH_JWT_SECRET: z.preprocess(
      emptyToUndefined,
      z.string().min(32, 'must be at least 32 characters (an HS256 key of 256 bits)').optional(),
    ),
    /** A PEM public key (SPKI): RSA → RS256, EC P-256 → ES256, Ed25519 → EdDSA. */
    AUTH_PUBLIC_KEY: str(),
    AUTH_JWKS_URL: url(/^https?:\/\/.+/, 'http:// or https://'),
    AUTH_AUDIENCE: str(),
    RESUME_WINDOW_MS: int(defaults.RESUME_WINDOW_MS, 0, 600_000),
    NODE_HEARTBEAT_MS: int(defaults.NODE_HEARTBEAT_MS, 100, 600_000),
    RECORDINGS_DIR: z.preprocess(emptyToUndefined, z.string().default(defaults.RECORDINGS_DIR)),
    FFMPEG_PATH: z.preprocess(emptyToUndefined, z.string().default(defaults.FFMPEG_PATH)),
    WS_MAX_BUFFERED_BYTES: int(defaults.WS_MAX_BUFFERED_BYTES, 64 * 1024, 1024 * 1024 * 1024),
    WS_READ_BYTES_PER_S: int(defaults.WS_READ_BYTES_PER_S, 0, 1024 * 1024 * 1024),
    WS_ABUSE_CLOSE_MS: int(defaults.WS_ABUSE_CLOSE_MS, 0, 3_600_000),
    JOIN_TIMEOUT_MS: int(defaults.JOIN_TIMEOUT_MS, 0, 3_600_000),
    /** Proxy addresses or CIDRs whose X-Forwarded-For is believed; empty: none (the default). */
    TRUST_PROXY: list(defaults.TRUST_PROXY),
    MAX_CONNECTIONS_PER_IP: int(defaults.MAX_CONNECTIONS_PER_IP, 0, 1_000_000),
    MAX_ROOMS: int(defaults.MAX_ROOMS, 1, 100_000_000),
    ROOM_CREATE_PER_IP_PER_MIN: int(defaults.ROOM_CREATE_PER_IP_PER_MIN, 0, 1_000_000),
    SERVE_SOURCE_MAPS: bool(defaults.SERVE_SOURCE_MAPS),
    /** Origins allowed to open the WebSocket besides CLIENT_URL's and the server's own. */
    ALLOWED_ORIGINS: list(defaults.ALLOWED_ORIGINS),
    METRICS_TOKEN: str(),
    /** This server's identity in the shared store; see Config.nodeId for the default. */
    NODE_ID: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9._:-]{1,64}$/, 'must be 1-64 letters, digits or . _ : -')
        .optional(),
    ),
    CHAT_HISTORY: int(defaults.CHAT_HISTORY, 0, 10_000),
    HTTP_HEADERS_TIMEOUT_MS: int(defaults.HTTP_HEADERS_TIMEOUT_MS, 100, 600_000),
  })
  .superRefine((env, ctx) => {
    if (env.SFU_DOWNGRADE_AT >= env.SFU_UPGRADE_AT) {
      ctx.addIssue({
        code: 'custom',
        path: ['SFU_DOWNGRADE_AT'],
        message: `must be below SFU_UPGRADE_AT (${env.SFU_UPGRADE_AT})`,
      });
    }
    if ((env.RTC_MIN_PORT === undefined) !== (env.RTC_MAX_PORT === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.RTC_MIN_PORT === undefined ? 'RTC_MIN_PORT' : 'RTC_MAX_PORT'],
        message: 'RTC_MIN_PORT and RTC_MAX_PORT must be set together',
      });
    } else if (
      env.RTC_MIN_PORT !== undefined &&
      env.RTC_MAX_PORT !== undefined &&
      env.RTC_MIN_PORT > env.RTC_MAX_PORT
    ) {
      ctx.addIssue({ code: 'custom', path: ['RTC_MIN_PORT'], message: 'must not exceed RTC_MAX_PORT' });
    }
    const keySources = [env.AUTH_JWT_SECRET, env.AUTH_PUBLIC_KEY, env.AUTH_JWKS_URL].filter(Boolean);
    if (keySources.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['AUTH_JWT_SECRET'],
        message: 'set only one of AUTH_JWT_SECRET, AUTH_PUBLIC_KEY and AUTH_JWKS_URL',
      });
    }
    if (env.TURN_SECRET && !env.TURN_URL) {
      ctx.addIssue({ code: 'custom', path: ['TURN_URL'], message: 'is required when TURN_SECRET is set' });
    }
    if (env.TURN_URL && !env.TURN_SECRET && (!env.TURN_USERNAME || !env.TURN_CREDENTIAL)) {
      ctx.addIssue({
        code: 'custom',
        path: [env.TURN_USERNAME ? 'TURN_CREDENTIAL' : 'TURN_USERNAME'],
        message: 'is required when TURN_URL is set (or use TURN_SECRET)',
      });
    }
  });
export type Env = z.infer<typeof EnvSchema>;
