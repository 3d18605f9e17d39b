import { createHmac } from 'node:crypto';
import type { Config } from '../config/index.ts';
import type { IceServer } from '../protocol/index.ts';

/**
 * TURN credentials in the TURN REST API form that coturn's `use-auth-secret` checks: the username
 * is `<expiry unix seconds>:<peerId>`, the credential base64(HMAC-SHA1(secret, username)).
 */
export function turnCredentials(
  secret: string,
  peerId: string,
  ttlS: number,
  nowMs = Date.now(),
): { username: string; credential: string } {
  const username = `${Math.floor(nowMs / 1000) + ttlS}:${peerId}`;
  const credential = createHmac('sha1', secret).update(username).digest('base64');
  return { username, credential };
}

/** The ICE servers one peer gets: the configured ones, plus TURN with its own credentials. */
export function iceServersFor(config: Readonly<Config>, peerId: string): IceServer[] {
  if (!config.turn) return config.iceServers;
  const { username, credential } = turnCredentials(config.turn.secret, peerId, config.turn.ttlS);
  return [...config.iceServers, { urls: config.turn.urls, username, credential, credentialType: 'password' }];
}

/** When to send fresh credentials: at 80% of their lifetime. Undefined without TURN_SECRET. */
export function iceRefreshMs(config: Readonly<Config>): number | undefined {
  return config.turn ? Math.floor(config.turn.ttlS * 1000 * 0.8) : undefined;
}
