import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/*
 * Just enough of STUN (RFC 8489) to learn this host's public address for ANNOUNCED_IP=auto: one
 * Binding request over UDP, retransmitted until an answer or the timeout, and the
 * XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS) of the success response.
 */

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_MAPPED_ADDRESS = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
/** Retransmissions after the first request (RFC 8489 7.2.1 starts at 500 ms; we are in a hurry). */
const RETRANSMIT_MS = [250, 500, 1000, 2000];

export interface StunMapping {
  /** This host's address as the STUN server saw it. */
  public: string;
  /** The local address the request left from (the interface that reaches the STUN server). */
  local: string;
}

/** `stun:host[:port]` (RFC 7064). Throws on anything else. */
export function parseStunUrl(url: string): { host: string; port: number } {
  const match = /^stuns?:(\[[^\]]+\]|[^:?]+)(?::(\d+))?/i.exec(url.trim());
  if (!match?.[1]) throw new Error(`not a stun: URL: ${url}`);
  const host = match[1].replace(/^\[|\]$/g, '');
  return { host, port: match[2] ? Number(match[2]) : 3478 };
}

export function encodeBindingRequest(transactionId: Buffer): Buffer {
  const message = Buffer.alloc(20);
  message.writeUInt16BE(BINDING_REQUEST, 0);
  message.writeUInt16BE(0, 2);
  message.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(message, 8);
  return message;
}

/** The mapped address of a Binding success response to `transactionId`, or undefined. */
export function decodeBindingResponse(message: Buffer, transactionId: Buffer): string | undefined {
  if (message.length < 20 || message.readUInt16BE(0) !== BINDING_SUCCESS) return undefined;
  if (message.readUInt32BE(4) !== MAGIC_COOKIE || !message.subarray(8, 20).equals(transactionId)) {
    return undefined;
  }
  const end = Math.min(message.length, 20 + message.readUInt16BE(2));
  let plain: string | undefined;
  for (let offset = 20; offset + 4 <= end; ) {
    const type = message.readUInt16BE(offset);
    const length = message.readUInt16BE(offset + 2);
    const value = message.subarray(offset + 4, offset + 4 + length);
    if (type === ATTR_XOR_MAPPED_ADDRESS) {
      const address = readAddress(value, message.subarray(4, 20));
      if (address) return address;
    } else if (type === ATTR_MAPPED_ADDRESS) {
      plain ??= readAddress(value, undefined);
    }
    offset += 4 + length + ((4 - (length % 4)) % 4);
  }
  return plain;
}

/** An address attribute; XORed with the magic cookie and transaction id when `xorKey` is given. */
function readAddress(value: Buffer, xorKey: Buffer | undefined): string | undefined {
  if (value.length < 8) return undefined;
  const family = value[1];
  const size = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (size === 0 || value.length < 4 + size) return undefined;
  const bytes = Buffer.from(value.subarray(4, 4 + size));
  if (xorKey) for (let i = 0; i < size; i++) bytes[i] = (bytes[i] ?? 0) ^ (xorKey[i] ?? 0);
  if (size === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // The full form (no :: compression) is a valid address for mediasoup and browsers alike.
  return groups.join(':');
}

/**
 * Asks the STUN server at `url` for this host's public address. Rejects when it does not answer
 * within `timeoutMs` (DNS included), or answers with nothing usable.
 */
export async function discoverPublicAddress(url: string, timeoutMs: number): Promise<StunMapping> {
  const { host, port } = parseStunUrl(url);
  const deadline = AbortSignal.timeout(timeoutMs);
  const aborted = new Promise<never>((_, reject) => {
    deadline.addEventListener('abort', () =>
      reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)),
    );
  });
  aborted.catch(() => {});
  const ip = isIP(host) ? host : (await Promise.race([lookup(host, { family: 4 }), aborted])).address;
  const socket = createSocket(isIP(ip) === 6 ? 'udp6' : 'udp4');
  const timers: NodeJS.Timeout[] = [];
  try {
    await Promise.race([connect(socket, port, ip), aborted]);
    const local = socket.address().address;
    const transactionId = randomBytes(12);
    const request = encodeBindingRequest(transactionId);
    const answer = new Promise<string>((resolve, reject) => {
      socket.on('message', (message) => {
        const mapped = decodeBindingResponse(message, transactionId);
        if (mapped) resolve(mapped);
      });
      socket.on('error', reject);
    });
    const send = () => socket.send(request, () => {});
    send();
    for (const delay of RETRANSMIT_MS) timers.push(setTimeout(send, delay));
    return { public: await Promise.race([answer, aborted]), local };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    socket.close();
  }
}

function connect(socket: Socket, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}
