/**
 * Baseline for the signaling benchmarks: the least a relay can do, written with `ws` alone.
 * A Map from peerId to socket; every frame is JSON.parse'd; `join-room` registers the socket under
 * its peerId (no rooms, no validation, no store) and answers a minimal `room-joined`; a frame with a
 * `toPeerId` is forwarded as the raw frame to that peer. Nothing else.
 *
 * Env: PORT (required), HOST (127.0.0.1), HEARTBEAT_INTERVAL_MS (optional: ping every socket at
 * this interval, as OpenCall does, so that idle CPU compares like with like; no pong bookkeeping).
 *
 *   PORT=5000 node bench/baselines/bareRelay.ts
 */
import { type RawData, type WebSocket, WebSocketServer } from 'ws';

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('bareRelay: set PORT\n');
  process.exit(1);
}
const host = process.env.HOST ?? '127.0.0.1';
const heartbeatMs = Number(process.env.HEARTBEAT_INTERVAL_MS ?? 0);

const peers = new Map<string, WebSocket>();
let nextId = 0;

const wss = new WebSocketServer({ port, host, perMessageDeflate: false, clientTracking: true });

wss.on('connection', (ws) => {
  let self: string | undefined;
  ws.on('message', (data: RawData) => {
    let msg: { type?: unknown; toPeerId?: unknown; peerId?: unknown; roomId?: unknown; requestId?: unknown };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (typeof msg.toPeerId === 'string') {
      peers.get(msg.toPeerId)?.send(data, { binary: false });
      return;
    }
    if (msg.type === 'join-room') {
      self = typeof msg.peerId === 'string' ? msg.peerId : `p${nextId++}`;
      peers.set(self, ws);
      ws.send(
        JSON.stringify({ type: 'room-joined', roomId: msg.roomId, peerId: self, requestId: msg.requestId }),
      );
    }
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    if (self !== undefined && peers.get(self) === ws) peers.delete(self);
  });
});

wss.on('listening', () => process.stdout.write(`bareRelay listening on ${host}:${port}\n`));

if (heartbeatMs > 0) {
  setInterval(() => {
    for (const ws of wss.clients) ws.ping();
  }, heartbeatMs).unref();
}

const stop = () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
