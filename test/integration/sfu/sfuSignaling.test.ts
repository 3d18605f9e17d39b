import { afterEach, describe, expect, it } from 'vitest';
import type { ServerMessage } from '../../../src/protocol/index.ts';
import { waitFor } from '../../helpers/mscPeer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { SyntheticSfuClient } from '../../helpers/sfuClient.ts';
import { TestClient } from '../../helpers/wsClient.ts';
import { freePortBase, sfuServerEnv } from './sfuTestEnv.ts';

/*
 * The SFU end to end over the real protocol: a real server with a real mediasoup worker, and
 * synthetic WebRTC clients (msc-node on werift) sending real RTP.
 */

describe('SFU over the signaling protocol', () => {
  let server: TestServer;
  const clients: SyntheticSfuClient[] = [];
  const plain: TestClient[] = [];

  const start = async (env: Record<string, string> = {}) => {
    server = await startServer(await sfuServerEnv({ SFU_DOWNGRADE_DELAY_MS: '300', ...env }));
  };
  const media = () => server.media;
  const routers = async () => (await media().pool!.dump()).workers.flatMap((w) => w.routerIds);
  const join = async (roomId: string, peerId: string) => {
    const c = await SyntheticSfuClient.join(server.wsUrl, roomId, peerId);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(plain.splice(0).map((c) => c.close()));
    await server?.close();
  });

  it('keeps 3 peers P2P, moves to the SFU at the 4th, forwards media both ways, and returns to P2P', async () => {
    await start();
    const [a, b] = [await join('grow', 'a'), await join('grow', 'b')];
    expect(await routers()).toEqual([]);
    // One short of the threshold the room is prewarmed (SFU_PREWARM): a router, mode still p2p.
    const c = await join('grow', 'c');
    expect(media().modeOf('grow')).toBe('p2p');
    expect(await routers()).toHaveLength(1);

    const d = await join('grow', 'd');
    const all = [a, b, c, d];
    // The joiner reads the mode from room-joined; the others hear mode-changed.
    expect(d.modes).toEqual(['upgrading']);
    await waitFor(() => [a, b, c].every((x) => x.modes.includes('upgrading')), 'mode-changed upgrading');
    expect(await routers()).toHaveLength(1);
    await Promise.all(all.map((x) => x.sfuStarted()));

    // Every peer produces audio and video, and consumes every other peer's two producers.
    const sfu = media().sfuRoomOf('grow')!;
    await waitFor(() => sfu.getProducers().length === 8, '8 producers');
    for (const x of all) {
      const others = sfu
        .getProducers()
        .filter((p) => p.peerId !== x.peerId)
        .map((p) => p.producerId);
      await waitFor(() => x.receivingFromAll(others, 20), `${x.peerId} receiving from all`, 20_000);
    }
    // Make-before-break: the room is sfu only once every peer reported sfu-ready.
    await waitFor(() => all.every((x) => x.mode === 'sfu'), 'mode-changed sfu');
    expect(media().modeOf('grow')).toBe('sfu');

    // The server counts what it forwarded on each consumer, too.
    const stats = await sfu.getConsumerStats();
    expect(stats).toHaveLength(24);
    for (const s of stats)
      expect(s.packetCount, `${s.peerId} <- ${s.producerPeerId} ${s.kind}`).toBeGreaterThan(0);
    const info = (await server.app.inject({ method: 'GET', url: '/api/rooms/grow' })).json();
    expect(info.connectionMode).toBe('sfu');
    expect(
      info.peers
        .find((p: { peerId: string }) => p.peerId === 'a')
        .producers.map((p: { kind: string; source: string }) => `${p.kind}:${p.source}`)
        .sort(),
    ).toEqual(['audio:mic', 'video:camera']);

    // Down to two: after SFU_DOWNGRADE_DELAY_MS the room goes down (make-before-break) and the router closes.
    const leaving = [c, d];
    await Promise.all(leaving.map((x) => x.close()));
    clients.splice(clients.indexOf(c), 2);
    await waitFor(() => a.mode === 'p2p' && b.mode === 'p2p', 'mode-changed p2p', 10_000);
    expect(a.modes.slice(-2)).toEqual(['downgrading', 'p2p']);
    expect(media().modeOf('grow')).toBe('p2p');
    expect(await routers()).toEqual([]);
  });

  it('leaves no router behind once every peer has left', async () => {
    await start();
    for (const id of ['a', 'b', 'c', 'd']) await join('leak', id);
    await Promise.all(clients.map((x) => x.sfuStarted()));
    expect(await routers()).toHaveLength(1);
    await Promise.all(clients.splice(0).map((x) => x.close()));
    await waitFor(async () => (await routers()).length === 0, 'routers closed');
  });

  it('puts a forced-sfu room on the SFU from the first peer, and keeps a forced-p2p room P2P', async () => {
    await start();
    await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'private', mode: 'sfu' },
    });
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'mesh', mode: 'p2p' } });
    const a = await join('private', 'a');
    expect(a.modes).toEqual(['sfu']);
    const b = await join('private', 'b');
    expect(b.modes).toEqual(['sfu']);
    await Promise.all([a.sfuStarted(), b.sfuStarted()]);
    const sfu = media().sfuRoomOf('private')!;
    await waitFor(() => sfu.getProducers().length === 4, '4 producers');
    const fromB = sfu.getPeerProducers('b').map((p) => p.producerId);
    await waitFor(() => a.receivingFromAll(fromB, 10), 'a receiving b');

    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) await join('mesh', id);
    expect(media().modeOf('mesh')).toBe('p2p');
    expect(clients.filter((x) => x.peerId.startsWith('m')).every((x) => x.mode === 'p2p')).toBe(true);
    expect(await routers()).toHaveLength(1);
  });

  it('GET /api/sfu/capabilities: the capabilities room-joined carries, before any room exists', async () => {
    await start();
    const res = await server.app.inject({ method: 'GET', url: '/api/sfu/capabilities' });
    expect(res.statusCode).toBe(200);
    const { routerRtpCapabilities } = res.json();
    expect(routerRtpCapabilities.codecs.map((c: { mimeType: string }) => c.mimeType)).toEqual(
      expect.arrayContaining(['audio/opus', 'video/VP8']),
    );
    const client = await TestClient.connect(server.wsUrl);
    plain.push(client);
    const joined = await client.join('caps', 'a');
    expect(routerRtpCapabilities).toEqual(joined.routerRtpCapabilities);
  });

  it('sfu-new-producer carries the consumer made for a peer with a recv transport; sfu-consume answers with that one', async () => {
    await start();
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'made', mode: 'sfu' } });
    // A viewer with a recv transport, and one that joined the SFU but made no transport yet.
    const viewer = await TestClient.connect(server.wsUrl);
    const early = await TestClient.connect(server.wsUrl);
    plain.push(viewer, early);
    for (const [client, id] of [
      [viewer, 'viewer'],
      [early, 'early'],
    ] as const) {
      const joined = await client.join('made', id);
      expect(joined.connectionMode).toBe('sfu');
      const sfuJoined = await client.request({
        type: 'sfu-join',
        rtpCapabilities: joined.routerRtpCapabilities,
      });
      expect(sfuJoined.type).toBe('sfu-joined');
    }
    const created = await viewer.request({ type: 'sfu-create-transport', direction: 'recv' });
    expect(created.type).toBe('sfu-transport-created');

    await join('made', 'p'); // produces audio and video
    for (const kind of ['audio', 'video'] as const) {
      const push = await viewer.next('sfu-new-producer', (m) => m.kind === kind, 10_000);
      expect(push.peerId).toBe('p');
      expect(push.consumer?.paused).toBe(true);
      expect(push.consumer?.rtpParameters.codecs.length).toBeGreaterThan(0);
      // A client that ignores the field and asks, as the seed's flow goes: the same consumer.
      const consumed = await viewer.request({ type: 'sfu-consume', producerId: push.producerId });
      expect(consumed).toMatchObject({ type: 'sfu-consumed', consumerId: push.consumer?.consumerId });
      const plainPush = await early.next('sfu-new-producer', (m) => m.producerId === push.producerId);
      expect(plainPush.consumer).toBeUndefined();
    }
    // One consumer per producer for the viewer, none for the peer without a transport.
    const sfu = media().sfuRoomOf('made')!;
    expect(sfu.objectCounts().consumers).toBe(2);
  });

  it('a recv transport asked for with consumeProducers comes with a consumer of every other producer', async () => {
    await start();
    await server.app.inject({
      method: 'POST',
      url: '/api/rooms',
      payload: { roomId: 'premade', mode: 'sfu' },
    });
    await join('premade', 'p'); // produces audio and video
    const sfu = media().sfuRoomOf('premade')!;
    await waitFor(() => sfu.getProducers().length === 2, '2 producers');
    const producers = sfu.getProducers();

    const transportOf = (m: ServerMessage) => {
      if (m.type !== 'sfu-transport-created')
        throw new Error(`expected sfu-transport-created, got ${m.type}`);
      return m;
    };
    const enter = async (id: string) => {
      const client = await TestClient.connect(server.wsUrl);
      plain.push(client);
      const joined = await client.join('premade', id);
      await client.request({ type: 'sfu-join', rtpCapabilities: joined.routerRtpCapabilities });
      return client;
    };
    // The seed's flow: no flag, no consumers; a send transport never has any.
    const seed = await enter('seed');
    const plainRecv = transportOf(await seed.request({ type: 'sfu-create-transport', direction: 'recv' }));
    expect(plainRecv.consumers).toBeUndefined();
    const fast = await enter('fast');
    const send = transportOf(
      await fast.request({ type: 'sfu-create-transport', direction: 'send', consumeProducers: true }),
    );
    expect(send.consumers).toBeUndefined();
    expect(sfu.objectCounts().consumers).toBe(0);

    const recv = transportOf(
      await fast.request({ type: 'sfu-create-transport', direction: 'recv', consumeProducers: true }),
    );
    const made = recv.consumers ?? [];
    expect(made.map((c) => c.producerId).sort()).toEqual(producers.map((p) => p.producerId).sort());
    for (const c of made) {
      expect(c).toMatchObject({ peerId: 'p', paused: true, producerPaused: false });
      expect(c.rtpParameters.codecs.length).toBeGreaterThan(0);
      expect(c.kind).toBe(producers.find((p) => p.producerId === c.producerId)?.kind);
    }
    // Asking as the seed's flow goes still answers with the consumer made, not a second one.
    const video = made.find((c) => c.kind === 'video');
    const consumed = await fast.request({ type: 'sfu-consume', producerId: video?.producerId ?? '' });
    expect(consumed).toMatchObject({ type: 'sfu-consumed', consumerId: video?.consumerId });
    expect(sfu.objectCounts().consumers).toBe(2);
  });

  it('prewarms at SFU_UPGRADE_AT − 1: sfu-prewarm to every peer, released when the room shrinks or idles', async () => {
    await start({ SFU_PREWARM_IDLE_MS: '1000' });
    const clientsOf = async (roomId: string, n: number, first = 0) => {
      const list: TestClient[] = [];
      for (let i = first; i < first + n; i++) {
        const ws = await TestClient.connect(server.wsUrl);
        plain.push(ws);
        await ws.join(roomId, `${roomId}-${i}`);
        list.push(ws);
      }
      return list;
    };
    // Shrinking: three peers, the third's join prewarms; one leaves and it is released.
    const [a, b, c] = await clientsOf('warm', 3);
    for (const ws of [a!, b!, c!]) {
      const push = await ws.next('sfu-prewarm');
      expect(push).toMatchObject({ roomId: 'warm', active: true });
      expect(push.routerRtpCapabilities?.codecs?.length).toBeGreaterThan(0);
    }
    expect(media().modeOf('warm')).toBe('p2p');
    expect(media().sfuRoomOf('warm')).toBeDefined();
    // A prewarmed peer builds its SFU side while the room is P2P: it may join the SFU and produce.
    expect(await a!.request({ type: 'sfu-join', rtpCapabilities: { codecs: [] } })).toMatchObject({
      type: 'sfu-joined',
    });
    await c!.close();
    for (const ws of [a!, b!]) expect(await ws.next('sfu-prewarm')).toMatchObject({ active: false });
    expect(media().sfuRoomOf('warm')).toBeUndefined();
    expect(media().modeOf('warm')).toBe('p2p');

    // Idling: three peers that stay three get the router for SFU_PREWARM_IDLE_MS, then lose it.
    const idle = await clientsOf('idle', 3);
    for (const ws of idle) expect(await ws.next('sfu-prewarm')).toMatchObject({ active: true });
    for (const ws of idle)
      expect(await ws.next('sfu-prewarm', () => true, 3000)).toMatchObject({ active: false });
    expect(media().sfuRoomOf('idle')).toBeUndefined();
    // A fourth peer still takes the room to the SFU, with a new router.
    const [fourth] = await clientsOf('idle', 1, 3);
    expect(media().modeOf('idle')).toBe('upgrading');
    expect(fourth).toBeDefined();
  });

  it('SFU_PREWARM=false: no router before the threshold', async () => {
    await start({ SFU_PREWARM: 'false' });
    for (const id of ['a', 'b', 'c']) await join('cold', id);
    expect(media().modeOf('cold')).toBe('p2p');
    expect(await routers()).toEqual([]);
  });

  it('caps SFU objects per peer: one transport per direction however many are asked for', async () => {
    await start();
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'caps', mode: 'sfu' } });
    const ws = await TestClient.connect(server.wsUrl);
    plain.push(ws);
    await ws.join('caps', 'greedy');
    await ws.request({ type: 'sfu-join', rtpCapabilities: { codecs: [] } });
    // Ten creations of a send transport at once: a session's messages run in order, and each new
    // transport replaces the last of its direction, so the peer never holds more than one.
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => ws.request({ type: 'sfu-create-transport', direction: 'send' })),
    );
    expect(replies.every((r) => r.type === 'sfu-transport-created')).toBe(true);
    expect((await media().sfuRoomOf('caps')!.dump()).transportIds).toHaveLength(1);
    // More, one after another: each replaces the last of its direction.
    for (const direction of ['send', 'recv', 'send', 'recv', 'recv']) {
      expect(await ws.request({ type: 'sfu-create-transport', direction })).toMatchObject({
        type: 'sfu-transport-created',
      });
    }
    const dump = await media().sfuRoomOf('caps')!.dump();
    expect(dump.transportIds).toHaveLength(2);
  });

  it('data channels through the SFU: SCTP on request, a data producer for one peer reaches only that peer', async () => {
    await start();
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'data', mode: 'sfu' } });
    const [a, b, c] = await Promise.all([0, 1, 2].map(() => TestClient.connect(server.wsUrl)));
    plain.push(a!, b!, c!);
    const ids = ['dana', 'dave', 'dora'];
    const transports: Record<string, { send: string; recv: string }> = {};
    for (const [i, ws] of [a!, b!, c!].entries()) {
      await ws.join('data', ids[i]);
      await ws.request({ type: 'sfu-join', rtpCapabilities: { codecs: [] } });
      const send = await ws.request({ type: 'sfu-create-transport', direction: 'send', enableSctp: true });
      const recv = await ws.request({ type: 'sfu-create-transport', direction: 'recv', enableSctp: true });
      expect(send).toMatchObject({ type: 'sfu-transport-created', sctpParameters: { port: 5000 } });
      transports[ids[i]!] = {
        send: (send as { transportId: string }).transportId,
        recv: (recv as { transportId: string }).transportId,
      };
    }
    // Without enableSctp a transport has no SCTP, and no data producer.
    const plainTransport = await a!.request({ type: 'sfu-create-transport', direction: 'send' });
    expect(plainTransport).not.toHaveProperty('sctpParameters');
    const refused = await a!.request({
      type: 'sfu-produce-data',
      transportId: (plainTransport as { transportId: string }).transportId,
      sctpStreamParameters: { streamId: 1, ordered: true },
      label: 'x',
    });
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    const sendA = await a!.request({ type: 'sfu-create-transport', direction: 'send', enableSctp: true });
    transports.dana!.send = (sendA as { transportId: string }).transportId;

    const produced = await a!.request({
      type: 'sfu-produce-data',
      transportId: transports.dana!.send,
      sctpStreamParameters: { streamId: 1, ordered: true },
      label: 'file:f1:0',
      protocol: 'opencall',
      toPeerId: 'dave',
    });
    expect(produced).toMatchObject({ type: 'sfu-data-produced' });
    const dataProducerId = (produced as { dataProducerId: string }).dataProducerId;
    // Dave is told, and consumes it on his SCTP recv transport.
    expect(await b!.next('sfu-new-data-producer')).toMatchObject({
      dataProducerId,
      peerId: 'dana',
      label: 'file:f1:0',
      protocol: 'opencall',
    });
    const consumed = await b!.request({ type: 'sfu-consume-data', dataProducerId });
    expect(consumed).toMatchObject({
      type: 'sfu-data-consumed',
      dataProducerId,
      peerId: 'dana',
      label: 'file:f1:0',
      sctpStreamParameters: { ordered: true },
    });
    // Dora is not told, and may not consume it; nor may Dana consume her own.
    expect(await c!.request({ type: 'sfu-consume-data', dataProducerId })).toMatchObject({
      type: 'error',
      code: 'FORBIDDEN',
    });
    expect(await a!.request({ type: 'sfu-consume-data', dataProducerId })).toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(c!.received.some((m) => m.type === 'sfu-new-data-producer')).toBe(false);
    expect(media().sfuRoomOf('data')!.objectCounts()).toMatchObject({ dataProducers: 1, dataConsumers: 1 });
    // Only its owner closes it; then its consumer is gone and Dave is told.
    expect(await b!.request({ type: 'sfu-close-data-producer', dataProducerId })).toMatchObject({
      code: 'FORBIDDEN',
    });
    expect(await a!.request({ type: 'sfu-close-data-producer', dataProducerId })).toMatchObject({
      type: 'sfu-data-producer-closed',
      dataProducerId,
    });
    expect(await b!.next('sfu-data-consumer-closed')).toMatchObject({ dataProducerId });
    expect(media().sfuRoomOf('data')!.objectCounts()).toMatchObject({ dataProducers: 0, dataConsumers: 0 });

    // file-ack is relayed to its target only, stamped by the server; a forged fromPeerId is refused.
    b!.send({ type: 'file-ack', toPeerId: 'dana', fileId: 'f1', attempt: 0, bytes: 262144 });
    expect(await a!.next('file-ack')).toMatchObject({
      fromPeerId: 'dave',
      toPeerId: 'dana',
      fileId: 'f1',
      attempt: 0,
      bytes: 262144,
    });
    b!.send({ type: 'file-ack', toPeerId: 'dana', fileId: 'f1', attempt: 1, bytes: 9, ok: true });
    expect(await a!.next('file-ack')).toMatchObject({ attempt: 1, bytes: 9, ok: true });
    expect(
      await b!.request({
        type: 'file-ack',
        fromPeerId: 'dora',
        toPeerId: 'dana',
        fileId: 'f1',
        attempt: 0,
        bytes: 1,
      }),
    ).toMatchObject({ type: 'error', code: 'FORBIDDEN' });
    expect(
      await b!.request({ type: 'file-ack', toPeerId: 'nobody', fileId: 'f1', attempt: 0, bytes: 1 }),
    ).toMatchObject({ type: 'error', code: 'PEER_NOT_FOUND' });
    expect(c!.received.some((m) => m.type === 'file-ack')).toBe(false);
  });

  it('refuses malformed dtlsParameters and rtpParameters before they reach the worker', async () => {
    await start();
    await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId: 'bad', mode: 'sfu' } });
    const ws = await TestClient.connect(server.wsUrl);
    plain.push(ws);
    await ws.join('bad', 'evil');
    const pid = media().pool!.getWorkerPids()[0];
    expect(await ws.request({ type: 'sfu-join', rtpCapabilities: { codecs: [] } })).toMatchObject({
      type: 'sfu-joined',
    });
    const transport = await ws.request({ type: 'sfu-create-transport', direction: 'send' });
    expect(transport.type).toBe('sfu-transport-created');
    const transportId = (transport as { transportId: string }).transportId;

    const noFingerprints = await ws.request({
      type: 'sfu-connect-transport',
      transportId,
      dtlsParameters: { role: 'client', fingerprints: [] },
    });
    expect(noFingerprints).toMatchObject({
      type: 'error',
      code: 'INVALID_MESSAGE',
      relatedType: 'sfu-connect-transport',
    });
    const badRtp = await ws.request({
      type: 'sfu-produce',
      transportId,
      kind: 'video',
      rtpParameters: { codecs: [] },
      appData: { source: 'camera' },
    });
    expect(badRtp).toMatchObject({ type: 'error', code: 'INVALID_MESSAGE' });
    // Valid shape, but nonsense mediasoup refuses: an error, not a crash.
    const unknownCodec = await ws.request({
      type: 'sfu-produce',
      transportId,
      kind: 'video',
      rtpParameters: {
        codecs: [{ mimeType: 'video/NOPE', payloadType: 100, clockRate: 90000 }],
        encodings: [{ ssrc: 1 }],
      },
      appData: { source: 'camera' },
    });
    expect(unknownCodec).toMatchObject({ type: 'error', code: 'MEDIA_ERROR' });
    const badCaps = await ws.request({
      type: 'sfu-join',
      rtpCapabilities: { codecs: [{ kind: 'data', mimeType: 'x/y', clockRate: 0 }] },
    });
    expect(badCaps).toMatchObject({ type: 'error', code: 'INVALID_MESSAGE' });
    expect(
      await ws.request({
        type: 'sfu-connect-transport',
        transportId: 'someone-elses',
        dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }] },
      }),
    ).toMatchObject({ code: 'TRANSPORT_NOT_FOUND' });

    // The worker lives on, and the room still works.
    expect(media().pool!.getWorkerPids()[0]).toBe(pid);
    expect(process.kill(pid!, 0)).toBe(true);
    const again = await ws.request({ type: 'sfu-create-transport', direction: 'recv' });
    expect(again.type).toBe('sfu-transport-created');
  });

  it('rebuilds a 4-peer SFU room on a new router when its worker is SIGKILLed: media again within 3 s', async () => {
    await start();
    const all: SyntheticSfuClient[] = [];
    for (const id of ['a', 'b', 'c', 'd']) all.push(await join('fragile', id));
    await waitFor(() => all.every((x) => x.mode === 'sfu'), 'the room on the SFU', 20_000);
    const receivingFromEveryone = () => {
      const sfu = media().sfuRoomOf('fragile');
      if (sfu?.getProducers().length !== 8) return false;
      return all.every((x) =>
        x.receivingFromAll(
          sfu
            .getProducers()
            .filter((p) => p.peerId !== x.peerId)
            .map((p) => p.producerId),
          5,
        ),
      );
    };
    await waitFor(receivingFromEveryone, 'everyone receiving from everyone', 20_000);
    const oldRouter = media().sfuRoomOf('fragile')!.routerId;

    const pool = media().pool!;
    const restarts = all.map((x) => x.ws.next('sfu-restart', () => true, 10_000));
    const killedAt = performance.now();
    pool.killWorkerForTest(0);
    for (const restart of await Promise.all(restarts)) {
      expect(restart).toMatchObject({ roomId: 'fragile', routerRtpCapabilities: expect.any(Object) });
    }
    await waitFor(receivingFromEveryone, 'media through the new router', 10_000, 20);
    const mediaAgainMs = Math.round(performance.now() - killedAt);
    console.log(JSON.stringify({ test: 'worker SIGKILL, 4 peers', mediaAgainMs }));
    expect(mediaAgainMs).toBeLessThan(3000);

    expect(media().sfuRoomOf('fragile')!.routerId).not.toBe(oldRouter);
    expect(media().modeOf('fragile')).toBe('sfu');
    for (const x of all) {
      expect(x.mode).toBe('sfu');
      expect(x.restarts).toBe(1);
      expect(x.errors.map((e) => e.code)).not.toContain('SFU_WORKER_DIED');
    }
    expect((await server.app.inject({ method: 'GET', url: '/ready' })).json()).toMatchObject({
      sfu: { status: 'available', workers: { up: 1, total: 1 } },
    });
  });

  it('leaves rooms on other workers untouched when one worker dies', async () => {
    await start({ MEDIASOUP_NUM_WORKERS: '2', RTC_PORT: String(await freePortBase(2)) });
    for (const roomId of ['on-one', 'on-two']) {
      await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId, mode: 'sfu' } });
    }
    const one = [await join('on-one', 'a1'), await join('on-one', 'b1')];
    const two = [await join('on-two', 'a2'), await join('on-two', 'b2')];
    await Promise.all([...one, ...two].map((x) => x.sfuStarted()));
    const pool = media().pool!;
    // Least-loaded placement put the two rooms on different workers.
    const dump = await pool.dump();
    const idxOne = dump.workers.findIndex((w) => w.routerIds.includes(media().sfuRoomOf('on-one')!.routerId));
    const idxTwo = dump.workers.findIndex((w) => w.routerIds.includes(media().sfuRoomOf('on-two')!.routerId));
    expect(idxOne).not.toBe(idxTwo);
    const routerTwo = media().sfuRoomOf('on-two')!.routerId;
    const restarted = one.map((x) => x.ws.next('sfu-restart', () => true, 10_000));
    pool.killWorkerForTest(idxOne);
    await Promise.all(restarted);
    // The other room kept its router and its peers heard nothing.
    expect(media().sfuRoomOf('on-two')!.routerId).toBe(routerTwo);
    for (const x of two) {
      expect(x.restarts).toBe(0);
      expect(x.ws.received.map((m) => m.type)).not.toContain('sfu-restart');
    }
    const fromB2 = media()
      .sfuRoomOf('on-two')!
      .getPeerProducers('b2')
      .map((p) => p.producerId);
    const before = two[0]!.peer!.receivedFrom(fromB2[0]!);
    await waitFor(
      () => two[0]!.peer!.receivedFrom(fromB2[0]!) > before + 10,
      'media still flowing in the other room',
    );
  });
});
