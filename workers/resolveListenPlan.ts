import { networkInterfaces } from 'node:os';
import type { SfuConfig } from '../src/config/Config.ts';
import type { Logger } from '../src/logger.ts';
import { type ListenPlan, planListenAddresses } from './ListenPlan.ts';
import { discoverPublicAddress } from './stunClient.ts';

type ListenSettings = Pick<SfuConfig, 'listenIp' | 'announced' | 'ipv6'>;

/**
 * The listen plan for the configuration, asking STUN first for ANNOUNCED_IP=auto. Never rejects:
 * a STUN server that does not answer is logged and the local addresses are used instead.
 */
export async function resolveListenPlan(
  config: ListenSettings,
  logger: Logger,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): Promise<ListenPlan> {
  const base = { listenIp: config.listenIp, ipv6: config.ipv6, interfaces };
  const announced = config.announced;
  if (announced.kind === 'list') return planListenAddresses({ ...base, announced: announced.addresses });
  if (announced.kind === 'none') return planListenAddresses({ ...base, announced: [] });

  if (announced.stunUrl === undefined) {
    logger.warn('ANNOUNCED_IP=auto but STUN_URLS names no stun: server; announcing the local addresses');
    return planListenAddresses({ ...base, announced: [], stunFailed: true });
  }
  try {
    const mapping = await discoverPublicAddress(announced.stunUrl, announced.timeoutMs);
    logger.info(
      { stun: announced.stunUrl, publicAddress: mapping.public, localAddress: mapping.local },
      'ANNOUNCED_IP=auto: public address found',
    );
    return planListenAddresses({ ...base, announced: [], stunMapping: mapping });
  } catch (err) {
    logger.warn(
      { stun: announced.stunUrl, err: err instanceof Error ? err.message : String(err) },
      'ANNOUNCED_IP=auto: the STUN server did not answer; announcing the local addresses',
    );
    return planListenAddresses({ ...base, announced: [], stunFailed: true });
  }
}
