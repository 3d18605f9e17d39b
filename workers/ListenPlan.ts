import { isIP } from 'node:net';
import type { NetworkInterfaceInfo } from 'node:os';
import type { types as ms } from 'mediasoup';

/*
 * Where the media workers listen, and what clients are told to connect to.
 *
 * A wildcard socket (0.0.0.0) would answer from whichever address routing picks, and mediasoup
 * would hand clients the candidate `0.0.0.0`, which nobody can reach. So a wildcard is expanded to
 * one socket per usable local address (non-loopback first, loopback last), each announced as
 * itself: browsers on this host and on the LAN reach one of them with no setting. Behind NAT the
 * public address comes from ANNOUNCED_IP (or from STUN, with `auto`).
 */

/** One bound address and what clients are told about it. */
export interface ListenAddress {
  /** The address the socket binds. */
  ip: string;
  /** What the ICE candidate says instead of `ip` (NAT, containers). */
  announcedAddress?: string;
  /** With announcedAddress: also give clients a candidate with `ip` itself. */
  exposeInternalIp?: boolean;
}

/** How the addresses were chosen, for logs and /ready. */
export type ListenPlanSource = 'listen-ip' | 'local-addresses' | 'announced' | 'stun' | 'stun-fallback';

export interface ListenPlan {
  readonly addresses: readonly ListenAddress[];
  readonly source: ListenPlanSource;
  /** Operator-facing problems with the plan (only loopback reachable, say). */
  readonly warnings: readonly string[];
}

/** An address a client is told about: one ICE candidate per worker port. */
export interface AdvertisedAddress {
  address: string;
  protocol: ms.TransportProtocol;
}

export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\./.test(ip);
}

/** IPv6 link-local addresses need a scope id that ICE candidates cannot carry. */
function isLinkLocal(ip: string): boolean {
  return /^fe[89ab][0-9a-f]:/i.test(ip);
}

/**
 * The host's usable addresses from os.networkInterfaces(): non-internal IPv4 (and global IPv6 when
 * `ipv6`), then loopback. Duplicates (an address on two interfaces) are listed once.
 */
export function usableLocalAddresses(
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>,
  ipv6: boolean,
): string[] {
  const external: string[] = [];
  for (const infos of Object.values(interfaces)) {
    for (const info of infos ?? []) {
      if (info.internal) continue;
      if (info.family === 'IPv4') external.push(info.address);
      else if (ipv6 && !isLinkLocal(info.address)) external.push(info.address);
    }
  }
  const loopback = ipv6 ? ['127.0.0.1', '::1'] : ['127.0.0.1'];
  return [...new Set([...external, ...loopback])];
}

export interface PlanInput {
  listenIp: string;
  /** Explicit ANNOUNCED_IP addresses (empty when unset). */
  announced: readonly string[];
  ipv6: boolean;
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>;
  /** What STUN said, for ANNOUNCED_IP=auto: `local` is the address the query left from. */
  stunMapping?: { local: string; public: string } | undefined;
  /** ANNOUNCED_IP=auto was asked for and STUN did not answer. */
  stunFailed?: boolean;
}

/** Decides the listen addresses; pure, so every case is unit-tested. */
export function planListenAddresses(input: PlanInput): ListenPlan {
  const { listenIp, announced } = input;
  const warnings: string[] = [];
  const ipv6 = input.ipv6 || listenIp === '::';

  if (announced.length > 0) {
    // The operator said what clients reach: bind the listen address and announce each of them.
    return {
      addresses: announced.map((address) => ({ ip: listenIp, announcedAddress: address })),
      source: 'announced',
      warnings,
    };
  }

  let addresses: ListenAddress[];
  let source: ListenPlanSource;
  if (isWildcard(listenIp)) {
    const local = usableLocalAddresses(input.interfaces, ipv6).filter(
      (a) => listenIp === '::' || isIP(a) === 4,
    );
    addresses = local.map((ip) => ({ ip }));
    source = 'local-addresses';
    if (local.every(isLoopback)) {
      warnings.push(
        'this host has no address but loopback: only browsers on this host can reach the SFU; set ANNOUNCED_IP',
      );
    }
  } else {
    addresses = [{ ip: listenIp }];
    source = 'listen-ip';
    if (isLoopback(listenIp)) {
      warnings.push(
        `the SFU listens on ${listenIp} only: browsers on other hosts cannot reach it (Firefox not even on this host)`,
      );
    }
  }

  const mapping = input.stunMapping;
  if (mapping) {
    source = 'stun';
    const mapped = addresses.find((a) => a.ip === mapping.local);
    if (addresses.some((a) => a.ip === mapping.public)) {
      // The public address is one of ours: no NAT, nothing to add.
    } else if (mapped) {
      mapped.announcedAddress = mapping.public;
      mapped.exposeInternalIp = true;
    } else if (isWildcard(listenIp)) {
      addresses.unshift({ ip: mapping.local, announcedAddress: mapping.public, exposeInternalIp: true });
    } else {
      // Bound to one address that is not the one STUN saw us leave from: announce it there anyway.
      const only = addresses[0];
      if (only) {
        only.announcedAddress = mapping.public;
        only.exposeInternalIp = true;
      }
    }
    // The public address is the one remote clients need: it goes first.
    addresses.sort(
      (a, b) => Number(b.announcedAddress !== undefined) - Number(a.announcedAddress !== undefined),
    );
  } else if (input.stunFailed) {
    source = 'stun-fallback';
  }
  return { addresses, source, warnings };
}

/**
 * mediasoup listenInfos for a plan: UDP and TCP per address, on one port (a WebRtcServer) or in a
 * port range (a transport of its own). Several announced addresses on one bound address share the
 * UDP port through SO_REUSEPORT (the kernel keeps each remote on one socket); TCP cannot share a
 * port, so only the first of them is offered over TCP.
 */
export function listenInfosFor(
  plan: ListenPlan,
  where: { port: number } | { portRange: { min: number; max: number } },
): ms.TransportListenInfo[] {
  const perIp = new Map<string, number>();
  for (const a of plan.addresses) perIp.set(a.ip, (perIp.get(a.ip) ?? 0) + 1);
  const seenTcp = new Set<string>();
  const infos: ms.TransportListenInfo[] = [];
  for (const a of plan.addresses) {
    const base = {
      ip: a.ip,
      ...('port' in where ? { port: where.port } : { portRange: { ...where.portRange } }),
      ...(a.announcedAddress !== undefined ? { announcedAddress: a.announcedAddress } : {}),
      ...(a.exposeInternalIp ? { exposeInternalIp: true } : {}),
    };
    // In port-range mode each listenInfo takes its own free port: nothing to share.
    const shared = 'port' in where && (perIp.get(a.ip) ?? 0) > 1;
    infos.push({ protocol: 'udp', ...base, ...(shared ? { flags: { udpReusePort: true } } : {}) });
    if (!seenTcp.has(a.ip)) {
      seenTcp.add(a.ip);
      infos.push({ protocol: 'tcp', ...base });
    }
  }
  return infos;
}

/** What clients are given for a plan, in order: one entry per candidate address and protocol. */
export function advertisedAddresses(plan: ListenPlan): AdvertisedAddress[] {
  const out: AdvertisedAddress[] = [];
  for (const info of listenInfosFor(plan, { port: 0 })) {
    out.push({ address: info.announcedAddress ?? info.ip, protocol: info.protocol });
    if (info.exposeInternalIp && info.announcedAddress !== undefined) {
      out.push({ address: info.ip, protocol: info.protocol });
    }
  }
  return out;
}
