import { readFileSync } from 'node:fs';
import { cpus, release, type } from 'node:os';

/** What every benchmark module hands back to bench/run.ts. */
export interface BenchTarget {
  name: string;
  /** Human-readable target, e.g. ">= 0.7 x baseline". */
  target: string;
  value: number | string | null;
  met: boolean | null;
}

export interface BenchOutput {
  name: string;
  /** Everything needed to reproduce the run: env of the server under test, loads, durations. */
  config: Record<string, unknown>;
  results: object;
  baseline: object;
  ratios: Record<string, number | null>;
  targets: BenchTarget[];
  /** The table to print: the first row is the header. */
  table: Array<Array<string | number>>;
  /** Free-text remarks printed under the table and stored in the JSON. */
  notes?: string[];
}

export interface BenchModule {
  run(): Promise<BenchOutput>;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export function machineInfo(): { cpus: number; model: string; node: string; os: string } {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model ?? 'unknown',
    node: process.version,
    os: `${type()} ${release()}`,
  };
}

export { freePort } from '../../test/helpers/redisServer.ts';

/** Nearest-rank percentile of an already sorted array (p in 0..100). */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export function percentiles(values: number[], ps: number[]): number[] {
  const sorted = Float64Array.from(values).sort();
  return ps.map((p) => percentileSorted(sorted, p));
}

export function median(values: number[]): number {
  return percentiles(values, [50])[0] ?? Number.NaN;
}

export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function ratio(value: number, base: number, digits = 3): number | null {
  if (!Number.isFinite(value) || !Number.isFinite(base) || base === 0) return null;
  return round(value / base, digits);
}

// ------------------------------------------------------------------------ /proc sampling

const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64/arm64

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLK_TCK;
}

/** Resident set size in bytes, from /proc/<pid>/status (VmRSS). */
/** The child processes of `pid` (a server's media worker, a browser's renderers), from /proc. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/** Measures a process's CPU use between start() and stop(), as % of one core. */
export class CpuMeter {
  readonly #pid: number;
  #cpu0 = 0;
  #t0 = 0;

  constructor(pid: number) {
    this.#pid = pid;
  }

  start(): void {
    this.#cpu0 = processCpuSeconds(this.#pid);
    this.#t0 = performance.now();
  }

  /** % of one core since start(). */
  stop(): number {
    const cpu = processCpuSeconds(this.#pid) - this.#cpu0;
    const wall = (performance.now() - this.#t0) / 1000;
    return wall > 0 ? (cpu / wall) * 100 : Number.NaN;
  }
}

/** CPU % of this process (the load generator) between two calls. */
export function selfCpuMeter(): { stop(): number } {
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  return {
    stop() {
      const u = process.cpuUsage(u0);
      const wall = (performance.now() - t0) / 1000;
      return ((u.user + u.system) / 1e6 / wall) * 100;
    },
  };
}

// ------------------------------------------------------------------------ output

export function formatTable(rows: Array<Array<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths: number[] = [];
  for (const row of cells) {
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  const line = (row: string[]) =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const [head, ...body] = cells;
  if (!head) return '';
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(head), sep, ...body.map(line)].join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US').replace(/,/g, ' ');
  const abs = Math.abs(n);
  return n.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
