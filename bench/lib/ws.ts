import WebSocket from 'ws';

/** Opens a client socket (no compression, as browsers negotiate none with OpenCall). */
export function openSocket(
  url: string,
  options: WebSocket.ClientOptions = {},
  timeoutMs = 10_000,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs, ...options });
    const onError = (err: Error) => {
      ws.off('open', onOpen);
      ws.terminate();
      reject(err);
    };
    const onOpen = () => {
      ws.off('error', onError);
      ws.on('error', () => {});
      resolve(ws);
    };
    ws.once('open', onOpen);
    ws.once('error', onError);
  });
}

export interface JoinReply {
  type: string;
  peerId?: string;
  code?: string;
  error?: string;
}

/**
 * Sends join-room and resolves with the reply carrying its requestId (room-joined or error). Other
 * frames arriving meanwhile (peer-joined of earlier joiners) are ignored.
 */
export function joinRoom(
  ws: WebSocket,
  roomId: string,
  peerId: string,
  timeoutMs = 10_000,
): Promise<JoinReply> {
  const requestId = `j-${peerId}`;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.off('message', onMessage);
      reject(new Error(`join of ${peerId} timed out`));
    }, timeoutMs);
    const onMessage = (data: WebSocket.RawData) => {
      const text = data.toString();
      if (!text.includes(requestId)) return;
      const msg = JSON.parse(text) as JoinReply & { requestId?: unknown };
      if (msg.requestId !== requestId) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(msg);
    };
    ws.on('message', onMessage);
    ws.send(joinFrame(roomId, peerId, requestId));
  });
}

export function joinFrame(roomId: string, peerId: string, requestId: string): string {
  return JSON.stringify({
    type: 'join-room',
    roomId,
    peerId,
    displayName: `Bench ${peerId}`,
    mediaState: { audio: true, video: true, screen: false },
    requestId,
  });
}

/** Runs `fn` over `items` with at most `limit` in flight; rejects on the first failure. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
