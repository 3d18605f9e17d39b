import { parseArgs } from 'node:util';
import fc from 'fast-check';
import WebSocket from 'ws';
import { type ServerUnderTest, startOpenCall } from '../bench/lib/processes.ts';
import { fuzzFrame } from '../test/helpers/fuzzFrames.ts';

/*
 * `npm run fuzz -- --messages 100000 [--url ws://host:port/ws] [--sockets 8]`
 * Sends fuzzed frames of every client message type (test/helpers/fuzzFrames.ts) over several
 * sockets and prints what came back. Without --url it starts its own server (`node src/main.ts`,
 * with the WebSocket rate and byte limits off so every frame is processed); against another
 * server, mind its WS_RATE_LIMIT_PER_S: excess frames are dropped, not fuzzed. Exits 1 when the
 * server crashed or stopped answering.
 */

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    url: { type: 'string' },
    sockets: { type: 'string', default: '8' },
    seed: { type: 'string' },
  },
});
const total = Number(values.messages);
const socketCount = Number(values.sockets);
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;
const BATCH = 200;

let own: ServerUnderTest | undefined;
let wsUrl = values.url;
if (!wsUrl) {
  own = await startOpenCall('fuzz-target', { WS_RATE_LIMIT_PER_S: '0', WS_READ_BYTES_PER_S: '0' });
  wsUrl = own.wsUrl;
}
const httpUrl = wsUrl.replace(/^ws/, 'http').replace(/\/ws$/, '');

const counts = { sent: 0, received: 0, errors: new Map<string, number>(), types: new Map<string, number>() };
const closes = new Map<number, number>();
const bump = (map: Map<string | number, number>, key: string | number) =>
  map.set(key, (map.get(key) ?? 0) + 1);

/** A socket that joined room-1 as peer-<n>, so relays and room messages have targets. */
function open(n: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl ?? '', { perMessageDeflate: false });
    ws.on('message', (data) => {
      counts.received++;
      try {
        const m = JSON.parse(data.toString()) as { type?: string; code?: string };
        bump(counts.types as Map<string | number, number>, String(m.type));
        if (m.type === 'error') bump(counts.errors as Map<string | number, number>, String(m.code));
      } catch {
        bump(counts.types as Map<string | number, number>, '(not JSON)');
      }
    });
    ws.once('open', () => {
      ws.send(
        JSON.stringify({ type: 'join-room', roomId: 'room-1', peerId: `peer-${n}`, displayName: 'Fuzz' }),
      );
      resolve(ws);
    });
    ws.once('error', reject);
    ws.on('close', (code) => {
      if (!finished) bump(closes as Map<string | number, number>, code);
    });
  });
}

/** Resolves when the socket answers a ping: everything sent before it was handled. */
function drained(ws: WebSocket, id: string): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      resolve(false);
    }, 15_000);
    const onMessage = (data: WebSocket.RawData) => {
      if (!data.toString().includes(`"${id}"`)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(true);
    };
    ws.on('message', onMessage);
    ws.send(JSON.stringify({ type: 'ping', requestId: id }));
  });
}

let finished = false;
const started = performance.now();
let stalled = false;
let batchNo = 0;
const sockets: WebSocket[] = [];
for (let i = 0; i < socketCount; i++) sockets.push(await open(i + 1));
const frames = fc.sample(fuzzFrame, { numRuns: Math.min(total, 20_000), seed });
while (counts.sent < total && !stalled) {
  await Promise.all(
    sockets.map(async (ws, i) => {
      let socket = ws;
      if (socket.readyState !== WebSocket.OPEN) {
        socket = await open(i + 1); // a frame may have closed it (e.g. 1009); the fuzzing goes on
        sockets[i] = socket;
      }
      for (let k = 0; k < BATCH && counts.sent < total; k++) {
        socket.send(frames[(batchNo * BATCH * socketCount + i * BATCH + k) % frames.length] ?? '{}');
        counts.sent++;
      }
      if (!(await drained(socket, `fuzz-${batchNo}-${i}`))) stalled = true;
    }),
  );
  batchNo++;
}
finished = true;
for (const ws of sockets) ws.close();
const healthy = await fetch(`${httpUrl}/health`)
  .then((r) => r.ok)
  .catch(() => false);
const crashed = !healthy || stalled || (own !== undefined && own.process.exitCode !== null);
const seconds = (performance.now() - started) / 1000;
console.log(
  `fuzz: ${counts.sent} messages over ${socketCount} sockets in ${seconds.toFixed(1)} s (seed ${seed})`,
);
console.log(`  replies received: ${counts.received}`);
console.log(`  by type: ${[...counts.types].map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`  errors by code: ${[...counts.errors].map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(
  `  sockets closed by the server: ${[...closes].map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}`,
);
console.log(`  crashes: ${crashed ? 1 : 0}${stalled ? ' (a socket stopped answering)' : ''}`);
await own?.stop();
process.exit(crashed ? 1 : 0);
