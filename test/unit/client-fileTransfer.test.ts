import { describe, expect, it } from 'vitest';
import { FileTransfer } from '../../src/client/FileTransfer.ts';
import type { FileReceivePipe, FileSendPipe } from '../../src/client/filePipes.ts';
import type { MediaPath, OpenCallEvents } from '../../src/client/types.ts';

/*
 * FileTransfer's protocol between two instances over in-memory data channels (the e2e test runs
 * it over real RTCDataChannels and mediasoup data producers in Chromium): acknowledgements,
 * resume after a channel closes, and the hash check.
 */

type Events = Array<{
  event: string;
  payload: OpenCallEvents['file-progress' | 'file-offer' | 'file-received'];
}>;

interface Link {
  /** Called with each message the sender puts on a channel; returning false drops it. */
  onSend?: (label: string, data: string | ArrayBuffer, index: number) => boolean | 'close';
  /** The path the nth channel (attempt) reports. */
  pathOf?: (attempt: number) => MediaPath;
}

function pair(link: Link = {}) {
  const senderEvents: Events = [];
  const receiverEvents: Events = [];
  let receiver: FileTransfer;
  let opened = 0;
  const sender: FileTransfer = new FileTransfer({
    peerIds: () => ['bob'],
    hasPeer: (id) => id === 'bob',
    sendAck: () => undefined,
    emit: (event, payload) => senderEvents.push({ event, payload }),
    log: () => undefined,
    openPipe: async (_peerId, label) => {
      const attempt = opened++;
      const path = link.pathOf?.(attempt) ?? 'p2p';
      let state: RTCDataChannelState = 'open';
      const closeListeners = new Set<() => void>();
      const messageListeners = new Set<(data: string | ArrayBuffer) => void>();
      let sent = 0;
      const close = () => {
        if (state === 'closed') return;
        state = 'closed';
        queueMicrotask(() => {
          for (const l of closeListeners) l();
        });
      };
      const send: FileSendPipe = {
        path,
        get readyState() {
          return state;
        },
        bufferedAmount: 0,
        send: (data) => {
          if (state !== 'open') throw new Error('closed');
          const copy = typeof data === 'string' ? data : new Uint8Array(data as Uint8Array).slice().buffer;
          const verdict = link.onSend?.(label, copy, sent++) ?? true;
          if (verdict === 'close') {
            close();
            return;
          }
          if (!verdict) return;
          queueMicrotask(() => {
            for (const l of messageListeners) l(copy);
          });
        },
        close,
        on: (event, listener) => {
          if (event === 'close') {
            closeListeners.add(listener);
            return () => closeListeners.delete(listener);
          }
          return () => undefined;
        },
      };
      const recv: FileReceivePipe = {
        path,
        label,
        onMessage: (l) => messageListeners.add(l),
        onClose: (l) => closeListeners.add(l),
        close,
      };
      queueMicrotask(() => receiver.accept('ann', recv));
      return send;
    },
  });
  receiver = new FileTransfer({
    peerIds: () => ['ann'],
    hasPeer: (id) => id === 'ann',
    sendAck: (ack) =>
      queueMicrotask(() =>
        sender.handleAck({
          type: 'file-ack',
          roomId: 'r',
          fromPeerId: 'bob',
          toPeerId: ack.toPeerId,
          fileId: ack.fileId,
          attempt: ack.attempt,
          bytes: ack.bytes,
          timestamp: Date.now(),
          ...(ack.ok !== undefined && { ok: ack.ok }),
        }),
      ),
    emit: (event, payload) => receiverEvents.push({ event, payload }),
    log: () => undefined,
    openPipe: async () => undefined,
  });
  return { sender, receiver, senderEvents, receiverEvents, attempts: () => opened };
}

const randomFile = (size: number) => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i += 65_536)
    crypto.getRandomValues(bytes.subarray(i, Math.min(i + 65_536, size)));
  return Object.assign(new Blob([bytes]), { name: 'data.bin' });
};

const hex = async (blob: Blob) =>
  Buffer.from(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())).toString('hex');

describe('FileTransfer', () => {
  it('sends a file in numbered pieces; the receiver checks the hash and the sender hears it', async () => {
    const p = pair();
    const file = randomFile(700_000);
    await p.sender.send(file, { toPeerId: 'bob' });
    const received = p.receiverEvents.find((e) => e.event === 'file-received')
      ?.payload as OpenCallEvents['file-received'];
    expect(received.size).toBe(700_000);
    expect(await hex(received.file)).toBe(await hex(file));
    expect(p.receiverEvents[0]?.event).toBe('file-offer');
    // The sender reports what the receiver acknowledged (every 256 KB and at the end).
    const out = p.senderEvents
      .filter((e) => e.event === 'file-progress')
      .map((e) => (e.payload as { bytes: number }).bytes);
    expect(out.at(-1)).toBe(700_000);
    expect(p.attempts()).toBe(1);
  });

  it('a channel that closes mid-way: the next attempt goes on from what the receiver holds', async () => {
    // The first channel (P2P) closes after the header and five 64 KB pieces; the second is "SFU".
    const p = pair({
      onSend: (label, _data, index) => (label.endsWith(':0') && index === 6 ? 'close' : true),
      pathOf: (attempt) => (attempt === 0 ? 'p2p' : 'sfu'),
    });
    const file = randomFile(1_000_000);
    await p.sender.send(file, { toPeerId: 'bob' });
    expect(p.attempts()).toBe(2);
    const progress = p.receiverEvents
      .filter((e) => e.event === 'file-progress')
      .map((e) => e.payload as OpenCallEvents['file-progress']);
    const firstSfu = progress.find((e) => e.path === 'sfu');
    // Resumed: the first piece over the second channel comes after the five it had.
    expect(firstSfu?.bytes).toBe(6 * 65_536);
    const received = p.receiverEvents.find((e) => e.event === 'file-received')
      ?.payload as OpenCallEvents['file-received'];
    expect(await hex(received.file)).toBe(await hex(file));
  });

  it('a corrupted piece fails the hash: nothing is delivered and the sender is told', async () => {
    const p = pair({
      onSend: (_label, data, index) => {
        if (index === 3 && typeof data !== 'string') {
          const bytes = new Uint8Array(data);
          bytes[100] = (bytes[100] ?? 0) ^ 0xff;
        }
        return true;
      },
    });
    await expect(p.sender.send(randomFile(300_000), { toPeerId: 'bob' })).rejects.toMatchObject({
      code: 'CONNECTION_FAILED',
    });
    expect(p.receiverEvents.some((e) => e.event === 'file-received')).toBe(false);
  });

  it('refuses files over the limit and unknown peers before sending anything', async () => {
    const p = pair();
    await expect(p.sender.send(randomFile(10), { toPeerId: 'nobody' })).rejects.toMatchObject({
      code: 'PEER_NOT_FOUND',
    });
    const huge = Object.assign(new Blob([]), { name: 'x' });
    Object.defineProperty(huge, 'size', { value: 101 * 1024 * 1024 });
    await expect(p.sender.send(huge, { toPeerId: 'bob' })).rejects.toMatchObject({ code: 'INVALID_MESSAGE' });
    expect(p.attempts()).toBe(0);
  });
});
