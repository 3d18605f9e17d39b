/**
 * Runs the benchmarks: `npm run bench` (all), `npm run bench -- relay joins` (those named).
 * Flags: --profile   start the servers under test with `node --cpu-prof` and print their hottest
 *                    functions afterwards (profiles land in bench/results/*.cpuprofile, git-ignored).
 *
 * Each benchmark prints its table and writes bench/results/<name>.json; a summary of every target
 * follows at the end. The exit code is 0 even when a target is missed (a benchmark reports, it does
 * not gate); it is 1 only when a benchmark could not run.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchModule, type BenchOutput, formatTable, log, machineInfo, round } from './lib/common.ts';
import { RESULTS_DIR } from './lib/processes.ts';
import { printProfileSummary } from './lib/profile.ts';

const ALL = ['relay', 'capacity', 'joins', 'sfu', 'switch', 'abuse', 'cluster', 'heap', 'sfuSetup'] as const;
type Name = (typeof ALL)[number];

/** The switch benchmark drives browsers (DOM types, tsconfig.client.json): loaded by path, not by type. */
const browserBench = './switch.ts';

const loaders: Record<Name, () => Promise<BenchModule>> = {
  relay: () => import('./relay.ts'),
  capacity: () => import('./capacity.ts'),
  joins: () => import('./joins.ts'),
  sfu: () => import('./sfu.ts'),
  switch: () => import(browserBench),
  abuse: () => import('./abuse.ts'),
  cluster: () => import('./cluster.ts'),
  heap: () => import('./heap.ts'),
  sfuSetup: () => import('./sfuSetup.ts'),
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const named = args.filter((a) => !a.startsWith('--'));
  for (const flag of flags) {
    if (flag !== '--profile') {
      process.stderr.write(`unknown flag ${flag}; known: --profile\n`);
      return 2;
    }
  }
  const unknown = named.filter((n) => !(ALL as readonly string[]).includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${ALL.join(', ')}\n`);
    return 2;
  }
  if (flags.has('--profile')) process.env.BENCH_PROFILE = '1';
  const selected: Name[] = named.length > 0 ? (named as Name[]) : [...ALL];
  mkdirSync(RESULTS_DIR, { recursive: true });

  const machine = machineInfo();
  const summary: Array<Array<string | number>> = [['benchmark', 'target', 'required', 'value', 'met']];
  const started = performance.now();
  let failed = 0;
  for (const name of selected) {
    const t0 = performance.now();
    log(`${name}: starting`);
    let output: BenchOutput;
    try {
      const mod = await loaders[name]();
      output = await mod.run();
    } catch (err) {
      failed++;
      process.stderr.write(
        `\n${name}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      summary.push([name, '(benchmark failed)', '', '', 'ERROR']);
      continue;
    }
    const seconds = round((performance.now() - t0) / 1000, 1);
    const json = {
      name: output.name,
      machine,
      date: new Date().toISOString(),
      durationS: seconds,
      config: output.config,
      results: output.results,
      baseline: output.baseline,
      ratios: output.ratios,
      targets: output.targets,
      ...(output.notes ? { notes: output.notes } : {}),
    };
    writeFileSync(join(RESULTS_DIR, `${output.name}.json`), `${JSON.stringify(json, null, 2)}\n`);
    process.stdout.write(`\n== ${output.name} (${seconds} s) ==\n${formatTable(output.table)}\n`);
    for (const note of output.notes ?? []) process.stdout.write(`  * ${note}\n`);
    for (const t of output.targets) {
      summary.push([
        output.name,
        t.name,
        t.target,
        t.value === null ? 'n/a' : t.value,
        t.met === null ? 'n/a' : t.met ? 'yes' : 'NO',
      ]);
    }
    if (process.env.BENCH_PROFILE) printProfiles(output.name);
  }
  const total = round((performance.now() - started) / 1000, 1);
  process.stdout.write(
    `\n== summary (${machine.cpus} x ${machine.model}, node ${machine.node}; total ${total} s) ==\n${formatTable(summary)}\n`,
  );
  return failed > 0 ? 1 : 0;
}

function printProfiles(name: string): void {
  for (const file of readdirSync(RESULTS_DIR)) {
    if (file.startsWith(name) && file.endsWith('.cpuprofile')) {
      process.stdout.write(`\n-- profile ${file} --\n`);
      printProfileSummary(join(RESULTS_DIR, file), 25);
    }
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
