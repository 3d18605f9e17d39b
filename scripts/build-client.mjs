#!/usr/bin/env node
/*
 * Builds the browser side into dist/client/ with esbuild (no tsc needed: esbuild strips the types):
 *
 *   opencall.js   the SDK (src/client/index.ts + mediasoup-client), one ESM file
 *   demo.js       the demo page's script (src/client/demo/demo.ts, SDK included)
 *   index.html    the demo page (the server serves it at / and /meeting/:roomId)
 *   demo.css      its styles
 *
 * Minified by default, with source maps; --no-minify keeps the output readable.
 *
 * Usage: node scripts/build-client.mjs [--no-minify] [--watch]
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'client');
const demoDir = join(root, 'src', 'client', 'demo');
const args = new Set(process.argv.slice(2));
const minify = !args.has('--no-minify');
const watch = args.has('--watch');

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  minify,
  legalComments: 'linked',
  logLevel: 'warning',
  // mediasoup-client's `debug` dependency looks at process.env in some code paths.
  define: { 'process.env.NODE_ENV': '"production"', 'process.env.DEBUG': 'undefined' },
  absWorkingDir: root,
};

const builds = [
  { ...common, entryPoints: ['src/client/index.ts'], outfile: join(outdir, 'opencall.js') },
  { ...common, entryPoints: ['src/client/demo/demo.ts'], outfile: join(outdir, 'demo.js') },
];

async function copyAssets() {
  await mkdir(outdir, { recursive: true });
  await Promise.all(['index.html', 'demo.css'].map((f) => copyFile(join(demoDir, f), join(outdir, f))));
}

const started = performance.now();
await mkdir(outdir, { recursive: true });
if (watch) {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  await copyAssets();
  await Promise.all(contexts.map((c) => c.watch()));
  console.log(`build-client: watching (assets are copied once; restart to pick up HTML/CSS changes)`);
} else {
  const results = await Promise.all([
    ...builds.map((b) => esbuild.build({ ...b, metafile: true })),
    copyAssets(),
  ]);
  const sizes = results
    .slice(0, builds.length)
    .flatMap((r) => Object.entries(r.metafile.outputs))
    .filter(([file]) => file.endsWith('.js'))
    .map(([file, out]) => `${file.replace(/^.*dist\//, 'dist/')} ${(out.bytes / 1024).toFixed(0)} KiB`);
  console.log(`build-client: ${sizes.join(', ')} in ${Math.round(performance.now() - started)} ms`);
}
