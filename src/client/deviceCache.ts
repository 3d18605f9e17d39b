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
let cached: { key: string; device: Promise<Device>; loaded?: Device } | undefined;

const keyOf = (routerRtpCapabilities: RouterRtpCapabilities, handlerName?: BuiltinHandlerName) =>
  `${handlerName ?? ''}|${canonicalJson(routerRtpCapabilities)}`;

export function loadDevice(
  routerRtpCapabilities: RouterRtpCapabilities,
  handlerName?: BuiltinHandlerName,
): Promise<Device> {
  const key = keyOf(routerRtpCapabilities, handlerName);
  if (cached?.key === key) return cached.device;
  const load = async () => {
    const created = handlerName ? new Device({ handlerName }) : new Device();
    await created.load({ routerRtpCapabilities: toDeviceRtpCapabilities(routerRtpCapabilities) });
    return created;
  };
  const device = load();
  const entry: NonNullable<typeof cached> = { key, device };
  cached = entry;
  device.then(
    (loaded) => {
      entry.loaded = loaded;
    },
    // A failed load is not kept: the next call tries again.
    () => {
      if (cached === entry) cached = undefined;
    },
  );
  return device;
}

/**
 * The Device for these capabilities when it is loaded already, at once: a caller that can go on
 * in the same task (no await) sends its first request before the app's handlers of that task run.
 */
export function loadedDevice(
  routerRtpCapabilities: RouterRtpCapabilities,
  handlerName?: BuiltinHandlerName,
): Device | undefined {
  return cached?.key === keyOf(routerRtpCapabilities, handlerName) ? cached.loaded : undefined;
}

/** JSON with object keys sorted: the same capabilities from REST and from room-joined, one key. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
