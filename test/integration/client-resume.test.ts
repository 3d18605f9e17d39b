import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { OpenCallClient } from '../../src/client/OpenCallClient.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { TestClient } from '../helpers/wsClient.ts';

/*
 * The browser SDK's own reconnect against the real server, in Node: `ws` stands in for the
 * browser's WebSocket. No media here; resume keeps whatever media ran (see README "Resume").
 */

describe('the SDK resumes by itself', () => {
  let server: TestServer;
  // The SDK is a browser library; in Node it needs the one global it touches before any media.
  globalThis.MediaStream ??= class {
    getTracks() {
      return [];
    }
  } as unknown as typeof MediaStream;
  afterEach(() => server?.close());

  it('reconnects after a drop and gets its peer back; the room sees nothing', async () => {
    server = await startServer();
    const observer = await TestClient.connect(server.wsUrl);
    await observer.join('sdk', 'observer');
    const client = new OpenCallClient({
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      reconnect: { baseDelayMs: 10, maxDelayMs: 50 },
    });
    const info = await client.connect(server.wsUrl, {
      roomId: 'sdk',
      displayName: 'Sdk',
      peerId: 'sdk-peer',
    });
    expect(info.peerId).toBe('sdk-peer');
    await observer.next('peer-joined');
    const reconnected = new Promise<{ peerId: string }>((resolve) => client.once('reconnected', resolve));
    // The server side of the SDK's socket drops (the last connection the server accepted).
    const sockets = server.app.signalingSockets();
    sockets.at(-1)?.terminate();
    expect((await reconnected).peerId).toBe('sdk-peer');
    expect(client.state).toBe('connected');
    await observer.request({ type: 'ping' });
    expect(observer.received.map((m) => m.type)).not.toContain('peer-left');
    client.close();
    await observer.close();
  });
});
