import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.ts';
import { type BrowserHarness, launchBrowser } from './browser.ts';
import { P2P_AND_SFU_ROOMS, prepareRoom } from './roomModes.ts';

/* The demo's chat panel in headless Chromium: a message typed on one page shows, as text, on another. */

describe.each(P2P_AND_SFU_ROOMS)('chat in the demo ($mode room)', ({ mode, env }) => {
  let server: TestServer;
  let harness: BrowserHarness;
  const room = `chat-${mode}-${Date.now().toString(36)}`;

  beforeAll(async () => {
    server = await startServer(await env());
    await prepareRoom(server, room, mode);
    harness = await launchBrowser();
  });
  afterAll(async () => {
    await harness?.close();
    await server?.close();
  });

  it('sends from the panel; the other page shows the name and text as text, never as HTML', async () => {
    const ada = await harness.open(server.url, room, 'Ada');
    const bob = await harness.open(server.url, room, '<img src=x onerror=alert(1)>');
    for (const p of [ada, bob]) expect(await p.page.evaluate(() => window.opencall.mode)).toBe(mode);
    await ada.page.click('#btn-chat');
    await ada.page.fill('#chat-input', '<b>hello</b> from Ada');
    await ada.page.press('#chat-input', 'Enter');
    await bob.page.click('#btn-chat');
    const line = bob.page.locator('#chat-log li', { hasText: 'hello' });
    await line.waitFor({ timeout: 10_000 });
    expect(await line.locator('.chat-text').textContent()).toBe('<b>hello</b> from Ada');
    expect(await bob.page.locator('#chat-log b').count()).toBe(0);
    // A reply from the page with a markup name arrives as text too.
    await bob.page.fill('#chat-input', 'hi Ada');
    await bob.page.press('#chat-input', 'Enter');
    const reply = ada.page.locator('#chat-log li', { hasText: 'hi Ada' });
    await reply.waitFor({ timeout: 10_000 });
    expect(await reply.locator('.chat-name').textContent()).toBe('<img src=x onerror=alert(1)>');
    expect(await ada.page.locator('#chat-log img').count()).toBe(0);
    // A page that joins later gets the room's history.
    const cy = await harness.open(server.url, room, 'Cy');
    await cy.page.click('#btn-chat');
    await cy.page.locator('#chat-log li', { hasText: 'hi Ada' }).waitFor({ timeout: 10_000 });
    for (const p of [ada, bob, cy]) await p.close();
  });
});
