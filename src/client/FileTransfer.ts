import { OpenCallError, type OpenCallEvents } from './types.ts';

/** Files are sent in pieces of this size (well under every browser's SCTP message limit). */
const CHUNK_BYTES = 64 * 1024;
/** Sending pauses while this much waits in the channel, and goes on below the low mark. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
/** The largest file sendFile takes. */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;

/** The first message of a file channel. */
interface FileHeader {
  fileId: string;
  name: string;
  size: number;
  mimeType: string;
  sha256: string;
}

export interface FileTransferHooks {
  /** A data channel to `peerId` for one file (undefined when there is no P2P link to it). */
  openChannel(peerId: string, label: string): RTCDataChannel | undefined;
  /** The peers a file for the whole room goes to. */
  peerIds(): string[];
  emit<K extends 'file-offer' | 'file-progress' | 'file-received'>(
    event: K,
    payload: OpenCallEvents[K],
  ): void;
}

async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function waitOpen(channel: RTCDataChannel): Promise<void> {
  if (channel.readyState === 'open') return Promise.resolve();
  return new Promise((resolve, reject) => {
    channel.addEventListener('open', () => resolve(), { once: true });
    channel.addEventListener(
      'close',
      () => reject(new OpenCallError('CONNECTION_FAILED', 'File channel closed')),
      {
        once: true,
      },
    );
  });
}

/**
 * Files between peers over RTCDataChannels of the P2P links: one channel per file and receiver,
 * a header (name, size, SHA-256), 64 KB pieces with backpressure (bufferedAmountLowThreshold), and
 * the receiver's verdict once it has checked the hash. Progress is reported on both sides.
 */
export class FileTransfer {
  readonly #hooks: FileTransferHooks;

  constructor(hooks: FileTransferHooks) {
    this.#hooks = hooks;
  }

  /** Sends to every peer (or `toPeerId`); resolves once each receiver confirmed the hash. */
  async send(
    file: Blob & { name?: string },
    options: { toPeerId?: string } = {},
  ): Promise<{ fileId: string }> {
    if (file.size > MAX_FILE_BYTES) {
      throw new OpenCallError('INVALID_MESSAGE', `Files are limited to ${MAX_FILE_BYTES / 1024 / 1024} MB`);
    }
    const targets = options.toPeerId !== undefined ? [options.toPeerId] : this.#hooks.peerIds();
    if (targets.length === 0) throw new OpenCallError('PEER_NOT_FOUND', 'Nobody to send the file to');
    const data = await file.arrayBuffer();
    const header: FileHeader = {
      fileId: crypto.randomUUID(),
      name: file.name ?? 'file',
      size: data.byteLength,
      mimeType: file.type,
      sha256: await sha256Hex(data),
    };
    await Promise.all(targets.map((peerId) => this.#sendTo(peerId, header, data)));
    return { fileId: header.fileId };
  }

  async #sendTo(peerId: string, header: FileHeader, data: ArrayBuffer): Promise<void> {
    const channel = this.#hooks.openChannel(peerId, `file:${header.fileId}`);
    if (!channel) throw new OpenCallError('PEER_NOT_FOUND', `No peer-to-peer link to ${peerId}`);
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
    const verdict = new Promise<boolean>((resolve) => {
      channel.addEventListener('message', (e) => resolve(JSON.parse(String(e.data)).ok === true), {
        once: true,
      });
      channel.addEventListener('close', () => resolve(false), { once: true });
    });
    await waitOpen(channel);
    channel.send(JSON.stringify(header));
    for (let offset = 0; offset < data.byteLength; offset += CHUNK_BYTES) {
      if (channel.bufferedAmount > HIGH_WATER_BYTES) {
        await new Promise((resolve) =>
          channel.addEventListener('bufferedamountlow', resolve, { once: true }),
        );
      }
      if (channel.readyState !== 'open') throw new OpenCallError('CONNECTION_FAILED', 'File channel closed');
      channel.send(data.slice(offset, Math.min(offset + CHUNK_BYTES, data.byteLength)));
      const bytes = Math.min(offset + CHUNK_BYTES, data.byteLength);
      this.#hooks.emit('file-progress', {
        peerId,
        fileId: header.fileId,
        direction: 'out',
        bytes,
        size: header.size,
      });
    }
    channel.send(JSON.stringify({ done: true }));
    const ok = await verdict;
    channel.close();
    if (!ok) throw new OpenCallError('CONNECTION_FAILED', `${peerId} did not receive the file intact`);
  }

  /** A channel a peer opened to us: a file if its label says so. */
  accept(fromPeerId: string, channel: RTCDataChannel): void {
    if (!channel.label.startsWith('file:')) return;
    channel.binaryType = 'arraybuffer';
    let header: FileHeader | undefined;
    const chunks: ArrayBuffer[] = [];
    let bytes = 0;
    channel.addEventListener('message', (e) => {
      if (typeof e.data === 'string') {
        const message = JSON.parse(e.data) as FileHeader | { done: true };
        if ('done' in message) {
          void this.#finish(fromPeerId, channel, header, chunks);
          return;
        }
        header = message;
        if (header.size > MAX_FILE_BYTES) {
          channel.send(JSON.stringify({ ok: false }));
          channel.close();
          return;
        }
        this.#hooks.emit('file-offer', {
          fromPeerId,
          fileId: header.fileId,
          name: header.name,
          size: header.size,
        });
        return;
      }
      if (!header) return;
      chunks.push(e.data as ArrayBuffer);
      bytes += (e.data as ArrayBuffer).byteLength;
      this.#hooks.emit('file-progress', {
        peerId: fromPeerId,
        fileId: header.fileId,
        direction: 'in',
        bytes,
        size: header.size,
      });
    });
  }

  async #finish(
    fromPeerId: string,
    channel: RTCDataChannel,
    header: FileHeader | undefined,
    chunks: ArrayBuffer[],
  ): Promise<void> {
    if (!header) return;
    const file = new Blob(chunks, { type: header.mimeType });
    const sha256 = await sha256Hex(await file.arrayBuffer());
    const ok = sha256 === header.sha256 && file.size === header.size;
    channel.send(JSON.stringify({ ok }));
    if (ok) {
      this.#hooks.emit('file-received', {
        fromPeerId,
        fileId: header.fileId,
        name: header.name,
        size: file.size,
        file,
        sha256,
      });
    }
  }
}
