import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/index.ts';
import { restError } from './httpErrors.ts';
import { isLoopback } from './roomsPlugin.ts';

/**
 * Checks a WebSocket upgrade before it happens: the browser's Origin (CLIENT_URL's, the server's
 * own, or ALLOWED_ORIGINS; clients that send none, which are not browsers, pass) and the number
 * of sockets the client's address already holds (MAX_CONNECTIONS_PER_IP; loopback exempt).
 */
export class UpgradeGate {
  readonly #allowed: Set<string>;
  readonly #maxPerIp: number;
  readonly #open = new Map<string, number>();

  constructor(config: Readonly<Config>) {
    this.#allowed = new Set([new URL(config.clientUrl).origin, ...config.allowedOrigins.map(originOf)]);
    this.#maxPerIp = config.maxConnectionsPerIp;
  }

  /** A preValidation hook for the /ws route: refuses with 403 or 429 before the upgrade. */
  readonly check = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const origin = request.headers.origin;
    if (origin !== undefined && !this.#originAllowed(origin, request)) {
      return reply
        .code(403)
        .send(restError(403, 'FORBIDDEN', `Origin ${origin} may not open this WebSocket`));
    }
    if (
      this.#maxPerIp > 0 &&
      !isLoopback(request.ip) &&
      (this.#open.get(request.ip) ?? 0) >= this.#maxPerIp
    ) {
      return reply
        .code(429)
        .send(restError(429, 'RATE_LIMITED', `Too many connections from your address (${this.#maxPerIp})`));
    }
  };

  /** Counts an open socket of `ip` until closed(ip) is called for it. */
  opened(ip: string): void {
    this.#open.set(ip, (this.#open.get(ip) ?? 0) + 1);
  }

  closed(ip: string): void {
    const left = (this.#open.get(ip) ?? 1) - 1;
    if (left <= 0) this.#open.delete(ip);
    else this.#open.set(ip, left);
  }

  #originAllowed(origin: string, request: FastifyRequest): boolean {
    if (this.#allowed.has(origin)) return true;
    // The server's own origin: the page it served opens the socket.
    const host = request.headers.host;
    return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
  }
}

function originOf(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    return value;
  }
}
