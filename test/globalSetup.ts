import { execFileSync } from 'node:child_process';

/**
 * The e2e tests load the real browser bundle (esbuild, about a second), and one starts the server
 * exactly as `npm start` does, from dist/ (tsc, a few seconds): build both once, as `npm run build`.
 */
export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  execFileSync(process.execPath, ['scripts/build-client.mjs'], { stdio: 'inherit' });
}
