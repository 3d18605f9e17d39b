/**
 * The UDP sink of bench/sfu.ts, run as a worker thread: SOCKETS sockets on 127.0.0.1 that count the
 * RTP packets every consumer sends them, per SSRC, with extended sequence numbers (for loss).
 * Messages: posts { type: 'ports', ports } once bound; answers { cmd: 'snapshot' } with
 * { type: 'snapshot', rtcp, other, streams: [ssrc, received, firstExtSeq, maxExtSeq][] };
 * { cmd: 'close' } closes the sockets.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';

export type SinkSnapshot = {
  type: 'snapshot';
  rtcp: number;
  other: number;
  streams: Array<[ssrc: number, received: number, firstExtSeq: number, maxExtSeq: number]>;
};

interface Stream {
  received: number;
  first: number;
  /** Highest extended sequence number (seq + 65536 * cycles). */
  max: number;
}

const SOCKETS = (workerData as { sockets?: number } | undefined)?.sockets ?? 4;
const streams = new Map<number, Stream>();
let rtcp = 0;
let other = 0;

function onPacket(msg: Buffer): void {
  if (msg.length < 12 || msg[0]! >> 6 !== 2) {
    other++;
    return;
  }
  const pt = msg[1]!;
  if (pt >= 192 && pt <= 223) {
    rtcp++; // RTCP (SR/RR/SDES/BYE/APP/RTPFB/PSFB…) multiplexed on the same port
    return;
  }
  const seq = msg.readUInt16BE(2);
  const ssrc = msg.readUInt32BE(8);
  const s = streams.get(ssrc);
  if (!s) {
    streams.set(ssrc, { received: 1, first: seq, max: seq });
    return;
  }
  s.received++;
  // Extend the 16-bit sequence number: pick the candidate closest to the current maximum.
  const cycles = s.max - (s.max & 0xffff);
  let ext = cycles + seq;
  if (ext < s.max - 32768) ext += 65536;
  else if (ext > s.max + 32768) ext -= 65536;
  if (ext > s.max) s.max = ext;
}

const sockets: Socket[] = [];
const ports: number[] = [];
for (let i = 0; i < SOCKETS; i++) {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  socket.on('message', onPacket);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  sockets.push(socket);
  ports.push(socket.address().port);
}
parentPort?.postMessage({ type: 'ports', ports });
parentPort?.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'snapshot') {
    const snapshot: SinkSnapshot = {
      type: 'snapshot',
      rtcp,
      other,
      streams: [...streams].map(([ssrc, s]) => [ssrc, s.received, s.first, s.max]),
    };
    parentPort?.postMessage(snapshot);
  } else if (m.cmd === 'close') {
    for (const s of sockets) s.close();
    parentPort?.close();
  }
});
