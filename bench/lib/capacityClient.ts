/**
 * A load-generator child for bench/capacity.ts: holds its share of the WebSocket peers (a process
 * may open only 20 000 files). Driven over IPC by the parent:
 *   { cmd: 'connect', ... }  → connects and joins, answers { type: 'ready', ... }
 *   { cmd: 'stats' }         → { type: 'stats', open, pings }
 *   { cmd: 'close' }         → terminates every socket and exits.
 * It also exits by itself after `maxLifetimeMs`, should the parent vanish.
 */
import type WebSocket from 'ws';
import { joinRoom, openSocket } from './ws.ts';

export interface ConnectCommand {
  cmd: 'connect';
  url: string;
  /** Global index of this child's first peer; rooms are floor(globalIndex / roomSize). */
  from: number;
  count: number;
  roomSize: number;
  concurrency: number;
  /** Source addresses to spread the client sockets over (127.0.0.x). */
  localAddresses: string[];
  prefix: string;
  /** Give up on the whole connect phase after this long. */
  timeoutMs: number;
  maxLifetimeMs: number;
}

export type ClientReply =
  | { type: 'ready'; joined: number; failed: number; ms: number; firstErrors: string[] }
  | { type: 'stats'; open: number; pings: number };

const sockets: WebSocket[] = [];
let pings = 0;

async function connectAll(c: ConnectCommand): Promise<ClientReply> {
  const t0 = performance.now();
  const deadline = t0 + c.timeoutMs;
  let next = 0;
  let joined = 0;
  let failed = 0;
  const firstErrors: string[] = [];
  const lane = async () => {
    while (next < c.count && performance.now() < deadline) {
      const i = next++;
      const global = c.from + i;
      const localAddress = c.localAddresses[i % c.localAddresses.length];
      try {
        const ws = await openSocket(c.url, localAddress ? { localAddress } : {});
        sockets.push(ws);
        ws.on('ping', () => {
          pings++;
        });
        const reply = await joinRoom(ws, `cap-${Math.floor(global / c.roomSize)}`, `${c.prefix}${global}`);
        if (reply.type !== 'room-joined') throw new Error(`join: ${reply.code ?? reply.type}`);
        joined++;
      } catch (err) {
        failed++;
        if (firstErrors.length < 5) firstErrors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: c.concurrency }, lane));
  failed += c.count - next;
  return { type: 'ready', joined, failed, ms: performance.now() - t0, firstErrors };
}

function send(reply: ClientReply): void {
  process.send?.(reply);
}

process.on('message', (msg: ConnectCommand | { cmd: 'stats' } | { cmd: 'close' }) => {
  if (msg.cmd === 'connect') {
    setTimeout(() => process.exit(3), msg.maxLifetimeMs).unref();
    void connectAll(msg).then(send);
  } else if (msg.cmd === 'stats') {
    send({ type: 'stats', open: sockets.filter((s) => s.readyState === s.OPEN).length, pings });
  } else if (msg.cmd === 'close') {
    for (const ws of sockets) ws.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
process.on('disconnect', () => process.exit(0));
