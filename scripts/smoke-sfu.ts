/**
 * npm run smoke:sfu [-- --clients N --seconds S]
 *
 * Starts a real server (in-memory store, one mediasoup worker), connects N synthetic WebRTC clients
 * (msc-node: mediasoup-client on werift, sending synthetic Opus and VP8 RTP) to one `auto` room, lets
 * them publish for a few seconds, and prints ONE JSON line: the mode transitions seen and, for each
 * consumer, the packets and bytes it received. Exits 0 only when every consumer received media.
 */
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config/index.ts';
import { createLogger } from '../src/logger.ts';
import { waitFor } from '../test/helpers/mscPeer.ts';
import { connectionManagerOf } from '../test/helpers/server.ts';
import { SyntheticSfuClient } from '../test/helpers/sfuClient.ts';

const { values } = parseArgs({
  options: { clients: { type: 'string', default: '5' }, seconds: { type: 'string', default: '3' } },
});
const count = Number(values.clients);
const seconds = Number(values.seconds);

const config = loadConfig({
  ...process.env,
  PORT: '0',
  HOST: '127.0.0.1',
  LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  MEDIASOUP_NUM_WORKERS: process.env.MEDIASOUP_NUM_WORKERS ?? '1',
  RTC_LISTEN_IP: process.env.RTC_LISTEN_IP ?? '127.0.0.1',
});
// Logs go to stderr: stdout carries the one result line.
const app = await buildApp(config, { logger: createLogger(config.logLevel, pino.destination(2)) });
await app.listen({ port: 0, host: '127.0.0.1' });
const { port } = app.server.address() as AddressInfo;
const wsUrl = `ws://127.0.0.1:${port}/ws`;
const media = connectionManagerOf(app);
const roomId = `smoke-${Date.now().toString(36)}`;
const transitions: string[] = [];
const clients: SyntheticSfuClient[] = [];
let result: Record<string, unknown> = {};
let ok = false;

try {
  for (let i = 0; i < count; i++) {
    clients.push(await SyntheticSfuClient.join(wsUrl, roomId, `peer${i + 1}`));
    const mode = media.modeOf(roomId);
    if (transitions.at(-1) !== mode) transitions.push(mode);
  }
  await waitFor(
    () => {
      const mode = media.modeOf(roomId);
      if (transitions.at(-1) !== mode) transitions.push(mode);
      return mode === 'sfu';
    },
    'the room to reach sfu mode',
    20_000,
  );
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const sfu = media.sfuRoomOf(roomId);
  const serverStats = (await sfu?.getConsumerStats()) ?? [];
  const consumers = clients.flatMap((client) =>
    [...(client.peer?.received.values() ?? [])].map((stream) => {
      const server = serverStats.find((s) => s.consumerId === stream.consumerId);
      return {
        peerId: client.peerId,
        from: server?.producerPeerId,
        kind: stream.kind,
        packets: stream.packets,
        bytes: stream.bytes,
        serverPackets: server?.packetCount ?? 0,
      };
    }),
  );
  const expected = count * (count - 1) * 2;
  ok = consumers.length === expected && consumers.every((c) => c.packets > 0 && c.bytes > 0);
  result = { ok, clients: count, seconds, roomId, transitions, expectedConsumers: expected, consumers };
} catch (err) {
  result = { ok: false, transitions, error: err instanceof Error ? err.message : String(err) };
} finally {
  await Promise.all(clients.map((c) => c.close()));
  await app.close();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(ok ? 0 : 1);
