import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JoinClaims } from './JoinClaims.ts';

export interface MintOptions {
  claims: JoinClaims;
  /** Seconds until it expires. */
  ttlS: number;
  audience?: string;
  /** HS256 with this secret, or the algorithm of this PEM private key (RSA, EC P-256, Ed25519). */
  key: { secret: string } | { privateKeyPem: string };
}

/** Signs a join token the way the server verifies it (for `npm run token` and backends in Node). */
export async function mintToken(options: MintOptions): Promise<string> {
  const jwt = new SignJWT({ ...options.claims })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + options.ttlS);
  if (options.audience) jwt.setAudience(options.audience);
  if ('secret' in options.key) {
    return jwt.setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(options.key.secret));
  }
  const key = createPrivateKey(options.key.privateKeyPem);
  const type = key.asymmetricKeyType;
  const alg = type === 'rsa' ? 'RS256' : type === 'ec' ? 'ES256' : type === 'ed25519' ? 'EdDSA' : undefined;
  if (!alg) throw new Error(`${type} private keys are not supported; use RSA, EC P-256 or Ed25519`);
  return jwt.setProtectedHeader({ alg }).sign(key);
}
