import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BrowserHarness,
  type DemoPage,
  decodesFrom,
  launchBrowser,
  screenshot,
  until,
} from './browser.ts';

/*
 * A newcomer's first try, as the issue that found the bug tried it: the server started exactly as
 * `npm start` starts it (its script's node flags and dist/src/main.js, built by the test setup as `npm run build` builds
 * it), with the shipped defaults: no RTC_*, no ANNOUNCED_IP, no HOST or PORT, so it serves
 * http://localhost:4000. Four tabs on /?room=x must all end up on the SFU, each decoding the other
 * three. The environment has only what any machine has (PATH, HOME), plus, on these offline build
 * machines, the path of the locally built mediasoup worker.
 */

const BASE = 'http://localhost:4000';

describe('the shipped defaults in headless Chromium', () => {
  let server: ChildProcess;
  const output: string[] = [];
  let harness: BrowserHarness;
  const pages: DemoPage[] = [];
  const room = `defaults-${Date.now().toString(36)}`;

  beforeAll(async () => {
    // The start script's own arguments (its node flags and entry point), after `node`.
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } };
    const [node, ...startArgs] = pkg.scripts.start.split(/\s+/);
    expect(node).toBe('node');
    server = spawn(process.execPath, startArgs, {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        ...(process.env.MEDIASOUP_WORKER_BIN
          ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN }
          : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      createInterface({ input: server.stdout! }).on('line', (line) => {
        output.push(line);
        if (line.includes('opencall ready')) resolve();
      });
      createInterface({ input: server.stderr! }).on('line', (line) => output.push(line));
      server.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${output.join('\n')}`)));
    });
    await ready;
    harness = await launchBrowser();
  });

  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close().catch(() => {})));
    await harness?.close();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      const [code] = await once(server, 'exit');
      expect(code).toBe(0);
    }
  });

  it('starts with no setting and tells which addresses clients will be given: never 0.0.0.0', async () => {
    // The default RTC ports (40000, 40001) lie in Linux's ephemeral range: a client socket of another
    // test on this machine may hold one for a moment, and the pool then retries that worker's slot
    // in the background. What a newcomer gets is the pool once it has settled. Its retries double
    // (0.2, 0.6, 1.4, 3, 6.2, 12.6, 25.4 s after the start): 30 s covers a port held for up to 25 s.
    // On a timeout, the pool's own account of each slot that is down, and its log lines, say why.
    let last: { sfu?: { status?: string; down?: unknown } } = {};
    const readyNow = async () => (await fetch(`${BASE}/ready`)).json();
    await until(
      async () => {
        last = await readyNow();
        return last.sfu?.status === 'available';
      },
      'every media worker up',
      30_000,
    ).catch((err: Error) => {
      const workerLog = output.filter((l) => l.includes('worker')).join('\n');
      throw new Error(`${err.message}; /ready sfu: ${JSON.stringify(last.sfu)}\n${workerLog}`);
    });
    const ready = await readyNow();
    expect(ready).toMatchObject({
      status: 'ready',
      sfu: { status: 'available', addressSource: 'local-addresses' },
    });
    const addresses: string[] = ready.sfu.announcedAddresses.map((c: { address: string }) => c.address);
    expect(addresses).not.toContain('0.0.0.0');
    expect(addresses).toContain('127.0.0.1');
    const startup = output.find((l) => l.includes('media worker pool started')) ?? '';
    expect(startup).toContain('clients will be given');
    expect(startup).not.toContain('0.0.0.0:');
  });

  it('four tabs on /?room=x: the room goes to the SFU and every page decodes every other page', async () => {
    for (const name of ['Ada', 'Grace', 'Linus', 'Margaret'])
      pages.push(await harness.open(BASE, room, name));
    const others = (self: DemoPage) => pages.filter((p) => p !== self).map((p) => p.peerId);
    await until(
      async () => {
        for (const p of pages) {
          const [mode, p2p] = await p.page.evaluate(() => [
            window.opencall.mode,
            window.opencall.p2pConnectionCount,
          ]);
          if (mode !== 'sfu' || p2p !== 0) return false;
        }
        for (const p of pages) if (!(await decodesFrom(p.page, others(p), 'sfu'))) return false;
        return true;
      },
      'all four pages on the SFU, each decoding the other three',
      90_000,
    );
    const info = await (await fetch(`${BASE}/api/rooms/${room}`)).json();
    expect(info).toMatchObject({ connectionMode: 'sfu', participantCount: 4 });
    const ready = await (await fetch(`${BASE}/ready`)).json();
    expect(ready.sfu.clientReachability.connected).toBeGreaterThanOrEqual(8);
    expect(ready.sfu.clientReachability.failed).toBe(0);
    // Each page's grid: its own tile first, then the others in join order, each tile once (render()
    // moves only tiles out of place, and the switch replaced every remote track).
    for (const p of pages) {
      const order = await p.page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('#grid > .tile')].map((t) =>
          t.dataset.local === 'true' ? 'me' : t.dataset.peerId,
        ),
      );
      expect(order).toEqual(['me', ...others(p)]);
      // The tiles were sized for four (layout() runs at the next frame after a tile appears).
      const tileWidth = await p.page.evaluate(() =>
        Number.parseFloat(document.getElementById('grid')?.style.getPropertyValue('--tile-w') ?? ''),
      );
      expect(tileWidth).toBeGreaterThan(0);
    }
    for (const [i, p] of pages.entries()) await screenshot(p.page, `defaults-sfu-${i + 1}`);
  });
});
