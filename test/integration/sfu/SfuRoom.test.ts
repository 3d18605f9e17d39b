import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProducerInfo } from '../../../src/protocol/index.ts';
import {
  DtlsParameters,
  ProtocolError,
  RtpCapabilities,
  RtpParameters,
} from '../../../src/protocol/index.ts';
import { SfuRoom } from '../../../src/sfu/SfuRoom.ts';
import type { ConsumerRef, ProducerRef, SfuRoomCloseReason } from '../../../src/sfu/SfuRoomTypes.ts';
import { MediaWorkerPool } from '../../../workers/index.ts';
import { MscPeer, type MscSignaling, waitFor } from '../../helpers/mscPeer.ts';
import { freePortBase, nextEvent, sfuTestConfig, testLogger } from './sfuTestEnv.ts';

/**
 * The SfuRoom side of MscSignaling. Like the real WebSocket edge, it runs the client's payloads
 * through the protocol's zod schemas before they reach the room.
 */
function roomSignaling(room: SfuRoom, peerId: string): MscSignaling {
  return {
    join: async (caps) => room.addPeer(peerId, RtpCapabilities.parse(caps)),
    createTransport: (direction) => room.createTransport(peerId, direction),
    connectTransport: (transportId, dtls) =>
      room.connectTransport(peerId, transportId, DtlsParameters.parse(dtls)),
    produce: ({ transportId, kind, rtpParameters, source, paused }) =>
      room.produce(peerId, transportId, kind, RtpParameters.parse(rtpParameters), source, paused),
    consume: (producerId, caps) => room.consume(peerId, producerId, RtpCapabilities.parse(caps)),
    resumeConsumer: async (consumerId) => {
      await room.resumeConsumer(peerId, consumerId);
    },
  };
}

/** Records every room event, so a test can wait for counts instead of sleeping. */
function recordEvents(room: SfuRoom) {
  const log = {
    newproducer: [] as ProducerInfo[],
    producerclosed: [] as ProducerRef[],
    producerpaused: [] as ProducerRef[],
    producerresumed: [] as ProducerRef[],
    consumerclosed: [] as ConsumerRef[],
    consumerpaused: [] as ConsumerRef[],
    consumerresumed: [] as ConsumerRef[],
    close: [] as SfuRoomCloseReason[],
  };
  room.on('newproducer', (e) => log.newproducer.push(e));
  room.on('producerclosed', (e) => log.producerclosed.push(e));
  room.on('producerpaused', (e) => log.producerpaused.push(e));
  room.on('producerresumed', (e) => log.producerresumed.push(e));
  room.on('consumerclosed', (e) => log.consumerclosed.push(e));
  room.on('consumerpaused', (e) => log.consumerpaused.push(e));
  room.on('consumerresumed', (e) => log.consumerresumed.push(e));
  room.on('close', (e) => log.close.push(e));
  return log;
}

async function expectProtocolError(promise: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ProtocolError ${code}`).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
}

describe('SfuRoom with four msc-node peers on a real worker', () => {
  const PEERS = ['alice', 'bob', 'carol', 'dave'];
  let pool: MediaWorkerPool;
  let room: SfuRoom;
  let events: ReturnType<typeof recordEvents>;
  const peers = new Map<string, MscPeer>();
  const peer = (id: string) => {
    const p = peers.get(id);
    if (!p) throw new Error(`no peer ${id}`);
    return p;
  };
  /** producer id by `${peerId}:${kind}` */
  const producerOf = new Map<string, string>();

  beforeAll(async () => {
    const basePort = await freePortBase(1);
    pool = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 1, rtcPort: basePort }), testLogger());
    if (!pool.available) throw new Error(`worker pool unavailable: ${pool.unavailableReason}`);
    room = await SfuRoom.create({ roomId: 'room-1', pool, sfuConfig: sfuTestConfig(), logger: testLogger() });
    events = recordEvents(room);
  });

  afterAll(() => {
    for (const p of peers.values()) p.close();
    room?.close();
    pool?.close();
  });

  it('every peer produces audio+video and receives every other peer, counted by server and clients', async () => {
    for (const id of PEERS) {
      const p = await MscPeer.create({
        peerId: id,
        routerRtpCapabilities: room.rtpCapabilities,
        signaling: roomSignaling(room, id),
      });
      peers.set(id, p);
      const existing = await p.join();
      // A newcomer is told about the producers already there.
      expect(existing.map((e) => e.peerId).sort()).toEqual(
        [...peers.keys()]
          .filter((other) => other !== id)
          .flatMap((other) => [other, other])
          .sort(),
      );
      for (const kind of ['audio', 'video'] as const) {
        const stream = await p.produce(kind);
        producerOf.set(`${id}:${kind}`, stream.producerId);
      }
    }
    expect(events.newproducer).toHaveLength(8);
    expect(room.getProducers()).toHaveLength(8);
    expect(
      room
        .getPeerProducers('alice')
        .map((p) => p.source)
        .sort(),
    ).toEqual(['camera', 'mic']);

    for (const id of PEERS) {
      for (const info of room.getProducers().filter((p) => p.peerId !== id)) {
        await peer(id).consume(info.producerId);
      }
    }

    // Every client hears and sees every other client.
    await waitFor(
      () =>
        PEERS.every((id) =>
          [...peer(id).received.values()].every((s) =>
            s.kind === 'audio' ? s.packets >= 25 : s.packets >= 8,
          ),
        ),
      'every consumer to receive media',
      20_000,
    );
    for (const id of PEERS) {
      const received = [...peer(id).received.values()];
      expect(received).toHaveLength(6);
      for (const stream of received.filter((s) => s.kind === 'video')) {
        expect(stream.keyframes, 'the first video packet forwarded is a keyframe').toBeGreaterThanOrEqual(1);
      }
    }

    // The router counted the same flows.
    const stats = await room.getConsumerStats();
    expect(stats).toHaveLength(24);
    for (const s of stats) {
      expect(s.packetCount, `${s.peerId} <- ${s.producerPeerId} ${s.kind}`).toBeGreaterThan(0);
      expect(s.byteCount).toBeGreaterThan(s.packetCount * 12);
      expect(s.paused).toBe(false);
      const client = peer(s.peerId).received.get(s.producerId);
      expect(client?.consumerId).toBe(s.consumerId);
      // What the client got came through this consumer; it cannot exceed what the router sent
      // by more than what arrived between the two reads.
      expect(client?.packets ?? 0).toBeGreaterThan(0);
    }
    const producerStats = await room.getProducerStats();
    expect(producerStats).toHaveLength(8);
    for (const s of producerStats) expect(s.packetCount).toBeGreaterThan(0);
  });

  it('pausing and resuming a producer emits producer and per-consumer events, and media stops/starts', async () => {
    const videoId = producerOf.get('alice:video') ?? '';
    await room.pauseProducer('alice', videoId);
    expect(events.producerpaused).toEqual([{ producerId: videoId, peerId: 'alice' }]);
    await waitFor(() => events.consumerpaused.length === 3, 'three consumerpaused events');
    expect(events.consumerpaused.map((e) => e.peerId).sort()).toEqual(['bob', 'carol', 'dave']);
    for (const e of events.consumerpaused) {
      expect(e.producerId).toBe(videoId);
      expect(e.consumerId).toBe(peer(e.peerId).received.get(videoId)?.consumerId);
    }
    expect(room.getProducers().find((p) => p.producerId === videoId)?.paused).toBe(true);
    const pausedStats = (await room.getConsumerStats()).filter((s) => s.producerId === videoId);
    expect(pausedStats.every((s) => s.producerPaused)).toBe(true);

    // While paused nothing flows: let bob receive 10 more audio packets from alice (200 ms of
    // media) and check the video count stood still (packets in flight tolerated).
    const audioId = producerOf.get('alice:audio') ?? '';
    const before = peer('bob').receivedFrom(videoId);
    const audioBefore = peer('bob').receivedFrom(audioId);
    await waitFor(() => peer('bob').receivedFrom(audioId) >= audioBefore + 10, 'alice audio to keep flowing');
    expect(peer('bob').receivedFrom(videoId)).toBeLessThanOrEqual(before + 2);

    await room.resumeProducer('alice', videoId);
    expect(events.producerresumed).toEqual([{ producerId: videoId, peerId: 'alice' }]);
    await waitFor(() => events.consumerresumed.length === 3, 'three consumerresumed events');
    await waitFor(() => peer('bob').receivedFrom(videoId) >= before + 5, 'video to flow again');
  });

  it('closing a producer emits producerclosed and consumerclosed for each consumer', async () => {
    const audioId = producerOf.get('alice:audio') ?? '';
    room.closeProducer('alice', audioId);
    expect(events.producerclosed).toEqual([{ producerId: audioId, peerId: 'alice' }]);
    await waitFor(() => events.consumerclosed.length === 3, 'three consumerclosed events');
    expect(events.consumerclosed.map((e) => e.peerId).sort()).toEqual(['bob', 'carol', 'dave']);
    expect(events.consumerclosed.every((e) => e.producerId === audioId)).toBe(true);
    expect(room.getProducers().map((p) => p.producerId)).not.toContain(audioId);
    const dump = await room.dump();
    expect(dump.mapProducerIdConsumerIds.map((e) => e.key)).not.toContain(audioId);
    await expectProtocolError(room.consume('bob', audioId), 'PRODUCER_NOT_FOUND');
    await expectProtocolError(() => room.closeProducer('alice', audioId), 'PRODUCER_NOT_FOUND');
  });

  it('a peer touches only its own transports, producers and consumers', async () => {
    const aliceVideo = producerOf.get('alice:video') ?? '';
    const bobConsumer = peer('bob').received.get(aliceVideo)?.consumerId ?? '';
    const aliceSend = peer('alice').sendTransport?.id ?? '';

    await expectProtocolError(room.pauseProducer('bob', aliceVideo), 'FORBIDDEN');
    await expectProtocolError(() => room.closeProducer('bob', aliceVideo), 'FORBIDDEN');
    await expectProtocolError(room.pauseProducer('bob', 'no-such-producer'), 'PRODUCER_NOT_FOUND');
    await expectProtocolError(room.resumeConsumer('carol', bobConsumer), 'FORBIDDEN');
    await expectProtocolError(room.resumeConsumer('carol', 'no-such-consumer'), 'CONSUMER_NOT_FOUND');
    await expectProtocolError(room.restartIce('bob', aliceSend), 'FORBIDDEN');
    await expectProtocolError(room.restartIce('bob', 'no-such-transport'), 'TRANSPORT_NOT_FOUND');
    await expectProtocolError(room.consume('alice', aliceVideo), 'FORBIDDEN');
    await expectProtocolError(room.createTransport('mallory', 'send'), 'PEER_NOT_FOUND');

    // Producing on a recv transport, or a source of the wrong kind, is refused before mediasoup.
    const bobRecv = peer('bob').recvTransport?.id ?? '';
    const rtp = RtpParameters.parse(peer('bob').produced.values().next().value?.producer.rtpParameters);
    await expectProtocolError(room.produce('bob', bobRecv, 'audio', rtp, 'mic'), 'FORBIDDEN');
    const bobSend = peer('bob').sendTransport?.id ?? '';
    await expectProtocolError(room.produce('bob', bobSend, 'audio', rtp, 'camera'), 'INVALID_MESSAGE');
    await expectProtocolError(room.produce('bob', bobSend, 'audio', rtp, 'mic'), 'FORBIDDEN');

    // Capabilities without VP8: the router cannot send that producer to this peer.
    const audioOnly = RtpCapabilities.parse({
      codecs: peer('bob').rtpCapabilities.codecs?.filter((c) => c.kind === 'audio'),
      headerExtensions: peer('bob').rtpCapabilities.headerExtensions,
    });
    await expectProtocolError(
      room.consume('bob', producerOf.get('carol:video') ?? '', audioOnly),
      'CANNOT_CONSUME',
    );
    // The same for a peer that joined with them and has no consumer of that producer yet (the
    // check mediasoup's consume() makes), and it may still consume what its capabilities fit.
    room.addPeer('erin', audioOnly);
    await room.createTransport('erin', 'recv');
    await expectProtocolError(room.consume('erin', producerOf.get('carol:video') ?? ''), 'CANNOT_CONSUME');
    await expect(room.consume('erin', producerOf.get('carol:audio') ?? '')).resolves.toMatchObject({
      kind: 'audio',
    });
    room.removePeer('erin');

    // A consumer may be paused and resumed by its owner.
    await room.pauseConsumer('bob', bobConsumer);
    await room.resumeConsumer('bob', bobConsumer);
    // ICE restart hands out new credentials.
    const ice = await room.restartIce('alice', aliceSend);
    expect(ice.usernameFragment).toEqual(expect.any(String));
  });

  it('malformed DTLS parameters and double connects become ProtocolErrors; the worker lives on', async () => {
    const pidBefore = pool.getWorkerPids()[0];
    // A transport nobody connects yet.
    const fresh = await room.createTransport('carol', 'send');
    const carolOld = peer('carol').sendTransport?.id ?? '';
    // It replaced carol's previous send transport (one per direction): her producers closed.
    await waitFor(() => events.producerclosed.some((e) => e.peerId === 'carol'), 'carol producers closed');
    await expectProtocolError(room.restartIce('carol', carolOld), 'TRANSPORT_NOT_FOUND');

    // Shapes the schema would refuse, as if a buggy edge let them through.
    const noFingerprints = { role: 'client', fingerprints: [] } as unknown as DtlsParameters;
    await expectProtocolError(
      room.connectTransport('carol', fresh.transportId, noFingerprints),
      'MEDIA_ERROR',
    );
    const badAlgorithm = {
      role: 'client',
      fingerprints: [{ algorithm: 'md5', value: 'AA:BB' }],
    } as unknown as DtlsParameters;
    await expectProtocolError(room.connectTransport('carol', fresh.transportId, badAlgorithm), 'MEDIA_ERROR');
    const badRole = { role: 'leader', fingerprints: [{ algorithm: 'sha-256', value: 'AA:BB' }] };
    await expectProtocolError(
      room.connectTransport('carol', fresh.transportId, badRole as unknown as DtlsParameters),
      'MEDIA_ERROR',
    );

    // A fingerprint that passes the schema but is far too short for sha-256: mediasoup accepts
    // it (the handshake would fail later); a second connect is refused.
    const short = DtlsParameters.parse({
      role: 'client',
      fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD' }],
    });
    await room.connectTransport('carol', fresh.transportId, short);
    await expectProtocolError(room.connectTransport('carol', fresh.transportId, short), 'MEDIA_ERROR');
    // Connecting a live, already connected transport again is refused too.
    const bobSend = peer('bob').sendTransport?.id ?? '';
    await expectProtocolError(room.connectTransport('bob', bobSend, short), 'MEDIA_ERROR');

    expect(pool.getWorkerPids()[0]).toBe(pidBefore);
    expect((await pool.dump()).workers[0]?.state).toBe('running');
    // Media keeps flowing for the others.
    const bobVideo = producerOf.get('bob:video') ?? '';
    const seen = peer('alice').receivedFrom(bobVideo);
    await waitFor(() => peer('alice').receivedFrom(bobVideo) > seen + 3, 'bob video still reaching alice');
  });

  it('a consumer asked for twice at once (the server made it as the client asked) is made once', async () => {
    const camera = await peer('alice').produce('video', 'screen');
    try {
      const before = room.objectCounts().consumers;
      expect(room.hasRecvTransport('bob')).toBe(true);
      expect(room.hasRecvTransport('nobody')).toBe(false);
      expect(room.hasProducer(camera.producerId)).toBe(true);
      const [first, second] = await Promise.all([
        room.consume('bob', camera.producerId),
        room.consume('bob', camera.producerId),
      ]);
      expect(second.consumerId).toBe(first.consumerId);
      expect(room.objectCounts().consumers).toBe(before + 1);
      // And once it exists, asked again: still the same.
      expect((await room.consume('bob', camera.producerId)).consumerId).toBe(first.consumerId);
    } finally {
      room.closeProducer('alice', camera.producerId);
    }
    expect(room.hasProducer(camera.producerId)).toBe(false);
  });

  it('the new consumers of one video producer start together, each on a key frame', async () => {
    // Alice shares her screen; bob, carol and dave all consume it, then ask to resume one after
    // the other (bob once every consumer exists, carol a worker round trip after bob asked, dave
    // one after carol), as browsers do at different speeds. The first resumes wait for the others (FirstResumes): none
    // completes before the last one was asked, and all start on the same key frame.
    const screen = await peer('alice').produce('video', 'screen');
    const viewers = ['bob', 'carol', 'dave'];
    const log: string[] = [];
    let consumed = 0;
    const deferred = () => {
      let resolve = () => {};
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      return { promise, resolve };
    };
    const allConsumed = deferred();
    const asked = new Map(viewers.map((id) => [id, deferred()]));
    const originals = viewers.map((id, i) => {
      const signaling = peer(id).signaling;
      const { consume, resumeConsumer } = signaling;
      signaling.consume = async (producerId, caps) => {
        const params = await consume(producerId, caps);
        if (++consumed === viewers.length) allConsumed.resolve();
        return params;
      };
      signaling.resumeConsumer = async (consumerId) => {
        if (i === 0) await allConsumed.promise;
        else {
          await asked.get(viewers[i - 1] as string)?.promise;
          // One worker round trip after the previous resume: had it gone to the worker, it
          // would be done by now.
          await room.dump();
        }
        log.push(`asked ${id}`);
        asked.get(id)?.resolve();
        await resumeConsumer(consumerId);
        log.push(`resumed ${id}`);
      };
      return () => {
        signaling.consume = consume;
        signaling.resumeConsumer = resumeConsumer;
      };
    });
    try {
      const streams = await Promise.all(viewers.map((id) => peer(id).consume(screen.producerId)));
      expect(log.slice(0, 3)).toEqual(['asked bob', 'asked carol', 'asked dave']);
      expect(log.slice(3).sort()).toEqual(['resumed bob', 'resumed carol', 'resumed dave']);
      await waitFor(
        () => streams.every((stream) => stream.keyframes >= 1 && stream.packets >= 8),
        'each viewer to receive the screen from a key frame on',
        10_000,
      );
    } finally {
      for (const restore of originals) restore();
      room.closeProducer('alice', screen.producerId);
    }
  });

  it('removePeer closes the peer transports, producers and the consumers of its producers', async () => {
    const dave = peer('dave');
    const daveTransports = [dave.sendTransport?.id, dave.recvTransport?.id];
    const daveProducers = room.getPeerProducers('dave').map((p) => p.producerId);
    expect(daveProducers).toHaveLength(2);
    const closedBefore = events.consumerclosed.length;
    const producerClosedBefore = events.producerclosed.length;

    expect(room.removePeer('dave')).toBe(true);
    expect(room.removePeer('dave')).toBe(false);
    expect(room.hasPeer('dave')).toBe(false);
    expect(room.getPeerProducers('dave')).toEqual([]);
    expect(
      events.producerclosed
        .slice(producerClosedBefore)
        .map((e) => e.producerId)
        .sort(),
    ).toEqual([...daveProducers].sort());
    // alice and bob consumed both of dave's producers (carol's recv transport still runs too).
    await waitFor(
      () =>
        events.consumerclosed.slice(closedBefore).filter((e) => daveProducers.includes(e.producerId))
          .length === 6,
      'consumerclosed for every consumer of dave',
    );
    // dave's own consumers die silently: he is gone.
    expect(events.consumerclosed.slice(closedBefore).some((e) => e.peerId === 'dave')).toBe(false);
    const dump = await room.dump();
    for (const id of daveTransports) expect(dump.transportIds).not.toContain(id);
    for (const id of daveProducers) expect(dump.mapProducerIdConsumerIds.map((e) => e.key)).not.toContain(id);
    await expectProtocolError(room.createTransport('dave', 'recv'), 'PEER_NOT_FOUND');
    dave.close();
  });

  it('after every peer leaves and the room closes, the worker holds no router', async () => {
    for (const id of ['alice', 'bob', 'carol']) room.removePeer(id);
    expect((await room.dump()).transportIds).toEqual([]);
    const closed = nextEvent<SfuRoomCloseReason>(room, 'close');
    room.close();
    expect(await closed).toBe('closed');
    expect(room.closed).toBe(true);
    await expectProtocolError(() => room.addPeer('late', {}), 'SFU_NOT_ACTIVE');
    const dump = await pool.dump();
    expect(dump.workers.map((w) => w.routerIds)).toEqual([[]]);
    for (const p of peers.values()) p.close();
  });
});

describe('SfuRoom and its worker', () => {
  it('closes with reason worker-closed when its worker dies; the pool replaces the worker', async () => {
    const basePort = await freePortBase(1);
    const pool = await MediaWorkerPool.create(
      sfuTestConfig({ numWorkers: 1, rtcPort: basePort }),
      testLogger(),
    );
    const room = await SfuRoom.create({
      roomId: 'doomed',
      pool,
      sfuConfig: sfuTestConfig(),
      logger: testLogger(),
    });
    room.addPeer('p1', {});
    await room.createTransport('p1', 'send');
    const events = recordEvents(room);
    const replaced = nextEvent(pool, 'workerreplaced');
    const closed = nextEvent<SfuRoomCloseReason>(room, 'close');
    // A request in flight when the worker dies settles (either way) instead of crashing anything.
    const inflight = room.createTransport('p1', 'recv').then(
      () => 'ok',
      (e: ProtocolError) => e.code,
    );
    pool.killWorkerForTest(0);
    expect(await closed).toBe('worker-closed');
    expect(['ok', 'SFU_NOT_ACTIVE']).toContain(await inflight);
    expect(events.producerclosed).toEqual([]);
    await expectProtocolError(room.createTransport('p1', 'recv'), 'SFU_NOT_ACTIVE');
    await replaced;
    // A new room lands on the replacement worker.
    const next = await SfuRoom.create({
      roomId: 'next',
      pool,
      sfuConfig: sfuTestConfig(),
      logger: testLogger(),
    });
    next.addPeer('p1', {});
    const transport = await next.createTransport('p1', 'recv');
    expect(transport.iceCandidates.map((c) => c.port)).toContain(basePort);
    next.close();
    pool.close();
  });

  it('in port-range mode uses per-transport ports from the range and no WebRtcServer', async () => {
    const base = await freePortBase(20);
    const config = sfuTestConfig({ numWorkers: 1, rtcPortRange: { min: base, max: base + 19 } });
    const pool = await MediaWorkerPool.create(config, testLogger());
    expect(pool.usesWebRtcServer).toBe(false);
    const room = await SfuRoom.create({ roomId: 'ranged', pool, sfuConfig: config, logger: testLogger() });
    room.addPeer('p1', {});
    const send = await room.createTransport('p1', 'send');
    const recv = await room.createTransport('p1', 'recv');
    for (const c of [...send.iceCandidates, ...recv.iceCandidates]) {
      expect(c.port).toBeGreaterThanOrEqual(base);
      expect(c.port).toBeLessThanOrEqual(base + 19);
      expect(c.address).toBe('127.0.0.1');
    }
    expect(new Set(send.iceCandidates.map((c) => c.port))).not.toEqual(
      new Set(recv.iceCandidates.map((c) => c.port)),
    );
    expect((await pool.dump()).workers[0]?.webRtcServerIds).toEqual([]);
    room.close();
    pool.close();
  });

  it('SfuRoom.create rejects with SFU_UNAVAILABLE when the pool has no worker', async () => {
    const pool = await MediaWorkerPool.create(sfuTestConfig({ numWorkers: 1 }), testLogger(), {
      workerBin: '/nonexistent/mediasoup-worker',
    });
    await expectProtocolError(
      SfuRoom.create({ roomId: 'x', pool, sfuConfig: sfuTestConfig(), logger: testLogger() }),
      'SFU_UNAVAILABLE',
    );
    pool.close();
  });
});
