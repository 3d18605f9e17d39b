import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logger.ts';
import { startServer, type TestServer } from '../../helpers/server.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/*
 * The per-connection bounds, over real sockets: what may queue for a slow reader, the message rate
 * (one RATE_LIMITED, then silence, then 1008), the time to join, and how loudly a client's
 * mistakes are logged.
 */

let server: TestServer;
const clients: TestClient[] = [];
const connect = async () => {
  const c = await TestClient.connect(server.wsUrl);
  clients.push(c);
  return c;
};
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
});

/** The server's end of the connection opened last. */
const lastServerSocket = () => {
  const socket = server.app.signalingSockets().at(-1);
  if (!socket) throw new Error('no connection');
  return socket;
};

describe('backpressure (WS_MAX_BUFFERED_BYTES)', () => {
  it('closes a peer that does not read with 1008 SLOW_CONSUMER; the room sees it leave', async () => {
    server = await startServer({ WS_MAX_BUFFERED_BYTES: String(256 * 1024), RESUME_WINDOW_MS: '0' });
    const attacker = await connect();
    const victim = await connect();
    const victimOnServer = lastServerSocket();
    await attacker.join('slow', 'attacker');
    await victim.join('slow', 'victim');
    await attacker.next('peer-joined');
    // The victim stops reading: TCP fills, then the server's queue for it.
    const raw = (victim.ws as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    const sdp = 'x'.repeat(60_000);
    let maxQueued = 0;
    const left = attacker.next('peer-left', (m) => m.peerId === 'victim', 20_000);
    let stop = false;
    void left.finally(() => {
      stop = true;
    });
    while (!stop) {
      attacker.send({ type: 'offer', toPeerId: 'victim', offer: { type: 'offer', sdp } });
      maxQueued = Math.max(maxQueued, victimOnServer.bufferedAmount);
      await new Promise((r) => setImmediate(r));
    }
    expect(await left).toMatchObject({ roomId: 'slow' });
    // Never more queued than the bound plus the frame that crossed it (and the error frame).
    expect(maxQueued).toBeLessThan(256 * 1024 + 2 * 61_000);
    raw.resume();
    const closed = await victim.closed;
    expect(closed.code).toBe(1008);
    expect(victim.received.find((m) => m.type === 'error')).toMatchObject({ code: 'SLOW_CONSUMER' });
  });
});

describe('message rate (WS_RATE_LIMIT_PER_S, WS_ABUSE_CLOSE_MS)', () => {
  it('answers the first excess once, drops the rest, and closes a sustained flood with 1008', async () => {
    server = await startServer({
      WS_RATE_LIMIT_PER_S: '20',
      WS_RATE_LIMIT_BURST: '20',
      WS_ABUSE_CLOSE_MS: '400',
    });
    const flooder = await connect();
    const calm = await connect();
    const flood = setInterval(() => {
      for (let i = 0; i < 10; i++) flooder.send({ type: 'ping', requestId: `f${i}` });
    }, 5);
    try {
      const closed = await flooder.closed;
      expect(closed.code).toBe(1008);
    } finally {
      clearInterval(flood);
    }
    const errors = flooder.received.filter((m) => m.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'RATE_LIMITED', requestId: expect.stringMatching(/^f\d$/) });
    // Pongs for the burst and the refill only: far fewer than the messages sent.
    expect(flooder.received.filter((m) => m.type === 'pong').length).toBeLessThan(60);
    // Others were never limited.
    expect(await calm.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });
});

describe('JOIN_TIMEOUT_MS', () => {
  it('closes a socket that joins no room in time, and again after it leaves one', async () => {
    server = await startServer({ JOIN_TIMEOUT_MS: '300' });
    const idle = await connect();
    const joiner = await connect();
    await joiner.join('t', 'j');
    const leaver = await connect();
    await leaver.join('t', 'l');
    await leaver.request({ type: 'leave-room' });
    expect((await idle.closed).code).toBe(1008);
    expect((await leaver.closed).code).toBe(1008);
    // The joined socket outlived both deadlines.
    expect(await joiner.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });
});

describe('logs of client mistakes', () => {
  it('are debug, with at most one warn per connection per minute, and never a stack', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    server = await startServer({ LOG_LEVEL: 'debug' }, { logger: createLogger('debug', sink) });
    const c = await connect();
    for (let i = 0; i < 5; i++) c.send('{not json');
    for (let i = 0; i < 5; i++) c.send({ type: 'no-such-type' });
    for (let i = 0; i < 10; i++) await c.nextAny((m) => m.type === 'error');
    const mistakes = lines.filter((l) => String(l.msg).startsWith('client mistake'));
    expect(mistakes).toHaveLength(10);
    expect(mistakes.filter((l) => l.level === 40)).toHaveLength(1);
    expect(mistakes.filter((l) => l.level === 20)).toHaveLength(9);
    expect(JSON.stringify(lines)).not.toMatch(/"stack"/);
  });
});

describe('read shaping (WS_READ_BYTES_PER_S)', () => {
  it('stops reading a socket that sends more bytes than its budget, then reads on', async () => {
    server = await startServer({ WS_READ_BYTES_PER_S: '16384' });
    const c = await connect();
    const onServer = lastServerSocket();
    // 4 s of budget (64 KiB) at once is fine; the third 30 KB frame overdraws it.
    const big = JSON.stringify({ type: 'ping', pad: 'x'.repeat(30_000) });
    for (let i = 0; i < 2; i++) {
      c.send(big);
      await c.nextAny(() => true);
      expect(onServer.isPaused).toBe(false);
    }
    c.send(big);
    await c.nextAny(() => true);
    expect(onServer.isPaused).toBe(true);
    // Nothing is lost: once the budget refills, the server reads and answers what waited.
    expect(await c.request({ type: 'ping' })).toMatchObject({ type: 'pong' });
  });
});
