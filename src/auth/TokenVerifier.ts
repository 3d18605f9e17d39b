import { createPublicKey } from 'node:crypto';
import { createRemoteJWKSet, errors, importSPKI, type JWTVerifyGetKey, jwtVerify } from 'jose';
import type { AuthConfig } from '../config/index.ts';
import { ProtocolError } from '../protocol/index.ts';
import { type Identity, identityOf, JoinClaims } from './JoinClaims.ts';

type VerifyKey = Uint8Array | Awaited<ReturnType<typeof importSPKI>> | JWTVerifyGetKey;

/** Asymmetric algorithms a JWKS may use; never an HS one (a public key is no secret). */
const JWKS_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'];

/**
 * Verifies join tokens. The algorithm is pinned by the key, never taken from the token: a secret
 * accepts HS256 only, a public key only its own family, so `alg: none` and an HS256 token signed
 * with a public key (CVE-2021-39215's class) are refused. Errors never carry the token.
 */
export class TokenVerifier {
  readonly #key: VerifyKey;
  readonly #algorithms: string[];
  readonly #audience: string | undefined;

  private constructor(key: VerifyKey, algorithms: string[], audience: string | undefined) {
    this.#key = key;
    this.#algorithms = algorithms;
    this.#audience = audience;
  }

  static async create(config: AuthConfig): Promise<TokenVerifier> {
    const { key } = config;
    switch (key.kind) {
      case 'secret':
        return new TokenVerifier(new TextEncoder().encode(key.secret), ['HS256'], config.audience);
      case 'publicKey': {
        const alg = algorithmOf(key.pem);
        return new TokenVerifier(await importSPKI(key.pem, alg), algorithmsFor(alg), config.audience);
      }
      case 'jwks':
        return new TokenVerifier(
          createRemoteJWKSet(new URL(key.url), { timeoutDuration: 5000, cooldownDuration: 30_000 }),
          JWKS_ALGORITHMS,
          config.audience,
        );
    }
  }

  /** The identity a token grants, or UNAUTHORIZED saying what was wrong with it. */
  async verify(token: string): Promise<Identity> {
    let payload: unknown;
    try {
      const options = {
        algorithms: this.#algorithms,
        ...(this.#audience ? { audience: this.#audience } : {}),
      };
      // jose's overloads split on the key's type; both branches verify the same way.
      ({ payload } =
        typeof this.#key === 'function'
          ? await jwtVerify(token, this.#key, options)
          : await jwtVerify(token, this.#key, options));
    } catch (err) {
      throw new ProtocolError('UNAUTHORIZED', `Invalid token: ${reasonOf(err)}`);
    }
    const claims = JoinClaims.safeParse(payload);
    if (!claims.success) {
      const fields = [...new Set(claims.error.issues.map((i) => i.path.join('.') || 'claims'))];
      throw new ProtocolError('UNAUTHORIZED', `Invalid token: bad or missing claims (${fields.join(', ')})`);
    }
    return identityOf(claims.data);
  }
}

/** The one algorithm a PEM public key verifies, from its key type. */
function algorithmOf(pem: string): string {
  const key = createPublicKey(pem);
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'RS256';
  if (type === 'ed25519') return 'EdDSA';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ES256';
    throw new Error(`AUTH_PUBLIC_KEY: EC curve ${curve} is not supported; use P-256 (ES256)`);
  }
  throw new Error(`AUTH_PUBLIC_KEY: ${type} keys are not supported; use RSA, EC P-256 or Ed25519`);
}

/** EdDSA tokens may name their algorithm by the RFC 8037 name or by the newer curve name. */
function algorithmsFor(alg: string): string[] {
  return alg === 'EdDSA' ? ['EdDSA', 'Ed25519'] : [alg];
}

function reasonOf(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim ${err.claim} ${err.reason}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'bad signature';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no matching key';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'malformed';
  if (err instanceof errors.JWKSTimeout) return 'key set unreachable';
  return 'not verifiable';
}
