import { Device } from 'mediasoup-client';
import type { BuiltinHandlerName } from 'mediasoup-client/types';
import type { RouterRtpCapabilities } from '../protocol/index.ts';
import { toDeviceRtpCapabilities } from './mediasoupWire.ts';

/**
 * Loaded mediasoup-client Devices, by router capabilities. Loading probes the browser with a
 * throw-away RTCPeerConnection (the first one of a page also starts its WebRTC engine), which takes
 * hundreds of milliseconds on a busy machine: prepareConnection loads the Device from
 * GET /api/sfu/capabilities before the join, and room-joined carries the same capabilities, so the
 * Device is ready before a switch needs it.
 */
let cached: { key: string; device: Promise<Device> } | undefined;

export function loadDevice(
  routerRtpCapabilities: RouterRtpCapabilities,
  handlerName?: BuiltinHandlerName,
): Promise<Device> {
  const key = `${handlerName ?? ''}|${canonicalJson(routerRtpCapabilities)}`;
  if (cached?.key === key) return cached.device;
  const device = (async () => {
    const created = handlerName ? new Device({ handlerName }) : new Device();
    await created.load({ routerRtpCapabilities: toDeviceRtpCapabilities(routerRtpCapabilities) });
    return created;
  })();
  const entry = { key, device };
  cached = entry;
  // A failed load is not kept: the next call tries again.
  device.catch(() => {
    if (cached === entry) cached = undefined;
  });
  return device;
}

/** JSON with object keys sorted: the same capabilities from REST and from room-joined, one key. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
