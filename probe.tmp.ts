import { chromium } from 'playwright-core';
import { chromiumArgs } from './test/e2e/browser.ts';
import { startServer } from './test/helpers/server.ts';
import { freePortBase } from './test/integration/sfu/sfuTestEnv.ts';

const server = await startServer({ SFU_ENABLED: 'true', MEDIASOUP_NUM_WORKERS: '1', RTC_PORT: String(await freePortBase(1)), RTC_LISTEN_IP: '127.0.0.1', STUN_URLS: '', LOG_LEVEL: 'silent' });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH, args: chromiumArgs });
const t0 = Date.now();
const logs: string[] = [];
const open = async (name: string) => {
  const ctx = await browser.newContext({ viewport: { width: 960, height: 540 } });
  const page = await ctx.newPage();
  page.on('console', (m) => { if (m.text().includes('[opencall]') || m.type() === 'log' || m.type()==='debug') logs.push(`${Date.now() - t0} ${name} ${m.text().slice(0, 160)}`); });
  await page.goto(`${server.url}/?room=probe&name=${name}&debug`);
  await page.waitForFunction(() => window.opencall?.state === 'connected');
  return page;
};
const pages = [await open('A'), await open('B'), await open('C')];
await new Promise((r) => setTimeout(r, 4000));
logs.push(`${Date.now() - t0} ---- D joins`);
pages.push(await open('D'));
await new Promise((r) => setTimeout(r, 9000));
console.log(logs.filter((l) => !l.includes('ice-candidate')).join('\n'));
await browser.close();
await server.close();
