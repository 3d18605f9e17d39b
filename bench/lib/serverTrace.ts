/**
 * Server-side signaling trace for bench/switch.ts, preloaded into the server under test with
 * `node --import ./bench/lib/serverTrace.ts src/main.ts` when BENCH_TRACE_FILE is set. It wraps the
 * `ws` WebSocket's emit('message') and send() to note, per socket, when each request (by requestId)
 * arrived and when its reply left: the server's own share of a request's round trip. Written to
 * BENCH_TRACE_FILE as JSON when the process exits. Costs a JSON-free regex per frame; used only by
 * the switch benchmark, where the server is nearly idle.
 */
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

type Entry = [t: number, socket: number, dir: 0 | 1, type: string, rid: string];
const file = process.env.BENCH_TRACE_FILE;
const entries: Entry[] = [];
const ids = new WeakMap<object, number>();
let nextId = 1;
const TYPE = /"type":"([^"]+)"/;
const RID = /"requestId":("?)([^",}]+)\1/;

function note(socket: object, dir: 0 | 1, data: unknown): void {
  if (entries.length >= 200_000) return;
  const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString() : undefined;
  if (text === undefined) return;
  const rid = RID.exec(text)?.[2];
  if (rid === undefined) return;
  let id = ids.get(socket);
  if (id === undefined) {
    id = nextId++;
    ids.set(socket, id);
  }
  entries.push([Date.now(), id, dir, TYPE.exec(text)?.[1] ?? '?', rid]);
}

if (file) {
  const proto = WebSocket.prototype as unknown as {
    emit: (event: string | symbol, ...args: unknown[]) => boolean;
    send: (data: unknown, ...rest: unknown[]) => void;
  };
  const emit = proto.emit;
  proto.emit = function (this: object, event: string | symbol, ...args: unknown[]) {
    if (event === 'message') note(this, 0, args[0]);
    return emit.call(this, event, ...args);
  };
  const send = proto.send;
  proto.send = function (this: object, data: unknown, ...rest: unknown[]) {
    note(this, 1, data);
    return send.call(this, data, ...rest);
  };
  process.on('exit', () => writeFileSync(file, JSON.stringify(entries)));
}
