import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './common.ts';

/** Self size and count of the objects of one kind in a heap snapshot. */
export interface HeapKind {
  bytes: number;
  count: number;
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/**
 * Groups a V8 heap snapshot's nodes by what they are: objects and closures by constructor or
 * function name, strings, arrays and code by type. Self sizes, not retained sizes: summed over a
 * whole heap they add up to it, and a per-peer difference of two snapshots shows what each peer adds.
 */
export function heapByKind(path: string): Map<string, HeapKind> {
  const json = JSON.parse(readFileSync(path, 'utf8')) as SnapshotJson;
  const fields = json.snapshot.meta.node_fields;
  const types = json.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, HeapKind>();
  const { nodes, strings } = json;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt] as number] ?? '?';
    const name = strings[nodes[i + nameAt] as number] ?? '?';
    let key: string;
    if (type === 'object' || type === 'closure' || type === 'native')
      key = `${name}${type === 'closure' ? '()' : ''}`;
    else if (type.includes('string')) key = '(string)';
    else if (type === 'hidden' || type === 'array' || type === 'object shape') key = `(${type}) ${name}`;
    else key = `(${type})`;
    const entry = out.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += nodes[i + sizeAt] as number;
    entry.count += 1;
    out.set(key, entry);
  }
  return out;
}

/**
 * Has a child started with `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=<dir>` write a snapshot;
 * resolves with its path once the file is complete.
 */
export async function takeSnapshot(pid: number, dir: string, timeoutMs = 120_000): Promise<string> {
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + timeoutMs;
  let last = -1;
  while (performance.now() < deadline) {
    await sleep(250);
    const fresh = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (fresh.length === 0) continue;
    const path = join(dir, fresh[0] as string);
    // Complete when it parses as JSON's end and its size stopped changing.
    const size = readFileSync(path).length;
    if (size > 0 && size === last) return path;
    last = size;
  }
  throw new Error(`no heap snapshot from ${pid} within ${timeoutMs} ms`);
}

export function removeSnapshots(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
