import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ServerMessage, ServerMessageOf } from '../../src/protocol/index.ts';
import { waitFor } from '../helpers/mscPeer.ts';
import { SyntheticSfuClient } from '../helpers/sfuClient.ts';
import { ComposeStack, freePortBase, hostIPv4, run, stageWorker, tail, tcpFree, udpFree } from './compose.ts';

/*
 * The real Dockerfile and docker-compose.yml, run for real: build the image (with the locally built
 * mediasoup worker from MEDIASOUP_WORKER_BIN), `docker-compose up`, four synthetic clients join one
 * room through the published HTTP port so that it goes SFU, and their Opus+VP8 reaches the
 * container's SFU over the published UDP port and comes back to the other three. A second room
 * lands on the second media worker, so every published RTC port is proven. Then it comes down.
 *
 * Needs Docker (DOCKER_HOST) and docker-compose; run with `npm run test:docker`, not `npm test`.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const NUM_WORKERS = 2;
const SERVICE = 'opencall';
const log = (message: string) => process.stdout.write(`docker-test: ${message}\n`);
const seconds = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

type TransportCreated = ServerMessageOf<'sfu-transport-created'>;

interface Participant {
  client: SyntheticSfuClient;
  /** What the server handed this client for its send and recv transports, ICE candidates included. */
  transports: TransportCreated[];
}

interface RoomRun {
  roomId: string;
  participants: Participant[];
  /** The one RTC port this room's router (one worker) announced. */
  port: number;
}

describe('Docker: the compose stack carries media through its published UDP ports', () => {
  const announcedIp = hostIPv4();
  let stack: ComposeStack | undefined;
  let httpUrl = '';
  let wsUrl = '';
  let httpPort = 0;
  let rtcBase = 0;
  let failed = false;
  let isDown = false;
  const rooms: RoomRun[] = [];

  const rtcPorts = () => Array.from({ length: NUM_WORKERS }, (_, i) => rtcBase + i);

  beforeAll(async () => {
    try {
      const docker = await run('docker', ['version', '--format', '{{.Server.Version}}'], {
        cwd: ROOT,
        env: process.env,
        timeoutMs: 30_000,
      });
      if (docker.code !== 0) {
        throw new Error(
          `docker does not answer (is DOCKER_HOST set? eval "$(bash ../shared/docker-setup.sh)"):\n${tail(docker.output)}`,
        );
      }
      httpPort = await freePortBase(1);
      do rtcBase = await freePortBase(NUM_WORKERS);
      while (rtcBase <= httpPort && httpPort < rtcBase + NUM_WORKERS);
      httpUrl = `http://${announcedIp}:${httpPort}`;
      wsUrl = `ws://${announcedIp}:${httpPort}/ws`;
      // One project (so one image tag, and its build cache) per checkout; another checkout's run
      // on the same dockerd does not collide with it. A stack left by an interrupted run goes first.
      const project =
        process.env.DOCKER_TEST_PROJECT ??
        `opencall-dockertest-${createHash('sha256').update(ROOT).digest('hex').slice(0, 8)}`;
      stack = new ComposeStack({
        project,
        cwd: ROOT,
        variables: {
          ANNOUNCED_IP: announcedIp,
          HTTP_PORT: String(httpPort),
          RTC_PORT: String(rtcBase),
          RTC_PORT_LAST: String(rtcBase + NUM_WORKERS - 1),
          MEDIASOUP_NUM_WORKERS: String(NUM_WORKERS),
          CLIENT_URL: httpUrl,
          LOG_LEVEL: 'info',
        },
      });
      const leftovers = await stack.leftovers();
      if (leftovers.length > 0) {
        log(`removing what an earlier run of ${project} left: ${leftovers.join(', ')}`);
        await stack.down();
      }
      const worker = stageWorker(ROOT);
      log(`docker ${docker.stdout.trim()}; worker: ${worker ?? "mediasoup's prebuilt download"}`);
      log(`announced ${announcedIp}, http ${httpPort}, rtc ${rtcPorts().join(',')} (udp+tcp)`);

      let t0 = performance.now();
      await stack.composeOk(['build'], 20 * 60_000);
      log(`image built in ${seconds(t0)}`);
      t0 = performance.now();
      await stack.composeOk(['up', '--detach', '--no-build'], 180_000);
      let lastReady = '';
      await waitFor(
        async () => {
          try {
            const response = await fetch(`${httpUrl}/ready`, { signal: AbortSignal.timeout(2000) });
            lastReady = `${response.status} ${await response.text()}`;
            const body = JSON.parse(lastReady.slice(4)) as {
              store?: { status?: string; kind?: string };
              sfu?: { status?: string; announcedAddresses?: Array<{ address: string }> };
            };
            return (
              response.ok &&
              body.store?.status === 'ok' &&
              body.store.kind === 'redis' &&
              body.sfu?.status === 'available' &&
              (body.sfu.announcedAddresses ?? []).every((c) => c.address === announcedIp)
            );
          } catch (err) {
            lastReady = String(err);
            return false;
          }
        },
        `${httpUrl}/ready to report the Redis store and the SFU available`,
        120_000,
        500,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; last answer: ${lastReady}`);
      });
      log(`stack up and ready in ${seconds(t0)}: ${lastReady}`);
    } catch (err) {
      failed = true;
      throw err;
    }
  }, 25 * 60_000);

  beforeEach(({ onTestFailed }) => {
    onTestFailed(() => {
      failed = true;
    });
  });

  afterAll(async () => {
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.close().catch(() => {}))));
    if (!stack) return;
    if (isDown) return stack.dispose();
    if (failed) await printLogs();
    try {
      await stack.down();
    } finally {
      stack.dispose();
    }
  }, 180_000);

  /** The containers' logs (pino JSON from opencall), printed when something failed. */
  async function printLogs(): Promise<void> {
    if (!stack) return;
    const logs = await stack.compose(['logs', '--no-color', '--tail', '300'], 60_000).catch((e) => ({
      output: String(e),
    }));
    process.stdout.write(`\n----- docker-compose logs (${stack.project}) -----\n${logs.output}\n-----\n`);
  }

  /** Four clients join `roomId` over the published HTTP port; the 4th switches the room to the SFU. */
  async function joinRoom(roomId: string): Promise<RoomRun> {
    const room: RoomRun = { roomId, participants: [], port: 0 };
    rooms.push(room);
    for (const name of ['ada', 'grace', 'linus', 'margaret']) {
      const client = await SyntheticSfuClient.join(wsUrl, roomId, `${name}-${roomId}`);
      const participant: Participant = { client, transports: [] };
      // The transports are created after the join (on mode-changed, or right after room-joined for
      // the 4th), a round trip later at least: this listener is in place before their replies arrive.
      client.ws.ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as ServerMessage;
        if (message.type === 'sfu-transport-created') participant.transports.push(message);
      });
      room.participants.push(participant);
    }
    const { participants } = room;
    const producersOf = (p: Participant) => [...(p.client.peer?.produced.keys() ?? [])];
    const othersProducers = (self: Participant) =>
      participants.filter((p) => p !== self).flatMap(producersOf);
    const state = () =>
      participants
        .map(({ client }) => {
          const streams = [...(client.peer?.received.values() ?? [])].map((s) => s.packets);
          return `${client.peerId}: ${client.modes.join('>')}, packets of consumed streams [${streams.join(',')}]`;
        })
        .join('; ');
    await waitFor(
      () =>
        participants.every(
          (p) =>
            p.client.mode === 'sfu' &&
            producersOf(p).length === 2 &&
            othersProducers(p).length === 6 &&
            p.client.receivingFromAll(othersProducers(p), 25),
        ),
      `room ${roomId} to go SFU with every client receiving 25+ packets of the others' 6 streams`,
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}. Now: ${state()}`);
    });
    const udpPorts = new Set(
      participants.flatMap((p) =>
        p.transports.flatMap((t) => t.iceCandidates.filter((c) => c.protocol === 'udp').map((c) => c.port)),
      ),
    );
    expect([...udpPorts], 'one room, one router, one worker: a single RTC port').toHaveLength(1);
    room.port = [...udpPorts][0] ?? 0;
    return room;
  }

  /** Everything that shows media went client -> published UDP port -> SFU in the container -> clients. */
  async function expectMediaThroughPublishedPort(room: RoomRun): Promise<void> {
    const { participants } = room;
    expect(rtcPorts()).toContain(room.port);
    // The port the clients were told is published on the host under the same number, over UDP.
    expect(await stack!.port(SERVICE, room.port, 'udp')).toMatch(new RegExp(`:${room.port}$`));

    for (const { client, transports } of participants) {
      expect(client.failures, `${client.peerId} client-side failures`).toEqual([]);
      expect(client.errors, `${client.peerId} server errors`).toEqual([]);
      // A send and a recv transport, each offered only ANNOUNCED_IP at the published port: never
      // the container's own address, so the media cannot have bypassed docker's port publishing.
      expect(transports.map((t) => t.direction).sort()).toEqual(['recv', 'send']);
      for (const t of transports) {
        expect(t.iceCandidates.length).toBeGreaterThan(0);
        for (const c of t.iceCandidates) {
          expect(c.address, `${client.peerId} ${t.direction} candidate`).toBe(announcedIp);
          expect(c.port).toBe(room.port);
        }
        expect(t.iceCandidates.some((c) => c.protocol === 'udp')).toBe(true);
      }
      // The ICE pair each transport nominated and uses: UDP to ANNOUNCED_IP at the published port.
      const peer = client.peer!;
      for (const transport of [peer.sendTransport!, peer.recvTransport!]) {
        expect(transport.connectionState, `${client.peerId} ${transport.direction} transport`).toBe(
          'connected',
        );
        // werift nominates aggressively (one pair per local address): all of them lead to ANNOUNCED_IP
        // at the published port over UDP, since that is the only remote candidate it could pair with.
        const connection = transport.pc.iceTransports[0]?.connection;
        const nominated = (connection?.checkList ?? [])
          .filter((pair) => pair.nominated)
          .map(({ remoteCandidate: r }) => `${r.transport.toLowerCase()} ${r.host}:${r.port}`);
        expect(nominated.length, `${client.peerId} ${transport.direction} nominated pairs`).toBeGreaterThan(
          0,
        );
        expect(new Set(nominated)).toEqual(new Set([`udp ${announcedIp}:${room.port}`]));
      }
    }

    // The server's view (REST, through the published HTTP port): the room is on the SFU and holds
    // exactly the producers the clients created: their RTP reached the SFU, which forwards it.
    const response = await fetch(`${httpUrl}/api/rooms/${room.roomId}`);
    expect(response.status).toBe(200);
    const info = (await response.json()) as {
      connectionMode: string;
      participantCount: number;
      peers: { peerId: string; producers?: { producerId: string; kind: string; paused: boolean }[] }[];
    };
    expect(info.connectionMode).toBe('sfu');
    expect(info.participantCount).toBe(4);
    for (const { client } of participants) {
      const server = info.peers.find((p) => p.peerId === client.peerId);
      expect(server, `${client.peerId} in GET /api/rooms/${room.roomId}`).toBeDefined();
      expect(server!.producers?.map((p) => p.producerId).sort()).toEqual(
        [...client.peer!.produced.keys()].sort(),
      );
      expect(server!.producers?.map((p) => p.kind).sort()).toEqual(['audio', 'video']);
      expect(server!.producers?.every((p) => !p.paused)).toBe(true);
    }

    // And it keeps flowing: every consumed stream (the other three's audio and video, forwarded by
    // the SFU) grows over a second and a half, and every video stream carried keyframes.
    const snapshot = () =>
      participants.flatMap(({ client }) =>
        [...client.peer!.received.values()].map((s) => ({
          key: `${client.peerId} <- ${s.kind} ${s.producerId}`,
          packets: s.packets,
        })),
      );
    const before = snapshot();
    expect(before).toHaveLength(4 * 6);
    await new Promise((r) => setTimeout(r, 1500));
    const after = new Map(snapshot().map((s) => [s.key, s.packets]));
    for (const s of before) {
      expect(after.get(s.key)! - s.packets, `${s.key}: new packets in 1.5 s`).toBeGreaterThan(10);
    }
    for (const { client } of participants) {
      for (const s of client.peer!.received.values()) {
        if (s.kind === 'video')
          expect(s.keyframes, `${client.peerId} keyframes of ${s.producerId}`).toBeGreaterThan(0);
      }
      for (const p of client.peer!.produced.values()) {
        expect(p.generator.packetsSent, `${client.peerId} sent ${p.kind}`).toBeGreaterThan(50);
      }
    }
  }

  it('four clients through the published port switch a room to the SFU; media flows over UDP both ways', async () => {
    const t0 = performance.now();
    const room = await joinRoom(`dock-a-${Date.now().toString(36)}`);
    log(
      `room ${room.roomId} on the SFU at ${announcedIp}:${room.port}/udp, media both ways, in ${seconds(t0)}`,
    );
    await expectMediaThroughPublishedPort(room);
  }, 120_000);

  it('a second room lands on the other media worker: every published RTC port carries media', async () => {
    expect(rooms[0]?.port, 'the first room').toBeGreaterThan(0);
    const t0 = performance.now();
    const room = await joinRoom(`dock-b-${Date.now().toString(36)}`);
    log(`room ${room.roomId} on the SFU at ${announcedIp}:${room.port}/udp, in ${seconds(t0)}`);
    await expectMediaThroughPublishedPort(room);
    // The two rooms together used the whole published range, one worker each.
    expect(rooms.map((r) => r.port).sort()).toEqual(rtcPorts());
    // The first room is still flowing, beside the second.
    await expectMediaThroughPublishedPort(rooms[0]!);
  }, 120_000);

  it('serves the demo page and the SDK bundle built into the image, and reports healthy', async () => {
    const page = await fetch(`${httpUrl}/meeting/hello`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const sdk = await fetch(`${httpUrl}/client/opencall.js`);
    expect(sdk.status).toBe(200);
    expect((await sdk.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    // The image's HEALTHCHECK (every 15 s, node's fetch of /health inside the container) passes.
    const id = (await stack!.composeOk(['ps', '--quiet', SERVICE])).trim();
    let health = '';
    await waitFor(
      async () => {
        const inspect = await run('docker', ['inspect', '--format', '{{.State.Health.Status}}', id], {
          cwd: ROOT,
          env: process.env,
          timeoutMs: 30_000,
        });
        health = inspect.stdout.trim();
        return health === 'healthy' || health === 'unhealthy';
      },
      'the container health check',
      45_000,
      1000,
    );
    expect(health).toBe('healthy');
  }, 60_000);

  it('comes down cleanly: graceful stop on SIGTERM, no container left, the published ports free again', async () => {
    await Promise.all(rooms.flatMap((r) => r.participants.map((p) => p.client.close())));
    if (failed) await printLogs();
    const t0 = performance.now();
    // SIGTERM reaches node through init and sh's exec: it shuts down gracefully, well within the timeout.
    await stack!.composeOk(['stop', '--timeout', '15'], 60_000);
    const stopped = performance.now() - t0;
    const logs = await stack!.composeOk(['logs', '--no-color', SERVICE], 60_000);
    expect(logs).toMatch(/"signal":"SIGTERM".*"msg":"shutting down"/);
    expect(logs).toMatch(/"msg":"shutdown complete"/);
    expect(stopped).toBeLessThan(14_000);
    await stack!.down();
    isDown = true;
    log(`stopped in ${(stopped / 1000).toFixed(1)} s, down in ${seconds(t0)}`);
    expect(await stack!.leftovers()).toEqual([]);
    // docker-proxy let go of the published ports: this process can bind them again.
    for (const port of rtcPorts()) {
      expect(await udpFree(port), `udp ${port} free`).toBe(true);
      expect(await tcpFree(port), `tcp ${port} free`).toBe(true);
    }
    expect(await tcpFree(httpPort), `tcp ${httpPort} free`).toBe(true);
  }, 180_000);
});
