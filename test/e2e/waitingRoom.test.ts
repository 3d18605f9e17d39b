import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { type BrowserHarness, launchBrowser, screenshot } from './browser.ts';

/*
 * The waiting room in the demo, in headless Chromium: the room's creator (its host) turns it on; a
 * guest's page says it waits; the host's page shows the knock, and its Admit button lets the guest in.
 */

describe('the waiting room in the demo', () => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `knock-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer();
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  it('the host admits a knocking guest with the Admit button', async () => {
    const host = await harness.open(server.url, room, 'Host');
    await host.page.evaluate(() => window.opencall.host.setWaitingRoom(true));

    const context = await harness.browser.newContext();
    const guest = await context.newPage();
    await guest.goto(`${server.url}/?room=${room}&name=Guest`);
    await guest.locator('#waiting-banner').waitFor({ state: 'visible', timeout: 20_000 });
    expect(await guest.evaluate(() => window.opencall.state)).toBe('connecting');

    const knock = host.page.locator('.knock', { hasText: 'Guest wants to join' });
    await knock.waitFor({ state: 'visible', timeout: 10_000 });
    await screenshot(host.page, 'waiting-room-knock');
    await knock.locator('button.admit').click();

    await guest.waitForFunction(() => window.opencall.state === 'connected', null, { timeout: 10_000 });
    await guest.locator('#waiting-banner').waitFor({ state: 'hidden' });
    await host.page.waitForFunction(() => window.opencall.peers.some((p) => p.displayName === 'Guest'));
    await knock.waitFor({ state: 'detached' });
    await context.close();
    await host.close();
  });
});
