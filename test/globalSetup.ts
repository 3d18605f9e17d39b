import { execFileSync } from 'node:child_process';

/** The e2e tests load the real browser bundle: build it once (esbuild, about a second). */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build-client.mjs'], { stdio: 'inherit' });
}
