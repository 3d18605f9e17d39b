import { Device } from 'mediasoup-client';
import type { BuiltinHandlerName } from 'mediasoup-client/types';
import type { RouterRtpCapabilities } from '../protocol/index.ts';
import { toDeviceRtpCapabilities } from './mediasoupWire.ts';

/**
 * Loaded mediasoup-client Devices, by router capabilities. Loading probes the browser with a
 * throw-away RTCPeerConnection, which takes hundreds of milliseconds on a busy machine; the server
 * sends the capabilities in room-joined, so the Device is ready before a switch needs it.
 */
let cached: { key: string; device: Promise<Device> } | undefined;

export function loadDevice(
  routerRtpCapabilities: RouterRtpCapabilities,
  handlerName?: BuiltinHandlerName,
): Promise<Device> {
  const key = `${handlerName ?? ''}|${JSON.stringify(routerRtpCapabilities)}`;
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
