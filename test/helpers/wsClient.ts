import WebSocket from 'ws';
import type { ServerMessage, ServerMessageOf, ServerMessageType } from '../../src/protocol/index.ts';

/**
 * A signaling client for tests, written the way an outside client would be: raw JSON over `ws`.
 * Every received message is queued; `next` waits for the first unread one that matches.
 */
export class TestClient {
  readonly ws: WebSocket;
  readonly received: ServerMessage[] = [];
  #waiters: Array<{ match: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ServerMessage;
      const i = this.#waiters.findIndex((w) => w.match(message));
      if (i >= 0) {
        const [waiter] = this.#waiters.splice(i, 1);
        waiter?.resolve(message);
      } else {
        this.received.push(message);
      }
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new TestClient(ws);
  }

  send(message: Record<string, unknown> | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first unread message of this type (and matching `where`), waiting up to `timeoutMs`. */
  next<T extends ServerMessageType>(
    type: T,
    where: (m: ServerMessageOf<T>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<ServerMessageOf<T>> {
    const match = (m: ServerMessage): boolean => m.type === type && where(m as ServerMessageOf<T>);
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as ServerMessageOf<T>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `timed out waiting for ${type}; unread: ${JSON.stringify(this.received.map((m) => m.type))}`,
          ),
        );
      }, timeoutMs);
      const done = (m: ServerMessage) => {
        clearTimeout(timer);
        resolve(m as ServerMessageOf<T>);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }

  /** Sends and awaits the reply (or error) carrying the same requestId. */
  async request(message: Record<string, unknown>, timeoutMs = 5000): Promise<ServerMessage> {
    const requestId = `r${Math.random().toString(36).slice(2)}`;
    const reply = this.nextAny((m) => 'requestId' in m && m.requestId === requestId, timeoutMs);
    this.send({ ...message, requestId });
    return reply;
  }

  nextAny(match: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
    const i = this.received.findIndex(match);
    if (i >= 0) return Promise.resolve(this.received.splice(i, 1)[0] as ServerMessage);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('timed out waiting for a matching message')),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Joins and returns room-joined (throws on an error reply). */
  async join(
    roomId: string,
    peerId?: string,
    displayName = peerId ?? 'anon',
  ): Promise<ServerMessageOf<'room-joined'>> {
    const reply = await this.request({
      type: 'join-room',
      roomId,
      ...(peerId ? { peerId } : {}),
      displayName,
      mediaState: { audio: true, video: true, screen: false },
      timestamp: Date.now(),
    });
    if (reply.type !== 'room-joined') throw new Error(`join failed: ${JSON.stringify(reply)}`);
    return reply;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}
