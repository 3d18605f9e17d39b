/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints the functions with the most self time, and
 * self time per file/package.   node bench/lib/profile.ts bench/results/relay-opencall.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatTable, round } from './common.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  functions: Array<{ name: string; where: string; selfMs: number; pct: number }>;
  files: Array<{ file: string; selfMs: number; pct: number }>;
}

function shortUrl(url: string): string {
  if (!url) return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.search(/\/(src|workers|bench)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  let total = 0;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const file = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const entry = fn.get(key) ?? { name: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    const f = url ? shortUrl(url).replace(/^((@[^/]+\/)?[^/]+).*$/, '$1') : functionName;
    const fileKey = url && /\/(src|workers|bench)\//.test(url) ? shortUrl(url) : f;
    file.set(fileKey, (file.get(fileKey) ?? 0) + us);
  }
  const pct = (us: number) => round((us / Math.max(1, total)) * 100, 1);
  return {
    totalMs: round(total / 1000, 0),
    functions: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: round(e.us / 1000, 1), pct: pct(e.us) })),
    files: [...file.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([f, us]) => ({ file: f, selfMs: round(us / 1000, 1), pct: pct(us) })),
  };
}

export function printProfileSummary(path: string, top = 25): void {
  const s = summarizeProfile(path, top);
  process.stdout.write(`total sampled: ${s.totalMs} ms\n`);
  process.stdout.write(
    `${formatTable([['self %', 'self ms', 'function', 'where'], ...s.functions.map((f) => [f.pct, f.selfMs, f.name, f.where])])}\n\n`,
  );
  process.stdout.write(
    `${formatTable([['self %', 'self ms', 'package / file'], ...s.files.map((f) => [f.pct, f.selfMs, f.file])])}\n`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [path, top] = process.argv.slice(2);
  if (!path) {
    process.stderr.write('usage: node bench/lib/profile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  printProfileSummary(path, top ? Number(top) : 25);
}
