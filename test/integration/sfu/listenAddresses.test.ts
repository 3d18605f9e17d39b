import { networkInterfaces } from 'node:os';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.ts';
import { usableLocalAddresses } from '../../../workers/ListenPlan.ts';
import { waitFor } from '../../helpers/mscPeer.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { SyntheticSfuClient } from '../../helpers/sfuClient.ts';
import { StunResponder } from '../../helpers/stunResponder.ts';
import { TestClient } from '../../helpers/wsClient.ts';
import { freePortBase } from './sfuTestEnv.ts';

/*
 * Where the workers listen and what clients are told, with real workers: every local address for
 * a wildcard, and ANNOUNCED_IP=auto against a STUN responder this test runs on loopback.
 */

interface Candidate {
  address: string;
  protocol: string;
  port: number;
}

describe('SFU listen addresses', () => {
  let server: TestServer | undefined;
  let stun: StunResponder | undefined;
  const clients: SyntheticSfuClient[] = [];
  const logLines: string[] = [];
  const logger = () =>
    createLogger(
      'info',
      new Writable({
        write(chunk, _enc, done) {
          logLines.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      }),
    );

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    await stun?.close();
    server = undefined;
    stun = undefined;
    logLines.length = 0;
  });

  const ready = async () => (await server!.app.inject({ method: 'GET', url: '/ready' })).json();
  /** The ICE candidates a transport of this server hands a client. */
  const transportCandidates = async (roomId: string): Promise<Candidate[]> => {
    await server!.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId, mode: 'sfu' } });
    const ws = await TestClient.connect(server!.wsUrl);
    try {
      await ws.join(roomId, 'probe');
      await ws.request({ type: 'sfu-join', rtpCapabilities: {} });
      const created = await ws.request({ type: 'sfu-create-transport', direction: 'recv' });
      if (created.type !== 'sfu-transport-created') throw new Error(JSON.stringify(created));
      return created.iceCandidates;
    } finally {
      await ws.close();
    }
  };
  /** Two peers of a forced-sfu room exchange media: the advertised addresses are reachable. */
  const mediaFlows = async (roomId: string) => {
    await server!.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId, mode: 'sfu' } });
    const a = await SyntheticSfuClient.join(server!.wsUrl, roomId, 'a');
    const b = await SyntheticSfuClient.join(server!.wsUrl, roomId, 'b');
    clients.push(a, b);
    const sfu = server!.media.sfuRoomOf(roomId)!;
    await waitFor(() => sfu.getProducers().length === 4, '4 producers');
    const of = (peer: string) => sfu.getPeerProducers(peer).map((p) => p.producerId);
    await waitFor(
      () => a.receivingFromAll(of('b'), 10) && b.receivingFromAll(of('a'), 10),
      'media both ways',
    );
  };

  it('with a wildcard and no ANNOUNCED_IP, listens on and announces every usable local address', async () => {
    const port = await freePortBase(1);
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '1',
      RTC_PORT: String(port),
      HOST: '0.0.0.0',
      STUN_URLS: '',
    });
    const local = usableLocalAddresses(networkInterfaces(), false);
    const body = await ready();
    expect(body.sfu).toMatchObject({ status: 'available', addressSource: 'local-addresses' });
    const announced = body.sfu.announcedAddresses as Candidate[];
    expect(announced.filter((c) => c.protocol === 'udp').map((c) => c.address)).toEqual(local);
    expect(announced.every((c) => c.port === port)).toBe(true);
    expect(announced.map((c) => c.address)).not.toContain('0.0.0.0');
    // Where a non-loopback address exists, clients are given it (Firefox ignores loopback).
    if (local.some((a) => !a.startsWith('127.'))) {
      expect(announced[0]?.address.startsWith('127.')).toBe(false);
    }
    const candidates = await transportCandidates('wild');
    expect(new Set(candidates.map((c) => c.address))).toEqual(new Set(local));
    expect(candidates.every((c) => c.port === port)).toBe(true);
    await mediaFlows('wild-media');
  });

  it('ANNOUNCED_IP=auto: asks the STUN server and announces the public address beside the local one', async () => {
    stun = await StunResponder.start({ mappedAddress: '127.0.0.5' });
    const port = await freePortBase(1);
    server = await startServer(
      {
        SFU_ENABLED: 'true',
        MEDIASOUP_NUM_WORKERS: '1',
        RTC_PORT: String(port),
        ANNOUNCED_IP: 'auto',
        STUN_URLS: stun.url,
      },
      { logger: logger() },
    );
    expect(stun.requests).toBeGreaterThan(0);
    const body = await ready();
    expect(body.sfu.addressSource).toBe('stun');
    expect(body.sfu.announcedAddresses).toEqual([
      { address: '127.0.0.5', protocol: 'udp', port },
      { address: '127.0.0.1', protocol: 'udp', port },
      { address: '127.0.0.5', protocol: 'tcp', port },
      { address: '127.0.0.1', protocol: 'tcp', port },
    ]);
    expect((await transportCandidates('auto')).map((c) => `${c.protocol}:${c.address}:${c.port}`)).toEqual([
      `udp:127.0.0.5:${port}`,
      `udp:127.0.0.1:${port}`,
      `tcp:127.0.0.5:${port}`,
      `tcp:127.0.0.1:${port}`,
    ]);
    expect(logLines.some((l) => l.includes('public address found') && l.includes('127.0.0.5'))).toBe(true);
    // The start-up line lists what clients are given.
    expect(logLines.some((l) => l.includes(`clients will be given 127.0.0.5:${port}/udp`))).toBe(true);
    await mediaFlows('auto-media');
  });

  it('ANNOUNCED_IP=auto with a STUN server that never answers: logs it and falls back to the local addresses', async () => {
    stun = await StunResponder.start({ silent: true });
    const port = await freePortBase(1);
    server = await startServer(
      {
        SFU_ENABLED: 'true',
        MEDIASOUP_NUM_WORKERS: '1',
        RTC_PORT: String(port),
        ANNOUNCED_IP: 'auto',
        STUN_URLS: stun.url,
        STUN_TIMEOUT_MS: '400',
      },
      { logger: logger() },
    );
    expect(stun.requests).toBeGreaterThan(1);
    const body = await ready();
    expect(body.sfu).toMatchObject({
      status: 'available',
      addressSource: 'stun-fallback',
      announcedAddresses: [
        { address: '127.0.0.1', protocol: 'udp', port },
        { address: '127.0.0.1', protocol: 'tcp', port },
      ],
    });
    expect(logLines.some((l) => l.includes('did not answer') && l.includes('"level":40'))).toBe(true);
    await mediaFlows('fallback-media');
  });

  it('reports a busy RTC port as degraded on /ready, and available once the slot comes up', async () => {
    const base = await freePortBase(2);
    const { createSocket } = await import('node:dgram');
    const squatter = createSocket('udp4');
    await new Promise<void>((resolve) => squatter.bind(base + 1, '127.0.0.1', resolve));
    server = await startServer({
      SFU_ENABLED: 'true',
      MEDIASOUP_NUM_WORKERS: '2',
      RTC_PORT: String(base),
      STUN_URLS: '',
    });
    const degraded = await ready();
    expect(degraded.status).toBe('ready');
    expect(degraded.sfu).toMatchObject({
      status: 'degraded',
      workers: { up: 1, total: 2 },
      down: [{ index: 1, port: base + 1, state: 'restarting', reason: expect.stringMatching(/in use/) }],
    });
    await new Promise<void>((resolve) => squatter.close(() => resolve()));
    await waitFor(async () => (await ready()).sfu.status === 'available', '/ready available', 10_000, 100);
    expect((await ready()).sfu).toMatchObject({ workers: { up: 2, total: 2 }, down: [] });
  });
});
