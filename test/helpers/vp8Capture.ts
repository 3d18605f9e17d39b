import { createSocket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { SfuRoomApi } from '../../src/sfu/SfuRoomTypes.ts';

/** One VP8 frame as the SFU forwarded it: the payloads of its RTP packets, descriptors removed. */
export interface CapturedFrame {
  data: Uint8Array;
  keyFrame: boolean;
}

/** The RTP payload of a packet (after CSRCs, header extension and padding), or undefined. */
function rtpPayload(packet: Buffer): { payloadType: number; marker: boolean; payload: Buffer } | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  const csrcs = packet[0]! & 0x0f;
  let offset = 12 + 4 * csrcs;
  if (packet[0]! & 0x10) offset += 4 + 4 * packet.readUInt16BE(offset + 2);
  let end = packet.length;
  if (packet[0]! & 0x20) end -= packet[end - 1]!;
  if (offset >= end) return undefined;
  return {
    payloadType: packet[1]! & 0x7f,
    marker: (packet[1]! & 0x80) !== 0,
    payload: packet.subarray(offset, end),
  };
}

/** Splits a VP8 RTP payload (RFC 7741) into its descriptor's start-of-frame bit and the frame bytes. */
function vp8Payload(payload: Buffer): { start: boolean; data: Buffer } {
  const first = payload[0]!;
  let offset = 1;
  if (first & 0x80) {
    const ext = payload[1]!;
    offset = 2;
    if (ext & 0x80) offset += payload[offset]! & 0x80 ? 2 : 1;
    if (ext & 0x40) offset += 1;
    if (ext & 0x30) offset += 1;
  }
  const start = (first & 0x10) !== 0 && (first & 0x07) === 0;
  return { start, data: payload.subarray(offset) };
}

/**
 * Consumes a video producer on a PlainTransport (plain RTP to a UDP socket here), asks for a key
 * frame, and reassembles what the worker forwards into VP8 frames until `count` frames have come,
 * starting at a key frame.
 */
export async function captureVp8Frames(
  sfu: SfuRoomApi,
  producerId: string,
  count: number,
): Promise<CapturedFrame[]> {
  const rtp = createSocket('udp4');
  const rtcp = createSocket('udp4');
  await Promise.all([rtp, rtcp].map((s) => new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))));
  const tap = await sfu.tap(producerId, {
    port: (rtp.address() as AddressInfo).port,
    rtcpPort: (rtcp.address() as AddressInfo).port,
  });
  const vp8 = tap.rtpParameters.codecs.find((c) => c.mimeType.toLowerCase() === 'video/vp8');
  if (!vp8) throw new Error('the producer is not VP8');
  const frames: CapturedFrame[] = [];
  let current: Buffer[] | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`only ${frames.length} of ${count} frames came`)),
        20_000,
      );
      rtp.on('message', (packet) => {
        const parsed = rtpPayload(packet);
        if (!parsed || parsed.payloadType !== vp8.payloadType) return;
        const { start, data } = vp8Payload(parsed.payload);
        if (start) current = [];
        if (!current) return;
        current.push(Buffer.from(data));
        if (!parsed.marker) return;
        const frame = Buffer.concat(current);
        current = undefined;
        const keyFrame = (frame[0]! & 0x01) === 0;
        if (frames.length === 0 && !keyFrame) return;
        frames.push({ data: new Uint8Array(frame), keyFrame });
        if (frames.length >= count) {
          clearTimeout(timer);
          resolve();
        }
      });
      void tap.resume().then(() => tap.requestKeyFrame());
    });
  } finally {
    tap.close();
    rtp.close();
    rtcp.close();
  }
  return frames;
}

/** The frames as an IVF file (what ffmpeg reads VP8 from). */
export function toIvf(frames: Uint8Array[], width: number, height: number): Buffer {
  const header = Buffer.alloc(32);
  header.write('DKIF', 0);
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8);
  header.writeUInt16LE(width, 12);
  header.writeUInt16LE(height, 14);
  header.writeUInt32LE(30, 16);
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const parts: Buffer[] = [header];
  frames.forEach((frame, i) => {
    const frameHeader = Buffer.alloc(12);
    frameHeader.writeUInt32LE(frame.byteLength, 0);
    frameHeader.writeBigUInt64LE(BigInt(i), 4);
    parts.push(frameHeader, Buffer.from(frame));
  });
  return Buffer.concat(parts);
}
