import { frameWorkerMain } from './frameWorker.ts';

type Kind = 'audio' | 'video';

/** What the media paths call for every sender and receiver of an end-to-end encrypted room. */
export interface FrameTransform {
  sender(sender: RTCRtpSender, kind: Kind): void;
  receiver(receiver: RTCRtpReceiver, kind: Kind): void;
  /** Peer connections must be made with `encodedInsertableStreams: true` (the fallback). */
  readonly insertableStreams: boolean;
}

/** RTCRtpScriptTransform, where the browser has it (Chromium ≥ 141, Safari, Firefox). */
type ScriptTransformCtor = new (worker: Worker, options: { operation: string; kind: Kind }) => unknown;

/** Chromium's older encoded insertable streams (the pc needs `encodedInsertableStreams: true`). */
type WithEncodedStreams = {
  createEncodedStreams(): { readable: ReadableStream; writable: WritableStream };
};

function scriptTransform(): ScriptTransformCtor | undefined {
  return (globalThis as unknown as { RTCRtpScriptTransform?: ScriptTransformCtor }).RTCRtpScriptTransform;
}

function hasEncodedStreams(): boolean {
  return (
    typeof RTCRtpSender !== 'undefined' &&
    typeof (RTCRtpSender.prototype as Partial<WithEncodedStreams>).createEncodedStreams === 'function'
  );
}

/**
 * Puts the E2EE transform on every RTCRtpSender (encrypt) and RTCRtpReceiver (decrypt) of a room,
 * P2P and SFU alike: an RTCRtpScriptTransform where available, else Chromium's encoded insertable
 * streams piped to the same worker. Keys go to the worker as non-extractable CryptoKeys.
 */
export class FrameCryptor implements FrameTransform {
  #worker: Worker | undefined;
  readonly #attached = new WeakSet<RTCRtpSender | RTCRtpReceiver>();

  /** Whether this browser can encrypt frames at all. */
  static get supported(): boolean {
    return typeof Worker !== 'undefined' && (scriptTransform() !== undefined || hasEncodedStreams());
  }

  /**
   * Peer connections need `encodedInsertableStreams: true` when frames go through the fallback
   * (set at construction: both the P2P links and mediasoup-client's transports take it).
   */
  static get needsInsertableStreams(): boolean {
    return scriptTransform() === undefined && hasEncodedStreams();
  }

  get insertableStreams(): boolean {
    return FrameCryptor.needsInsertableStreams;
  }

  sender(sender: RTCRtpSender, kind: Kind): void {
    this.#attach(sender, 'encrypt', kind);
  }

  receiver(receiver: RTCRtpReceiver, kind: Kind): void {
    this.#attach(receiver, 'decrypt', kind);
  }

  setKey(keyId: number, key: CryptoKey): void {
    this.#ensureWorker().postMessage({ type: 'key', keyId, key });
  }

  /** Frames we send from now on are sealed with this key. */
  setSendKey(keyId: number): void {
    this.#ensureWorker().postMessage({ type: 'send-key', keyId });
  }

  /** Frames encrypted, decrypted and dropped so far (diagnostics and tests). */
  counts(): Promise<{ encrypted: number; decrypted: number; dropped: number }> {
    const worker = this.#ensureWorker();
    return new Promise((resolve) => {
      const onMessage = (event: MessageEvent) => {
        if (event.data?.type !== 'counts') return;
        worker.removeEventListener('message', onMessage);
        const { encrypted, decrypted, dropped } = event.data;
        resolve({ encrypted, decrypted, dropped });
      };
      worker.addEventListener('message', onMessage);
      worker.postMessage({ type: 'counts' });
    });
  }

  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #attach(target: RTCRtpSender | RTCRtpReceiver, operation: 'encrypt' | 'decrypt', kind: Kind): void {
    if (this.#attached.has(target)) return;
    this.#attached.add(target);
    const worker = this.#ensureWorker();
    const Transform = scriptTransform();
    if (Transform) {
      (target as { transform: unknown }).transform = new Transform(worker, { operation, kind });
      return;
    }
    const { readable, writable } = (target as unknown as WithEncodedStreams).createEncodedStreams();
    worker.postMessage({ type: 'stream', operation, kind, readable, writable }, [
      readable as unknown as Transferable,
      writable as unknown as Transferable,
    ]);
  }

  #ensureWorker(): Worker {
    if (!this.#worker) {
      const source = `(${frameWorkerMain.toString()})();`;
      const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      this.#worker = new Worker(url, { name: 'opencall-e2ee' });
      URL.revokeObjectURL(url);
    }
    return this.#worker;
  }
}
