import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * `npm start`, the Docker image and docker-compose start the same server with the same node flags
 * (the young-generation bound and the gc() that keep an idle peer lean, README "Performance"): one changed
 * without the others would leave self-hosters with a server the benchmarks did not measure.
 */
describe('the start command', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } };
  const npmStart = pkg.scripts.start.split(/\s+/);

  it('is node with its flags and dist/src/main.js', () => {
    expect(npmStart[0]).toBe('node');
    expect(npmStart.at(-1)).toBe('dist/src/main.js');
    expect(npmStart).toContain('--max-semi-space-size=16');
    // gc() for the reclaim after a connection storm (MemoryReclaimer).
    expect(npmStart).toContain('--expose-gc');
  });

  it('is the same in the Dockerfile', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    expect(JSON.parse(cmd ?? '[]')).toEqual(npmStart);
  });

  it('is the same in docker-compose.yml', () => {
    const exec = /exec (node .*)$/m.exec(readFileSync('docker-compose.yml', 'utf8'))?.[1];
    expect(exec?.trim().split(/\s+/)).toEqual(npmStart);
  });
});
