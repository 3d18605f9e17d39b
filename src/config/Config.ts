import { randomUUID } from 'node:crypto';
import { cpus, hostname } from 'node:os';
import type { IceServer } from '../protocol/index.ts';
import { type Env, EnvSchema } from './schema.ts';

export interface RedisConfig {
  url?: string;
  host?: string;
  port: number;
  password?: string;
  keyPrefix: string;
}

export interface SfuConfig {
  enabled: boolean;
  /** Room recordings: where files go (RECORDINGS_DIR) and the ffmpeg to run (FFMPEG_PATH). */
  recording: { dir: string; ffmpegPath: string };
  upgradeAt: number;
  downgradeAt: number;
  downgradeDelayMs: number;
  switchTimeoutMs: number;
  numWorkers: number;
  logLevel: 'debug' | 'warn' | 'error' | 'none';
  rtcPort: number;
  /** Port-range mode when set: each transport takes its own port in [min, max]. */
  rtcPortRange?: { min: number; max: number };
  /**
   * Where the media workers listen. A wildcard (0.0.0.0 or ::) means every usable local address
   * (see workers/ListenPlan.ts); derived from HOST when RTC_LISTEN_IP is unset.
   */
  listenIp: string;
  /** What clients are told to connect to; `none` gives them the listen addresses themselves. */
  announced: AnnouncedAddresses;
  /** Also listen on (and announce) the host's global IPv6 addresses. */
  ipv6: boolean;
  /** Wait before an aborted upgrade is tried again; it quadruples on every further abort. */
  upgradeBackoffMs: number;
  /**
   * At SFU_UPGRADE_AT − 1 peers a P2P room gets its router, and the peers their SFU transports
   * (connected, producers paused), so that the switch at the threshold costs little more than a
   * resume and a key frame; released when the room shrinks, or after prewarmIdleMs.
   */
  prewarm: boolean;
  prewarmIdleMs: number;
}

export type AnnouncedAddresses =
  | { kind: 'none' }
  | { kind: 'list'; addresses: string[] }
  /** Ask `stunUrl` for this host's public address at start-up; local addresses when it does not answer. */
  | { kind: 'auto'; stunUrl: string | undefined; timeoutMs: number };

/** The typed, frozen configuration; built once from the environment in main and passed down. */
export interface Config {
  port: number;
  host: string;
  logLevel: string;
  clientUrl: string;
  redis?: RedisConfig;
  /** The ICE servers every peer gets; per-peer TURN credentials (`turn`) are added to them. */
  iceServers: IceServer[];
  /** TURN with ephemeral credentials (TURN_SECRET). */
  turn?: { urls: string[]; secret: string; ttlS: number };
  autoCreateRooms: boolean;
  maxParticipants: number;
  maxMessageBytes: number;
  heartbeatIntervalMs: number;
  /** Connections that make a storm, after which a full GC returns its memory (0: never). */
  reclaimAfterConnections: number;
  roomEmptyTtlS: number;
  adminToken?: string;
  rateLimit: { max: number; windowMs: number };
  wsRateLimit: { perSecond: number; burst: number };
  shutdownTimeoutMs: number;
  sfu: SfuConfig;
  /** Absent: no authentication (the quick start). */
  auth?: AuthConfig;
  /** How long a dropped peer's id, room membership and media are kept for its resumeToken; 0: never. */
  resumeWindowMs: number;
  /** A socket with more than this many bytes queued for it is closed (SLOW_CONSUMER). */
  wsMaxBufferedBytes: number;
  /** Bytes a socket may send per second (bursts of 4 s); beyond, the server stops reading it a while. 0: no limit. */
  wsReadBytesPerS: number;
  /** A socket over its message rate for this long is closed with 1008; 0: never. */
  wsAbuseCloseMs: number;
  /** A socket that has not joined a room within this time is closed; 0: never. */
  joinTimeoutMs: number;
  /** Proxies whose X-Forwarded-For is believed (addresses/CIDRs); empty: the socket's address counts. */
  trustProxy: string[];
  /** Open WebSockets per client address (loopback exempt); 0: no limit. */
  maxConnectionsPerIp: number;
  maxRooms: number;
  /** Room creations (REST) per client address per minute; 0: no limit. */
  roomCreatesPerIpPerMin: number;
  serveSourceMaps: boolean;
  /** Origins a browser may open the WebSocket from, besides CLIENT_URL's and the server's own. */
  allowedOrigins: string[];
  /**
   * This server in the shared store: every peer it holds is stamped with it, and at start-up it
   * removes the peers a previous life of the same node left behind. Default `<hostname>:<PORT>`
   * (stable across restarts on one machine), or random with PORT=0.
   */
  nodeId: string;
  /** Cluster (Redis only): a node heartbeats this often; 3 missed beats and it is declared dead. */
  nodeHeartbeatMs: number;
  /** When set, GET /metrics needs it as a bearer token. */
  metricsToken?: string;
  /** Room chat messages kept for joiners; 0 keeps none. */
  chatHistory: number;
  /** The whole request head (and a WebSocket handshake) must arrive within this. */
  httpHeadersTimeoutMs: number;
}

/** Where the keys that verify join tokens come from; the algorithm is pinned per key. */
export type AuthKeySource =
  | { kind: 'secret'; secret: string }
  | { kind: 'publicKey'; pem: string }
  | { kind: 'jwks'; url: string };

export interface AuthConfig {
  key: AuthKeySource;
  audience?: string;
}

/**
 * Where the media workers listen when RTC_LISTEN_IP is unset: on loopback when the server itself
 * only listens there (a local development setup), else everywhere.
 */
function defaultListenIp(host: string): string {
  if (host === 'localhost' || /^127\./.test(host)) return /^127\./.test(host) ? host : '127.0.0.1';
  if (host === '::1') return '::1';
  return host.includes(':') ? '::' : '0.0.0.0';
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses an environment (process.env in production, a plain object in tests) into a Config. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Readonly<Config> {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const iceServers: IceServer[] = [];
  if (e.STUN_URLS.length > 0) iceServers.push({ urls: e.STUN_URLS });
  if (e.TURN_URL && !e.TURN_SECRET && e.TURN_USERNAME && e.TURN_CREDENTIAL) {
    iceServers.push({
      urls: e.TURN_URL.split(',').map((s) => s.trim()),
      username: e.TURN_USERNAME,
      credential: e.TURN_CREDENTIAL,
      credentialType: 'password',
    });
  }
  const key = authKey(e);
  const auth: AuthConfig | undefined = key
    ? { key, ...(e.AUTH_AUDIENCE ? { audience: e.AUTH_AUDIENCE } : {}) }
    : undefined;
  const useRedis = e.REDIS_URL !== undefined || e.REDIS_HOST !== undefined;
  const config: Config = {
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL,
    clientUrl: e.CLIENT_URL,
    iceServers,
    autoCreateRooms: e.AUTO_CREATE_ROOMS,
    maxParticipants: e.MAX_PARTICIPANTS,
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    heartbeatIntervalMs: e.HEARTBEAT_INTERVAL_MS,
    reclaimAfterConnections: e.RECLAIM_AFTER_CONNECTIONS,
    roomEmptyTtlS: e.ROOM_EMPTY_TTL_S,
    rateLimit: { max: e.RATE_LIMIT_MAX, windowMs: e.RATE_LIMIT_WINDOW_MS },
    wsRateLimit: { perSecond: e.WS_RATE_LIMIT_PER_S, burst: e.WS_RATE_LIMIT_BURST },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    sfu: {
      enabled: e.SFU_ENABLED,
      recording: { dir: e.RECORDINGS_DIR, ffmpegPath: e.FFMPEG_PATH },
      upgradeAt: e.SFU_UPGRADE_AT,
      downgradeAt: e.SFU_DOWNGRADE_AT,
      downgradeDelayMs: e.SFU_DOWNGRADE_DELAY_MS,
      switchTimeoutMs: e.SFU_SWITCH_TIMEOUT_MS,
      numWorkers: e.MEDIASOUP_NUM_WORKERS ?? cpus().length,
      logLevel: e.MEDIASOUP_LOG_LEVEL,
      rtcPort: e.RTC_PORT,
      listenIp: e.RTC_LISTEN_IP ?? defaultListenIp(e.HOST),
      announced:
        e.ANNOUNCED_IP === undefined
          ? { kind: 'none' }
          : e.ANNOUNCED_IP[0] === 'auto'
            ? {
                kind: 'auto',
                stunUrl: e.STUN_URLS.find((u) => /^stuns?:/i.test(u)),
                timeoutMs: e.STUN_TIMEOUT_MS,
              }
            : { kind: 'list', addresses: e.ANNOUNCED_IP },
      ipv6: e.RTC_IPV6,
      upgradeBackoffMs: e.SFU_UPGRADE_BACKOFF_MS,
      prewarm: e.SFU_PREWARM,
      prewarmIdleMs: e.SFU_PREWARM_IDLE_MS,
      ...(e.RTC_MIN_PORT !== undefined && e.RTC_MAX_PORT !== undefined
        ? { rtcPortRange: { min: e.RTC_MIN_PORT, max: e.RTC_MAX_PORT } }
        : {}),
    },
    ...(e.TURN_URL && e.TURN_SECRET
      ? {
          turn: {
            urls: e.TURN_URL.split(',').map((u) => u.trim()),
            secret: e.TURN_SECRET,
            ttlS: e.TURN_TTL_S,
          },
        }
      : {}),
    resumeWindowMs: e.RESUME_WINDOW_MS,
    wsMaxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
    wsReadBytesPerS: e.WS_READ_BYTES_PER_S,
    wsAbuseCloseMs: e.WS_ABUSE_CLOSE_MS,
    joinTimeoutMs: e.JOIN_TIMEOUT_MS,
    trustProxy: e.TRUST_PROXY,
    maxConnectionsPerIp: e.MAX_CONNECTIONS_PER_IP,
    maxRooms: e.MAX_ROOMS,
    roomCreatesPerIpPerMin: e.ROOM_CREATE_PER_IP_PER_MIN,
    serveSourceMaps: e.SERVE_SOURCE_MAPS,
    allowedOrigins: e.ALLOWED_ORIGINS,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    chatHistory: e.CHAT_HISTORY,
    nodeHeartbeatMs: e.NODE_HEARTBEAT_MS,
    nodeId: e.NODE_ID ?? (e.PORT === 0 ? `node-${randomUUID().slice(0, 8)}` : `${hostname()}:${e.PORT}`),
    ...(e.METRICS_TOKEN ? { metricsToken: e.METRICS_TOKEN } : {}),
    ...(auth ? { auth } : {}),
    ...(e.ADMIN_TOKEN ? { adminToken: e.ADMIN_TOKEN } : {}),
    ...(useRedis
      ? {
          redis: {
            ...(e.REDIS_URL ? { url: e.REDIS_URL } : {}),
            ...(e.REDIS_HOST ? { host: e.REDIS_HOST } : {}),
            port: e.REDIS_PORT,
            ...(e.REDIS_PASSWORD ? { password: e.REDIS_PASSWORD } : {}),
            keyPrefix: e.REDIS_KEY_PREFIX,
          },
        }
      : {}),
  };
  return Object.freeze(config);
}

function authKey(e: Env): AuthKeySource | undefined {
  if (e.AUTH_JWT_SECRET) return { kind: 'secret', secret: e.AUTH_JWT_SECRET };
  // A PEM given in one line of an env file has its newlines written as \n.
  if (e.AUTH_PUBLIC_KEY) return { kind: 'publicKey', pem: e.AUTH_PUBLIC_KEY.replace(/\\n/g, '\n') };
  if (e.AUTH_JWKS_URL) return { kind: 'jwks', url: e.AUTH_JWKS_URL };
  return undefined;
}
