import type { ServerMessageOf } from '../protocol/index.ts';
import { type FileReceivePipe, type FileSendPipe, HIGH_WATER_BYTES } from './filePipes.ts';
import { OpenCallError, type OpenCallEvents } from './types.ts';

/** Files are sent in pieces of this size (well under every browser's and mediasoup's SCTP limit). */
const CHUNK_BYTES = 64 * 1024;
/** Each piece starts with its index (u32), so a receiver never appends a piece out of place. */
const INDEX_BYTES = 4;
/**
 * Bytes a sender may have sent and not yet seen acknowledged. Through the SFU this is the real flow
 * control: mediasoup drops what does not fit in its buffer towards the receiver (2 MB), it cannot
 * slow the sender down.
 */
const WINDOW_BYTES = 1024 * 1024;
/** A receiver acknowledges every this many bytes, and at the end. */
const ACK_EVERY_BYTES = 256 * 1024;
/** An attempt is given up (and the next one, on whatever path there is then, made) after this long without progress. */
const STALL_MS = 10_000;
/** How long to wait for some path to the receiver to exist (during a switch) before trying anyway. */
const PATH_WAIT_MS = 5_000;
/** Attempts per file and receiver: each one a new data channel, resuming from the last acknowledged byte. */
const MAX_ATTEMPTS = 12;
/** A receiver drops a half-received file after this long without news. */
const RECEIVE_IDLE_MS = 60_000;
/** The largest file sendFile takes. */
export const MAX_FILE_BYTES = 100 * 1024 * 1024;

/** The first message of every attempt: what the file is, and from where this attempt sends it. */
interface FileHeader {
  fileId: string;
  name: string;
  size: number;
  mimeType: string;
  sha256: string;
  offset: number;
}

type Ack = ServerMessageOf<'file-ack'>;

/** Acks for one file and receiver, kept until the attempt they answer looks at them. */
interface AckInbox {
  queue: Ack[];
  wake: (() => void) | undefined;
}

export interface FileTransferHooks {
  /** A new data channel for one attempt at a file to `peerId`, on the path that works now. */
  openPipe(peerId: string, label: string): Promise<FileSendPipe | undefined>;
  /** The peers a file for the whole room goes to. */
  peerIds(): string[];
  hasPeer(peerId: string): boolean;
  /** A file-ack to the file's sender (over signaling). */
  sendAck(ack: { toPeerId: string; fileId: string; attempt: number; bytes: number; ok?: boolean }): void;
  emit<K extends 'file-offer' | 'file-progress' | 'file-received'>(
    event: K,
    payload: OpenCallEvents[K],
  ): void;
  log(...args: unknown[]): void;
}

/** A data channel closed, or stalled: the next attempt goes on from the last acknowledged byte. */
class AttemptBroken extends Error {}

async function sha256Hex(data: ArrayBuffer): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A file being received from one peer: the pieces so far, kept across attempts (and paths). */
interface Incoming {
  header: FileHeader | undefined;
  chunks: ArrayBuffer[];
  bytes: number;
  attempt: number;
  ackedBytes: number;
  /** The SHA-256 is being checked: the verdict follows. */
  finishing: boolean;
  outcome: boolean | undefined;
  idle: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Files between peers: over the P2P links' RTCDataChannels in P2P mode, and through the SFU
 * (mediasoup DataProducer → DataConsumers over SCTP) in SFU mode. The bytes go one way, over a
 * data channel per attempt; the receiver's acknowledgements (`file-ack`, a few per MB) go over
 * signaling, which both paths share. That gives flow control the SFU needs (a window of unacked
 * bytes), and a resume: when a channel closes under a transfer (the room switched P2P⇄SFU, a link
 * failed), the sender opens a new one on the path that works now and goes on from the receiver's
 * acknowledged byte count. The receiver checks the SHA-256 of the whole file and says so in its
 * last ack.
 */
export class FileTransfer {
  readonly #hooks: FileTransferHooks;
  /** Senders waiting for acks, by `${peerId}|${fileId}`. */
  readonly #ackListeners = new Map<string, (ack: Ack) => void>();
  readonly #incoming = new Map<string, Incoming>();
  #pathWaiters: Array<() => void> = [];

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
    for (const peerId of targets) {
      if (!this.#hooks.hasPeer(peerId))
        throw new OpenCallError('PEER_NOT_FOUND', `${peerId} is not in the room`);
    }
    const data = await file.arrayBuffer();
    const header: FileHeader = {
      fileId: crypto.randomUUID(),
      name: file.name ?? 'file',
      size: data.byteLength,
      mimeType: file.type,
      sha256: await sha256Hex(data),
      offset: 0,
    };
    await Promise.all(targets.map((peerId) => this.#sendTo(peerId, header, data)));
    return { fileId: header.fileId };
  }

  /** A file-ack from a receiver. */
  handleAck(ack: Ack): void {
    this.#ackListeners.get(`${ack.fromPeerId}|${ack.fileId}`)?.(ack);
  }

  /** The client's paths changed (a mode switch, an SFU session ready): waiting senders try again. */
  pathsChanged(): void {
    const waiters = this.#pathWaiters;
    this.#pathWaiters = [];
    for (const wake of waiters) wake();
  }

  /** A peer left: what it was sending us is dropped. */
  peerLeft(peerId: string): void {
    for (const [key, incoming] of this.#incoming) {
      if (key.startsWith(`${peerId}|`)) this.#dropIncoming(key, incoming);
    }
  }

  // ------------------------------------------------------------------ sending

  async #sendTo(peerId: string, header: FileHeader, data: ArrayBuffer): Promise<void> {
    const acked = { bytes: 0 };
    // Acks are collected from before a channel opens: the receiver may answer a new channel before
    // the code that opened it runs again.
    const key = `${peerId}|${header.fileId}`;
    const acks: AckInbox = { queue: [], wake: undefined };
    this.#ackListeners.set(key, (ack) => {
      acks.queue.push(ack);
      acks.wake?.();
    });
    try {
      await this.#attempts(peerId, header, data, acked, acks);
    } finally {
      this.#ackListeners.delete(key);
    }
  }

  async #attempts(
    peerId: string,
    header: FileHeader,
    data: ArrayBuffer,
    acked: { bytes: number },
    acks: AckInbox,
  ): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!this.#hooks.hasPeer(peerId)) throw new OpenCallError('PEER_NOT_FOUND', `${peerId} left`);
      const pipe = await this.#hooks
        .openPipe(peerId, `file:${header.fileId}:${attempt}`)
        .catch((err: unknown) => {
          this.#hooks.log('file: no channel to', peerId, err);
          return undefined;
        });
      if (!pipe) {
        await this.#nextPathChange();
        continue;
      }
      try {
        const ok = await this.#attempt(peerId, header, data, pipe, attempt, acked, acks);
        if (!ok) throw new OpenCallError('CONNECTION_FAILED', `${peerId} did not receive the file intact`);
        return;
      } catch (err) {
        if (!(err instanceof AttemptBroken)) throw err;
        this.#hooks.log(
          'file:',
          header.fileId,
          'to',
          peerId,
          `attempt ${attempt} over ${pipe.path}:`,
          err.message,
        );
      } finally {
        pipe.close();
      }
    }
    throw new OpenCallError('CONNECTION_FAILED', `Could not send the file to ${peerId}`);
  }

  /** One data channel's worth of a transfer; resolves with the receiver's verdict. */
  async #attempt(
    peerId: string,
    header: FileHeader,
    data: ArrayBuffer,
    pipe: FileSendPipe,
    attempt: number,
    acked: { bytes: number },
    acks: AckInbox,
  ): Promise<boolean> {
    const cleanups: Array<() => void> = [];
    // Whatever happens next (an ack, the buffer draining, the channel closing) wakes the loop.
    let wake: (() => void) | undefined;
    const signal = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    let broken: string | undefined;
    let ready = false;
    let verdict: boolean | undefined;
    let lastProgress = Date.now();
    const onAck = (ack: Ack) => {
      if (ack.attempt !== attempt) return;
      if (!ready) {
        // The receiver has this attempt's channel: it tells us where to start.
        ready = true;
        acked.bytes = ack.bytes;
      } else if (ack.bytes > acked.bytes) {
        acked.bytes = ack.bytes;
        this.#hooks.emit('file-progress', {
          peerId,
          fileId: header.fileId,
          direction: 'out',
          bytes: ack.bytes,
          size: header.size,
          path: pipe.path,
        });
      }
      if (ack.ok !== undefined) verdict = ack.ok;
      lastProgress = Date.now();
    };
    const takeAcks = () => {
      for (const ack of acks.queue.splice(0)) onAck(ack);
    };
    acks.wake = signal;
    cleanups.push(() => {
      acks.wake = undefined;
    });
    cleanups.push(
      pipe.on('close', () => {
        broken ??= 'channel closed';
        signal();
      }),
    );
    cleanups.push(pipe.on('open', signal));
    cleanups.push(pipe.on('low', signal));
    const stallTimer = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) {
        broken ??= 'no progress';
        signal();
      }
    }, STALL_MS / 4);
    cleanups.push(() => clearInterval(stallTimer));
    const waitForNews = async () => {
      await new Promise<void>((resolve) => {
        wake = resolve;
        // An ack that came while we were busy: no need to wait for the next event.
        if (acks.queue.length > 0) signal();
      });
      takeAcks();
    };
    takeAcks();
    try {
      while (pipe.readyState === 'connecting' && broken === undefined) await waitForNews();
      if (broken === undefined && pipe.readyState !== 'open') broken = 'channel did not open';
      while (!ready && broken === undefined) await waitForNews();
      if (broken !== undefined) throw new AttemptBroken(broken);
      let next = Math.min(acked.bytes - (acked.bytes % CHUNK_BYTES), header.size);
      if (acked.bytes === header.size) next = header.size;
      // A channel closing under us says so in readyState before its close event, and send() then
      // throws: either way it is this attempt that broke, not the transfer.
      const send = (message: string | Uint8Array<ArrayBuffer>) => {
        if (pipe.readyState !== 'open') throw new AttemptBroken('channel closed');
        try {
          pipe.send(message);
        } catch (err) {
          throw new AttemptBroken(err instanceof Error ? err.message : String(err));
        }
      };
      send(JSON.stringify({ ...header, offset: next }));
      for (;;) {
        if (verdict !== undefined) return verdict;
        if (broken !== undefined) throw new AttemptBroken(broken);
        if (
          next < header.size &&
          next - acked.bytes < WINDOW_BYTES &&
          pipe.bufferedAmount < HIGH_WATER_BYTES
        ) {
          const end = Math.min(next + CHUNK_BYTES, header.size);
          const piece = new Uint8Array(INDEX_BYTES + end - next);
          new DataView(piece.buffer).setUint32(0, next / CHUNK_BYTES);
          piece.set(new Uint8Array(data, next, end - next), INDEX_BYTES);
          send(piece);
          next = end;
          continue;
        }
        await waitForNews();
      }
    } finally {
      for (const cleanup of cleanups) cleanup();
    }
  }

  #nextPathChange(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, PATH_WAIT_MS);
      this.#pathWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ------------------------------------------------------------------ receiving

  /** A data channel a peer opened to us (P2P, or an SFU data consumer): a file if its label says so. */
  accept(fromPeerId: string, pipe: FileReceivePipe): void {
    const match = /^file:([A-Za-z0-9_.:@-]{1,64}):(\d{1,4})$/.exec(pipe.label);
    if (!match) return;
    const fileId = match[1] as string;
    const attempt = Number(match[2]);
    const key = `${fromPeerId}|${fileId}`;
    let incoming = this.#incoming.get(key);
    if (!incoming) {
      incoming = {
        header: undefined,
        chunks: [],
        bytes: 0,
        attempt,
        ackedBytes: 0,
        finishing: false,
        outcome: undefined,
        idle: undefined,
      };
      this.#incoming.set(key, incoming);
    }
    const state = incoming;
    state.attempt = Math.max(state.attempt, attempt);
    this.#touch(key, state);
    // Acks go to the newest attempt: the sender listens to that one only.
    const ack = (ok?: boolean) => {
      state.ackedBytes = state.bytes;
      this.#hooks.sendAck({
        toPeerId: fromPeerId,
        fileId,
        attempt: state.attempt,
        bytes: state.bytes,
        ...(ok !== undefined && { ok }),
      });
    };
    pipe.onMessage((data) => {
      if (state.attempt !== attempt || state.outcome !== undefined || state.finishing) return;
      this.#touch(key, state);
      if (typeof data === 'string') {
        this.#onHeader(fromPeerId, key, state, data, pipe);
        return;
      }
      const header = state.header;
      if (!header || data.byteLength <= INDEX_BYTES) return;
      // A piece out of place (one lost on the way): ignored; the sender stalls and resumes from our count.
      if (new DataView(data).getUint32(0) * CHUNK_BYTES !== state.bytes) return;
      state.chunks.push(data.slice(INDEX_BYTES));
      state.bytes += data.byteLength - INDEX_BYTES;
      this.#hooks.emit('file-progress', {
        peerId: fromPeerId,
        fileId,
        direction: 'in',
        bytes: state.bytes,
        size: header.size,
        path: pipe.path,
      });
      if (state.bytes >= header.size) void this.#finish(fromPeerId, key, state, ack);
      else if (state.bytes - state.ackedBytes >= ACK_EVERY_BYTES) ack();
    });
    // Ready for this attempt: say how much we hold (a resume), or what we concluded.
    if (!state.finishing) ack(state.outcome);
  }

  #onHeader(fromPeerId: string, key: string, state: Incoming, text: string, pipe: FileReceivePipe): void {
    let header: FileHeader;
    try {
      header = JSON.parse(text) as FileHeader;
    } catch {
      return;
    }
    if (typeof header.size !== 'number' || header.size > MAX_FILE_BYTES || header.size < 0) {
      this.#hooks.sendAck({
        toPeerId: fromPeerId,
        fileId: header.fileId,
        attempt: state.attempt,
        bytes: 0,
        ok: false,
      });
      this.#dropIncoming(key, state);
      pipe.close();
      return;
    }
    if (!state.header) {
      this.#hooks.emit('file-offer', {
        fromPeerId,
        fileId: header.fileId,
        name: header.name,
        size: header.size,
      });
    }
    state.header = header;
    // The sender goes on from a piece boundary at or below what we acknowledged.
    if (header.offset < state.bytes) {
      state.chunks.length = Math.floor(header.offset / CHUNK_BYTES);
      state.bytes = state.chunks.length * CHUNK_BYTES;
    }
  }

  async #finish(
    fromPeerId: string,
    key: string,
    state: Incoming,
    ack: (ok?: boolean) => void,
  ): Promise<void> {
    const header = state.header;
    if (!header || state.outcome !== undefined || state.finishing) return;
    state.finishing = true;
    const file = new Blob(state.chunks, { type: header.mimeType });
    const sha256 = await sha256Hex(await file.arrayBuffer());
    const ok = sha256 === header.sha256 && file.size === header.size;
    state.outcome = ok;
    state.finishing = false;
    state.chunks = [];
    ack(ok);
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
    // The outcome is kept a while, for a sender that missed the last ack and tries again.
    this.#touch(key, state);
  }

  #touch(key: string, state: Incoming): void {
    if (state.idle) clearTimeout(state.idle);
    state.idle = setTimeout(() => this.#dropIncoming(key, state), RECEIVE_IDLE_MS);
  }

  #dropIncoming(key: string, state: Incoming): void {
    if (state.idle) clearTimeout(state.idle);
    if (this.#incoming.get(key) === state) this.#incoming.delete(key);
  }

  /** Stops every timer (the client left the room). */
  close(): void {
    for (const [key, state] of this.#incoming) this.#dropIncoming(key, state);
    this.pathsChanged();
  }
}
