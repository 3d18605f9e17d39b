import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadDevice } from '../../src/client/deviceCache.ts';
import { OpenCallClient } from '../../src/client/OpenCallClient.ts';
import { Signaling } from '../../src/client/Signaling.ts';
import type { OpenCallError } from '../../src/client/types.ts';

/** mediasoup-client's Device needs a browser; this one loads at once and has no codecs. */
vi.mock('mediasoup-client', () => ({
  Device: class {
    loaded = false;
    recvRtpCapabilities = { codecs: [], headerExtensions: [] };
    async load() {
      this.loaded = true;
    }
  },
}));

/*
 * The SDK against a scripted fake server: FakeSocket stands in for the browser WebSocket, and
 * minimal MediaStream / RTCPeerConnection stubs let the P2P mesh be created without media.
 */

type Sent = Record<string, unknown> & { type: string; requestId?: string };

class FakeSocket {
  static all: FakeSocket[] = [];
  static autoOpen = true;
  readyState = 0;
  url: string;
  sent: Sent[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;

  constructor(url: string) {
    this.url = url;
    FakeSocket.all.push(this);
    if (FakeSocket.autoOpen) queueMicrotask(() => this.open());
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Sent);
  }

  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  /** Server -> client. */
  push(message: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify({ timestamp: Date.now(), ...message }) });
  }

  /** The network drops (the server did not close it). */
  drop(): void {
    this.readyState = 3;
    this.onclose?.({ code: 1006, reason: '' });
  }

  lastOf(type: string): Sent | undefined {
    return [...this.sent].reverse().find((m) => m.type === type);
  }
}

class FakeMediaStream {
  static n = 0;
  id = `stream-${++FakeMediaStream.n}`;
  #tracks: unknown[];
  constructor(tracks: unknown[] = []) {
    this.#tracks = [...tracks];
  }
  getTracks() {
    return this.#tracks;
  }
  getAudioTracks() {
    return this.#tracks.filter((t) => (t as { kind: string }).kind === 'audio');
  }
  getVideoTracks() {
    return this.#tracks.filter((t) => (t as { kind: string }).kind === 'video');
  }
}

class FakePeerConnection {
  static open = 0;
  connectionState = 'new';
  signalingState = 'stable';
  remoteDescription = null;
  onnegotiationneeded = null;
  onicecandidate = null;
  onconnectionstatechange = null;
  onsignalingstatechange = null;
  ontrack = null;
  constructor() {
    FakePeerConnection.open++;
  }
  createDataChannel() {
    return { close() {} };
  }
  addTransceiver() {
    return {
      sender: {},
      receiver: { track: { kind: 'audio' } },
      direction: 'sendonly',
      currentDirection: null,
    };
  }
  close() {
    FakePeerConnection.open--;
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const until = async (cond: () => boolean, ms = 1000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
};

function newClient(extra: ConstructorParameters<typeof OpenCallClient>[0] = {}) {
  return new OpenCallClient({
    WebSocket: FakeSocket as unknown as typeof WebSocket,
    keepaliveIntervalMs: 0,
    reconnect: { baseDelayMs: 5, maxDelayMs: 20 },
    politeOfferDelayMs: 10_000,
    ...extra,
  });
}

/** Connects and answers the join with the given room-joined fields. */
async function joinRoom(client: OpenCallClient, joined: Record<string, unknown> = {}) {
  const connecting = client.connect('ws://fake/ws', { roomId: 'r1', displayName: 'Me' });
  await until(() => FakeSocket.all.at(-1)?.lastOf('join-room') !== undefined);
  const socket = FakeSocket.all.at(-1) as FakeSocket;
  const join = socket.lastOf('join-room') as Sent;
  socket.push({
    type: 'room-joined',
    requestId: join.requestId,
    roomId: 'r1',
    peerId: 'me-1',
    peers: [],
    iceServers: [],
    connectionMode: 'p2p',
    ...joined,
  });
  const info = await connecting;
  return { socket, join, info };
}

beforeEach(() => {
  FakeSocket.all = [];
  FakeSocket.autoOpen = true;
  FakePeerConnection.open = 0;
  vi.stubGlobal('MediaStream', FakeMediaStream);
  vi.stubGlobal('RTCPeerConnection', FakePeerConnection);
});

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('Signaling', () => {
  it('matches replies by requestId and rejects errors that echo it', async () => {
    const pushes: unknown[] = [];
    const sig = new Signaling(
      { onMessage: (m) => pushes.push(m), onClose: () => undefined },
      { requestTimeoutMs: 1000, WebSocket: FakeSocket as unknown as typeof WebSocket },
    );
    await sig.open('ws://x');
    const socket = FakeSocket.all[0] as FakeSocket;
    const a = sig.request({ type: 'sfu-create-transport', direction: 'send' }, 'sfu-transport-created');
    const b = sig.request({ type: 'sfu-create-transport', direction: 'recv' }, 'sfu-transport-created');
    const [ma, mb] = socket.sent;
    expect(ma?.requestId).not.toBe(mb?.requestId);
    socket.push({ type: 'sfu-transport-created', requestId: mb?.requestId, transportId: 'B' });
    socket.push({ type: 'error', code: 'SFU_NOT_ACTIVE', error: 'nope', requestId: ma?.requestId });
    await expect(b).resolves.toMatchObject({ transportId: 'B' });
    await expect(a).rejects.toMatchObject({ code: 'SFU_NOT_ACTIVE', message: 'nope' });
    expect(pushes).toEqual([]);
  });

  it('falls back to the reply type when the server forgets the requestId (reply-only types)', async () => {
    const pushes: Array<{ type: string }> = [];
    const sig = new Signaling(
      { onMessage: (m) => pushes.push(m), onClose: () => undefined },
      { requestTimeoutMs: 1000, WebSocket: FakeSocket as unknown as typeof WebSocket },
    );
    await sig.open('ws://x');
    const socket = FakeSocket.all[0] as FakeSocket;
    const p = sig.request({ type: 'sfu-consume', producerId: 'p' }, 'sfu-consumed');
    const r = sig.request({ type: 'sfu-resume-consumer', consumerId: 'c' }, 'sfu-consumer-resumed');
    socket.push({ type: 'sfu-consumer-resumed', consumerId: 'other', producerId: 'x' }); // a push, not the reply
    socket.push({ type: 'sfu-consumed', consumerId: 'c', producerId: 'p' });
    await expect(p).resolves.toMatchObject({ consumerId: 'c' });
    expect(pushes.map((m) => m.type)).toEqual(['sfu-consumer-resumed']);
    sig.close();
    await expect(r).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });

  it('times out requests and refuses to send when closed', async () => {
    const sig = new Signaling(
      { onMessage: () => undefined, onClose: () => undefined },
      { requestTimeoutMs: 20, WebSocket: FakeSocket as unknown as typeof WebSocket },
    );
    await expect(sig.request({ type: 'ping' })).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    await sig.open('ws://x');
    await expect(sig.request({ type: 'ping' }, 'pong')).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });

  it('reports an unexpected close, not an expected one', async () => {
    const closes: boolean[] = [];
    const sig = new Signaling(
      { onMessage: () => undefined, onClose: (i) => closes.push(i.expected) },
      { requestTimeoutMs: 1000, WebSocket: FakeSocket as unknown as typeof WebSocket },
    );
    await sig.open('ws://x');
    (FakeSocket.all[0] as FakeSocket).drop();
    await sig.open('ws://x');
    sig.close();
    await tick();
    expect(closes).toEqual([false]);
  });
});

describe('OpenCallClient (fake server)', () => {
  it('joins: sends join-room, resolves with the room, reports the peers already there', async () => {
    const client = newClient();
    const joined: string[] = [];
    client.on('peer-joined', (p) => joined.push(p.peerId));
    const { join, info } = await joinRoom(client, {
      peers: [{ peerId: 'zed', displayName: 'Zed', mediaState: { audio: true, video: true, screen: false } }],
    });
    expect(join).toMatchObject({
      type: 'join-room',
      roomId: 'r1',
      displayName: 'Me',
      mediaState: { audio: false, video: false, screen: false },
    });
    expect(join.peerId).toBeUndefined();
    expect(info).toMatchObject({ roomId: 'r1', peerId: 'me-1', connectionMode: 'p2p' });
    expect(joined).toEqual(['zed']);
    expect(client.peerId).toBe('me-1');
    expect(client.mode).toBe('p2p');
    expect(client.state).toBe('connected');
    expect(client.peers).toEqual([
      { peerId: 'zed', displayName: 'Zed', mediaState: { audio: true, video: true, screen: false } },
    ]);
    // 'me-1' < 'zed': we are impolite, so we open the connection at once.
    expect(client.p2pConnectionCount).toBe(1);
    client.close();
    expect(client.p2pConnectionCount).toBe(0);
    expect(FakePeerConnection.open).toBe(0);
  });

  it('follows peer-joined / media-state-changed / peer-left', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client);
    const events: string[] = [];
    client.on('peer-joined', (p) => events.push(`joined ${p.peerId}`));
    client.on('media-state-changed', (m) => events.push(`media ${m.peerId} ${m.mediaState.audio}`));
    client.on('peer-left', (p) => events.push(`left ${p.peerId} ${p.displayName}`));
    socket.push({
      type: 'peer-joined',
      roomId: 'r1',
      peerId: 'abc', // 'me-1' > 'abc': we are polite and wait for its offer
      displayName: 'Abc',
      mediaState: { audio: true, video: false, screen: false },
    });
    expect(client.p2pConnectionCount).toBe(0);
    socket.push({
      type: 'media-state-changed',
      roomId: 'r1',
      peerId: 'abc',
      mediaState: { audio: false, video: false, screen: false },
    });
    // Our own state echoed back is not news.
    socket.push({
      type: 'media-state-changed',
      roomId: 'r1',
      peerId: 'me-1',
      mediaState: { audio: false, video: false, screen: false },
    });
    expect(client.peers[0]?.mediaState.audio).toBe(false);
    socket.push({ type: 'peer-left', roomId: 'r1', peerId: 'abc' });
    expect(events).toEqual(['joined abc', 'media abc false', 'left abc Abc']);
    expect(client.peers).toEqual([]);
    client.close();
  });

  it('reconnects after an unexpected drop with the same peer id', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client, {
      peers: [{ peerId: 'zed', displayName: 'Zed', mediaState: { audio: true, video: true, screen: false } }],
    });
    const events: string[] = [];
    client.on('reconnecting', (e) => events.push(`reconnecting ${e.attempt}`));
    client.on('reconnected', (i) => events.push(`reconnected ${i.peerId}`));
    client.on('peer-left', (p) => events.push(`left ${p.peerId}`));
    client.on('peer-joined', (p) => events.push(`joined ${p.peerId}`));
    socket.drop();
    expect(client.state).toBe('reconnecting');
    await until(() => FakeSocket.all.length === 2 && FakeSocket.all[1]?.lastOf('join-room') !== undefined);
    const second = FakeSocket.all[1] as FakeSocket;
    const rejoin = second.lastOf('join-room') as Sent;
    expect(rejoin.peerId).toBe('me-1');
    second.push({
      type: 'room-joined',
      requestId: rejoin.requestId,
      roomId: 'r1',
      peerId: 'me-1',
      peers: [{ peerId: 'yan', displayName: 'Yan', mediaState: { audio: true, video: true, screen: false } }],
      iceServers: [],
      connectionMode: 'p2p',
    });
    await until(() => client.state === 'connected');
    expect(events).toEqual(['reconnecting 1', 'left zed', 'joined yan', 'reconnected me-1']);
    expect(client.peers.map((p) => p.peerId)).toEqual(['yan']);
    client.close();
  });

  it('keeps retrying while the server says DUPLICATE_PEER, gives up on ROOM_FULL', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client);
    const closed: string[] = [];
    client.on('closed', (c) => closed.push(c.reason));
    client.on('error', () => undefined);
    socket.drop();
    await until(() => FakeSocket.all[1]?.lastOf('join-room') !== undefined);
    let s = FakeSocket.all[1] as FakeSocket;
    s.push({
      type: 'error',
      code: 'DUPLICATE_PEER',
      error: 'dup',
      requestId: s.lastOf('join-room')?.requestId,
    });
    await until(() => FakeSocket.all[2]?.lastOf('join-room') !== undefined);
    expect(client.state).toBe('reconnecting');
    s = FakeSocket.all[2] as FakeSocket;
    s.push({ type: 'error', code: 'ROOM_FULL', error: 'full', requestId: s.lastOf('join-room')?.requestId });
    await until(() => client.state === 'closed');
    expect(closed).toEqual(['rejoin refused (ROOM_FULL)']);
  });

  it('connect() rejects with the server error', async () => {
    const client = newClient();
    const connecting = client.connect('ws://fake/ws', { roomId: 'r1', displayName: 'Me', peerId: 'p' });
    await until(() => FakeSocket.all[0]?.lastOf('join-room') !== undefined);
    const socket = FakeSocket.all[0] as FakeSocket;
    socket.push({
      type: 'error',
      code: 'ROOM_FULL',
      error: 'Room is full',
      requestId: socket.lastOf('join-room')?.requestId,
    });
    const err = (await connecting.catch((e) => e)) as OpenCallError;
    expect(err.code).toBe('ROOM_FULL');
    expect(client.state).toBe('closed');
  });

  it('leave() sends leave-room and closes without reconnecting', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client);
    const closed: string[] = [];
    client.on('closed', (c) => closed.push(c.reason));
    const leaving = client.leave();
    await until(() => socket.lastOf('leave-room') !== undefined);
    socket.push({ type: 'room-left', roomId: 'r1', requestId: socket.lastOf('leave-room')?.requestId });
    await leaving;
    await tick();
    expect(closed).toEqual(['left']);
    expect(client.state).toBe('closed');
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('room-closed ends the session', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client);
    const closed = client.next('closed');
    socket.push({ type: 'room-closed', roomId: 'r1', reason: 'The room was closed' });
    await expect(closed).resolves.toEqual({ reason: 'room closed: The room was closed' });
    await tick();
    expect(FakeSocket.all).toHaveLength(1);
  });

  it('reports mode changes; server errors become error events', async () => {
    const client = newClient();
    const { socket } = await joinRoom(client);
    const modes: string[] = [];
    const errors: string[] = [];
    client.on('mode-changed', (m) => modes.push(`${m.previousMode}->${m.mode}`));
    client.on('error', (e) => errors.push(e.code));
    socket.push({ type: 'error', code: 'RATE_LIMITED', error: 'slow down' });
    socket.push({ type: 'error', code: 'SFU_NOT_ACTIVE', error: 'late', relatedType: 'sfu-ready' }); // quiet
    socket.push({ type: 'mode-changed', roomId: 'r1', mode: 'sfu', previousMode: 'p2p' });
    expect(client.mode).toBe('sfu');
    expect(modes).toEqual(['p2p->sfu']);
    expect(errors[0]).toBe('RATE_LIMITED');
    expect(errors).not.toContain('SFU_NOT_ACTIVE');
    client.close();
  });

  it('joining a room on its way to the SFU: sfu-join leaves before the app hears of the peers', async () => {
    // What prepareConnection does before the join: the Device is loaded when room-joined comes.
    const caps = { codecs: [], headerExtensions: [] };
    await loadDevice(caps);
    const client = newClient();
    let sentWhenAppHeard: string[] | undefined;
    client.on('peer-joined', () => {
      sentWhenAppHeard ??= FakeSocket.all.at(-1)?.sent.map((m) => m.type);
    });
    await joinRoom(client, {
      connectionMode: 'upgrading',
      routerRtpCapabilities: caps,
      peers: [{ peerId: 'zed', displayName: 'Zed', mediaState: { audio: true, video: true, screen: false } }],
    });
    // The app's handlers (a page renders the room there) run after the SFU session's first
    // requests went out, not before them.
    expect(sentWhenAppHeard).toEqual(['join-room', 'sfu-join', 'sfu-create-transport']);
    expect(client.peers.map((p) => p.peerId)).toEqual(['zed']);
    client.close();
  });

  it('sends media-state-changed when the app mutes (mic track disabled)', async () => {
    const client = newClient();
    const mic = { kind: 'audio', enabled: true, id: 'mic-1', readyState: 'live' };
    client.publish(new FakeMediaStream([mic]) as unknown as MediaStream);
    const { socket, join } = await joinRoom(client);
    expect(join.mediaState).toEqual({ audio: true, video: false, screen: false });
    const state = await client.setMediaState({ audio: false });
    expect(state).toEqual({ audio: false, video: false, screen: false });
    expect(mic.enabled).toBe(false);
    expect(socket.lastOf('media-state-changed')).toMatchObject({ mediaState: { audio: false } });
    client.close();
  });
});

describe('OpenCallClient.prepareConnection', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('asks the server the signaling URL names for its SFU capabilities, and never fails', async () => {
    const asked: string[] = [];
    vi.stubGlobal('fetch', async (url: URL) => {
      asked.push(String(url));
      if (asked.length === 2) throw new TypeError('network down');
      return new Response(JSON.stringify({ code: 'SFU_UNAVAILABLE' }), { status: 503 });
    });
    const client = newClient();
    await expect(client.prepareConnection('ws://host:4000/ws')).resolves.toBeUndefined();
    await expect(client.prepareConnection('wss://meet.example.com/opencall/ws')).resolves.toBeUndefined();
    // An answer without capabilities: nothing to load, no error either.
    vi.stubGlobal('fetch', async () => new Response('{}', { status: 200 }));
    await expect(client.prepareConnection('ws://host:4000/ws')).resolves.toBeUndefined();
    expect(asked).toEqual([
      'http://host:4000/api/sfu/capabilities',
      'https://meet.example.com/opencall/api/sfu/capabilities',
    ]);
  });
});
