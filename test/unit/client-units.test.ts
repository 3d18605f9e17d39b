import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LocalMedia, type LocalMediaHooks } from '../../src/client/LocalMedia.ts';
import { MediaFlowProbe, readInbound, StatsLook } from '../../src/client/MediaFlowProbe.ts';
import type { RemoteTrack } from '../../src/client/MediaPaths.ts';
import {
  toDeviceRtpCapabilities,
  toDeviceRtpParameters,
  toWireRtpCapabilities,
} from '../../src/client/mediasoupWire.ts';
import { RemotePeers } from '../../src/client/RemotePeers.ts';
import { dispatchPush, type PushHandlers } from '../../src/client/ServerPushes.ts';
import type { SfuSession } from '../../src/client/SfuSession.ts';
import { Signaling } from '../../src/client/Signaling.ts';
import { TrackRegistry } from '../../src/client/TrackRegistry.ts';
import type { ServerMessage } from '../../src/protocol/index.ts';

/* The units OpenCallClient is made of, each on its own, with fakes for the browser. */

class FakeTrack {
  enabled = true;
  readyState = 'live';
  readonly listeners = new Map<string, () => void>();
  readonly kind: 'audio' | 'video';
  readonly id: string;
  constructor(kind: 'audio' | 'video') {
    this.kind = kind;
    this.id = `${kind}-${Math.random().toString(36).slice(2)}`;
  }
  addEventListener(event: string, fn: () => void) {
    this.listeners.set(event, fn);
  }
  stop() {
    this.readyState = 'ended';
  }
}

class FakeMediaStream {
  readonly tracks: FakeTrack[];
  constructor(tracks: FakeTrack[] = []) {
    this.tracks = tracks;
  }
  getTracks() {
    return this.tracks;
  }
  getAudioTracks() {
    return this.tracks.filter((t) => t.kind === 'audio');
  }
  getVideoTracks() {
    return this.tracks.filter((t) => t.kind === 'video');
  }
}

const asStream = (tracks: FakeTrack[]) => new FakeMediaStream(tracks) as unknown as MediaStream;

beforeEach(() => {
  vi.stubGlobal('MediaStream', FakeMediaStream);
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe('LocalMedia', () => {
  const recorder = () => {
    const calls: string[] = [];
    const states: Array<{ audio: boolean; video: boolean; screen: boolean }> = [];
    const hooks: LocalMediaHooks = {
      trackChanged: (source, track, paused) =>
        calls.push(`track ${source} ${track ? track.kind : 'null'} ${paused}`),
      pausedChanged: (source, paused) => calls.push(`paused ${source} ${paused}`),
      stateChanged: (state) => states.push(state),
      localTrack: (e) => calls.push(`local-track ${e.source}`),
      localTrackRemoved: (e) => calls.push(`local-track-removed ${e.source}`),
    };
    return { calls, states, hooks };
  };

  it('publishes mic and camera, tells both paths and the room, and mutes through track.enabled', async () => {
    const r = recorder();
    const local = new LocalMedia(r.hooks);
    const mic = new FakeTrack('audio');
    const camera = new FakeTrack('video');
    camera.enabled = false;
    local.publish(asStream([mic, camera]));
    expect(r.calls).toEqual([
      'track mic audio false',
      'local-track mic',
      'track camera video true',
      'local-track camera',
      'paused mic false',
      'paused camera true',
    ]);
    expect(r.states.at(-1)).toEqual({ audio: true, video: false, screen: false });
    expect(local.isPaused('camera')).toBe(true);
    await local.setState({ audio: false });
    expect(mic.enabled).toBe(false);
    expect(local.state.audio).toBe(false);
    expect(r.calls.at(-1)).toBe('paused mic true');
    expect(r.states.at(-1)).toEqual({ audio: false, video: false, screen: false });
    local.unpublish();
    expect(local.tracks.size).toBe(0);
    expect(r.calls).toContain('local-track-removed camera');
  });

  it('shares a given screen stream, stops it when the track ends, and stops only what it started', async () => {
    const r = recorder();
    const local = new LocalMedia(r.hooks);
    const screen = new FakeTrack('video');
    await local.startScreenShare({ stream: asStream([screen]) });
    expect(local.state.screen).toBe(true);
    expect(local.tracks.get('screen')).toBe(screen);
    screen.listeners.get('ended')?.();
    expect(local.state.screen).toBe(false);
    expect(local.tracks.has('screen')).toBe(false);
    // An app-given stream is the app's: it is not stopped, and survives the end of a call.
    expect(screen.readyState).toBe('live');
    await local.startScreenShare({ stream: asStream([screen]) });
    local.callEnded();
    expect(local.tracks.get('screen')).toBe(screen);
  });
});

describe('RemotePeers', () => {
  const peer = (peerId: string, audio = true) => ({
    peerId,
    displayName: peerId.toUpperCase(),
    mediaState: { audio, video: true, screen: false },
  });

  it('reports only the differences on a rejoin', () => {
    const peers = new RemotePeers();
    const events: string[] = [];
    const emit = (event: string, payload: { peerId: string }) => events.push(`${event} ${payload.peerId}`);
    peers.sync([peer('me'), peer('a'), peer('b')], 'me', false, emit);
    expect(peers.ids()).toEqual(['a', 'b']);
    expect(events).toEqual(['peer-joined a', 'peer-joined b']);
    events.length = 0;
    peers.sync([peer('a', false), peer('c')], 'me', true, emit);
    expect(events).toEqual(['peer-left b', 'peer-joined c', 'media-state-changed a']);
    expect(peers.sourceOff('a', 'mic')).toBe(true);
    expect(peers.sourceOff('a', 'camera')).toBe(false);
    expect(peers.sourceOff('a', 'screen')).toBe(false);
  });

  it('tells a reconnected peer from a new one, and hands out copies', () => {
    const peers = new RemotePeers();
    expect(peers.joined(peer('a'))).toBe('new');
    expect(peers.joined(peer('a'))).toBe('again');
    const list = peers.list();
    list[0]!.mediaState.audio = false;
    expect(peers.list()[0]?.mediaState.audio).toBe(true);
    expect(peers.setMediaState('zzz', { audio: false, video: false, screen: false })).toBe(false);
    expect(peers.left('a')?.displayName).toBe('A');
    expect(peers.has('a')).toBe(false);
  });
});

describe('ServerPushes', () => {
  it('hands each push to its handler and an unknown type to the fallback', () => {
    const seen: string[] = [];
    const handler = (m: { type: string }) => seen.push(m.type);
    const real = Object.fromEntries(
      ['peer-joined', 'peer-left', 'error'].map((type) => [type, handler]),
    ) as unknown as PushHandlers;
    dispatchPush(real, { type: 'peer-left', roomId: 'r', peerId: 'x', timestamp: 1 }, () =>
      seen.push('unknown'),
    );
    const newer = JSON.parse('{"type":"chat-message","text":"hi","timestamp":1}') as ServerMessage;
    dispatchPush(real, newer, (m) => seen.push(`unknown ${m.type}`));
    expect(seen).toEqual(['peer-left', 'unknown chat-message']);
  });
});

describe('MediaFlowProbe', () => {
  /** A track that can unmute: the probe listens for that. */
  const mediaTrack = (id: string) => Object.assign(new EventTarget(), { id }) as unknown as MediaStreamTrack;
  const inbound = (frames: number, trackIdentifier?: string) => ({
    type: 'inbound-rtp',
    kind: 'video',
    framesDecoded: frames,
    bytesReceived: frames * 100,
    ...(trackIdentifier !== undefined && { trackIdentifier }),
  });
  /** A receiver whose decoded-frame counter the test advances; alone on its connection. */
  const fakeTrack = (id: string, path: 'p2p' | 'sfu', frames: { n: number }): RemoteTrack => {
    const track = mediaTrack(`track-${id}`);
    return {
      id,
      peerId: 'a',
      source: 'camera',
      kind: 'video',
      path,
      track,
      paused: false,
      getStats: async () => new Map([['x', inbound(frames.n)]]),
      connection: { key: {}, read: async () => new Map([['x', inbound(frames.n, track.id)]]) },
    } as unknown as RemoteTrack;
  };

  const newRegistry = () =>
    new TrackRegistry<RemoteTrack>(
      () => {},
      () => {},
    );
  /** A probe over `registry` and a stand-in SFU session, polling every 2 ms unless told otherwise. */
  const probeOf = (
    registry: TrackRegistry<RemoteTrack>,
    sfu: object,
    options: Partial<ConstructorParameters<typeof MediaFlowProbe>[0]> = {},
  ) =>
    new MediaFlowProbe({
      registry,
      sfu: () => sfu as unknown as SfuSession,
      switchTimeoutMs: 60_000,
      reportSfuFailure: () => {},
      log: () => {},
      pollMs: 2,
      ...options,
    });

  it('reads inbound-rtp of the track kind only, and survives a closed receiver', async () => {
    const frames = { n: 7 };
    expect(await readInbound(fakeTrack('t', 'p2p', frames))).toEqual({
      bytesReceived: 700,
      packetsReceived: 0,
      framesDecoded: 7,
    });
    const closed = { kind: 'video' as const, getStats: () => Promise.reject(new Error('closed')) };
    expect(await readInbound(closed)).toEqual({ bytesReceived: 0, packetsReceived: 0, framesDecoded: 0 });
  });

  it('resolves true only once frames grow over the path and its transports are connected', async () => {
    const registry = newRegistry();
    const frames = { n: 1 };
    registry.add(fakeTrack('s1', 'sfu', frames));
    const sfu = { receiving: true, mediaConnected: false, anyTransportConnected: true };
    const reported: string[] = [];
    const probe = probeOf(registry, sfu, { reportSfuFailure: (reason) => reported.push(reason) });
    let done: boolean | undefined;
    const waiting = probe
      .waitForPath('sfu', () => true)
      .then((v) => {
        done = v;
      });
    const ticker = setInterval(() => frames.n++, 3);
    await new Promise((r) => setTimeout(r, 30));
    // Frames flow, but the server-visible evidence (transports connected) is missing: not yet.
    expect(done).toBeUndefined();
    sfu.mediaConnected = true;
    await waiting;
    clearInterval(ticker);
    expect(done).toBe(true);
    expect(reported).toEqual([]);
  });

  it('with oneTrackProves, one flowing track (transports connected) is enough; without, every track must flow', async () => {
    const registry = newRegistry();
    const flowing = { n: 0 };
    registry.add(fakeTrack('s1', 'sfu', flowing));
    registry.add({ ...fakeTrack('s2', 'sfu', { n: 0 }), peerId: 'b' }); // its key frame has not come yet
    const sfu = { receiving: true, mediaConnected: true, anyTransportConnected: true };
    const probe = probeOf(registry, sfu);
    let proves = true;
    let all: boolean | undefined;
    void probe
      .waitForPath('sfu', () => all === undefined)
      .then((v) => {
        all = v;
      });
    const one = probe.waitForPath(
      'sfu',
      () => true,
      () => proves,
    );
    flowing.n = 3;
    expect(await one).toBe(true);
    expect(all).toBeUndefined();
    // The predicate is asked at each look: false, and one track no longer does.
    proves = false;
    let again: boolean | undefined;
    void probe
      .waitForPath(
        'sfu',
        () => again === undefined,
        () => proves,
      )
      .then((v) => {
        again = v;
      });
    await new Promise((r) => setTimeout(r, 30));
    expect(again).toBeUndefined();
    expect(all).toBeUndefined();
    again = false;
    all = false;
  });

  it('looks again at once when a track it waits for unmutes, not at the next poll', async () => {
    const registry = newRegistry();
    const frames = { n: 0 };
    const t = fakeTrack('s1', 'sfu', frames);
    registry.add(t);
    const sfu = { receiving: true, mediaConnected: true, anyTransportConnected: true };
    const probe = probeOf(registry, sfu, { pollMs: 60_000 });
    const started = Date.now();
    const result = probe.waitForPath('sfu', () => true);
    // The first look saw nothing; the next poll is a minute away.
    await new Promise((r) => setTimeout(r, 20));
    frames.n = 1;
    t.track.dispatchEvent(new Event('unmute'));
    expect(await result).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('never resolves true on a timer: it reports an SFU that nothing connected to, and stops when no longer current', async () => {
    const registry = newRegistry();
    registry.add(fakeTrack('s1', 'sfu', { n: 0 }));
    const reported: string[] = [];
    let current = true;
    const probe = probeOf(
      registry,
      { receiving: true, mediaConnected: false, anyTransportConnected: false },
      { switchTimeoutMs: 10, reportSfuFailure: (reason) => reported.push(reason) },
    );
    const result = probe.waitForPath('sfu', () => current);
    await new Promise((r) => setTimeout(r, 40));
    expect(reported).toEqual(['connect-timeout']);
    current = false;
    expect(await result).toBe(false);
  });
});

describe('StatsLook', () => {
  const track = (id: string, reads: { n: number }, report: () => Map<string, object>, key: object) =>
    ({
      id,
      peerId: 'a',
      source: 'camera',
      kind: 'video',
      path: 'sfu',
      track: { id: `track-${id}` },
      paused: false,
      getStats: async () => new Map([['own', { type: 'inbound-rtp', kind: 'video', framesDecoded: 99 }]]),
      connection: {
        key,
        read: async () => {
          reads.n++;
          return report();
        },
      },
    }) as unknown as RemoteTrack;

  it('reads a connection once for all its tracks, and gives each its own inbound-rtp', async () => {
    const reads = { n: 0 };
    const key = {};
    const report = () =>
      new Map<string, object>([
        ['1', { type: 'inbound-rtp', kind: 'video', trackIdentifier: 'track-a', framesDecoded: 5 }],
        ['2', { type: 'inbound-rtp', kind: 'video', trackIdentifier: 'track-b', framesDecoded: 9 }],
        ['3', { type: 'inbound-rtp', kind: 'audio', trackIdentifier: 'track-a', bytesReceived: 1 }],
      ]);
    const look = new StatsLook();
    const [a, b, c] = await Promise.all([
      look.read(track('a', reads, report, key)),
      look.read(track('b', reads, report, key)),
      look.read(track('c', reads, report, key)),
    ]);
    expect(reads.n).toBe(1);
    expect(a.framesDecoded).toBe(5);
    expect(a.bytesReceived).toBe(0); // the audio entry is not the video track's
    expect(b.framesDecoded).toBe(9);
    // Named tracks, none of them c: c received nothing yet.
    expect(c.framesDecoded).toBe(0);
  });

  it("asks the receiver itself when the browser's inbound-rtp names no track", async () => {
    const reads = { n: 0 };
    const unnamed = () =>
      new Map<string, object>([['1', { type: 'inbound-rtp', kind: 'video', framesDecoded: 3 }]]);
    expect((await new StatsLook().read(track('a', reads, unnamed, {}))).framesDecoded).toBe(99);
    // A connection with no inbound-rtp at all: nothing received, no second read.
    const empty = () => new Map<string, object>();
    expect((await new StatsLook().read(track('a', reads, empty, {}))).framesDecoded).toBe(0);
  });
});

describe('mediasoupWire', () => {
  it('drops what the other library cannot express, and keeps the rest', () => {
    const caps = toDeviceRtpCapabilities({
      codecs: [{ kind: 'video', mimeType: 'video/VP8', preferredPayloadType: 101, clockRate: 90000 }],
      headerExtensions: [
        { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:toffset', preferredId: 5 },
        { kind: 'video', uri: 'urn:ietf:params:rtp-hdrext:sdes:mid', preferredId: 1 },
      ],
    });
    expect(caps.headerExtensions?.map((e) => e.uri)).toEqual(['urn:ietf:params:rtp-hdrext:sdes:mid']);
    expect(caps.codecs).toHaveLength(1);
    const params = toDeviceRtpParameters({
      codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000 }],
      headerExtensions: [{ uri: 'urn:ietf:params:rtp-hdrext:toffset', id: 3 }],
    });
    expect(params.headerExtensions).toEqual([]);
    const wire = toWireRtpCapabilities({
      codecs: [
        {
          kind: 'audio',
          mimeType: 'audio/opus',
          preferredPayloadType: 100,
          clockRate: 48000,
          parameters: { useinbandfec: 1, nested: { no: true } },
        },
      ],
    });
    expect(wire.codecs?.[0]?.parameters).toEqual({ useinbandfec: 1 });
  });
});

describe('Signaling keepalive', () => {
  it('pings while quiet, and drops a connection that answers nothing', async () => {
    vi.useFakeTimers();
    const sent: string[] = [];
    let closed = 0;
    class Socket {
      readyState = 0;
      onopen: (() => void) | null = null;
      onclose: ((e: { code: number; reason: string }) => void) | null = null;
      onmessage = null;
      onerror = null;
      constructor() {
        queueMicrotask(() => {
          this.readyState = 1;
          this.onopen?.();
        });
      }
      send(data: string) {
        sent.push(JSON.parse(data).type);
      }
      close() {
        this.readyState = 3;
      }
    }
    const sig = new Signaling(
      { onMessage: () => {}, onClose: () => void closed++ },
      { requestTimeoutMs: 1000, WebSocket: Socket as unknown as typeof WebSocket, keepaliveIntervalMs: 1000 },
    );
    const opening = sig.open('ws://x');
    await vi.advanceTimersByTimeAsync(0);
    await opening;
    await vi.advanceTimersByTimeAsync(1000);
    expect(sent).toEqual(['ping']);
    // No answer: a ping is not repeated while one is out, and after 10 s the socket is dropped.
    await vi.advanceTimersByTimeAsync(5000);
    expect(sent).toEqual(['ping']);
    await vi.advanceTimersByTimeAsync(6000);
    expect(closed).toBe(1);
    expect(sig.isOpen).toBe(false);
  });
});
