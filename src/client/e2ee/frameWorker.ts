/**
 * The body of the E2EE worker: encrypts outgoing and decrypts incoming encoded media frames with
 * AES-GCM. It runs from a Blob URL made of this function's source (FrameCryptor), so it must not
 * use anything from outside its own body (no imports, no module-level names).
 *
 * Frame layout, SFrame style with the key id in every frame, but the codec's first bytes left in
 * clear (as Jitsi and LiveKit do) so that packetizers and the SFU still see what kind of frame it
 * is (a VP8 key frame's 10-byte header, a delta frame's 3 bytes, Opus's TOC byte):
 *
 *   [clear header, n bytes][AES-GCM ciphertext + 16-byte tag][IV, 12 bytes][key id, u32][n, u8]
 *
 * The clear header is the additional authenticated data. A frame that does not decrypt (no key,
 * an unknown key id, a failed tag) is dropped: a receiver without the key decodes nothing, and a
 * sender without a key sends nothing rather than plain media.
 *
 * Messages from the page: {type:'key', keyId, key: CryptoKey}, {type:'send-key', keyId},
 * {type:'stream', operation, kind, readable, writable} (the encoded-insertable-streams fallback).
 * Script transforms arrive as rtctransform events with options {operation, kind}.
 */
export function frameWorkerMain(): void {
  type Operation = 'encrypt' | 'decrypt';
  type EncodedFrame = { data: ArrayBuffer; type?: string };
  type Transformer = {
    readable: ReadableStream<EncodedFrame>;
    writable: WritableStream<EncodedFrame>;
    options: { operation: Operation; kind: 'audio' | 'video' };
    generateKeyFrame?: () => Promise<unknown>;
    sendKeyFrameRequest?: () => Promise<unknown>;
  };
  const scope = self as unknown as {
    onmessage: ((event: MessageEvent) => void) | null;
    onrtctransform: ((event: { transformer: Transformer }) => void) | null;
    postMessage(message: unknown): void;
  };
  const IV_BYTES = 12;
  const TRAILER_BYTES = IV_BYTES + 4 + 1;
  const TAG_BYTES = 16;
  /** Old keys stay a while: frames sealed with them may still be on the way after a rotation. */
  const KEPT_KEYS = 5;
  const keys = new Map<number, CryptoKey>();
  let sendKeyId: number | undefined;
  const senders = new Set<Transformer>();
  const receivers = new Set<Transformer>();
  const counts = { encrypted: 0, decrypted: 0, dropped: 0 };

  const clearBytes = (kind: string, frame: EncodedFrame, size: number): number =>
    Math.min(kind === 'audio' ? 1 : frame.type === 'key' ? 10 : 3, size);

  async function encrypt(kind: string, frame: EncodedFrame): Promise<boolean> {
    const keyId = sendKeyId;
    const key = keyId === undefined ? undefined : keys.get(keyId);
    if (keyId === undefined || !key) return false;
    const data = new Uint8Array(frame.data);
    const n = clearBytes(kind, frame, data.byteLength);
    const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: data.subarray(0, n) },
        key,
        data.subarray(n),
      ),
    );
    const out = new Uint8Array(n + sealed.byteLength + TRAILER_BYTES);
    out.set(data.subarray(0, n));
    out.set(sealed, n);
    out.set(iv, n + sealed.byteLength);
    new DataView(out.buffer).setUint32(n + sealed.byteLength + IV_BYTES, keyId);
    out[out.byteLength - 1] = n;
    frame.data = out.buffer;
    counts.encrypted++;
    return true;
  }

  async function decrypt(frame: EncodedFrame): Promise<boolean> {
    const data = new Uint8Array(frame.data);
    const size = data.byteLength;
    if (size < TRAILER_BYTES + TAG_BYTES) return false;
    const n = data[size - 1] as number;
    const keyId = new DataView(data.buffer, data.byteOffset).getUint32(size - 5);
    const key = keys.get(keyId);
    if (!key || n > size - TRAILER_BYTES - TAG_BYTES) return false;
    const iv = data.subarray(size - TRAILER_BYTES, size - 5);
    try {
      const plain = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv, additionalData: data.subarray(0, n) },
          key,
          data.subarray(n, size - TRAILER_BYTES),
        ),
      );
      const out = new Uint8Array(n + plain.byteLength);
      out.set(data.subarray(0, n));
      out.set(plain, n);
      frame.data = out.buffer;
      counts.decrypted++;
      return true;
    } catch {
      return false;
    }
  }

  function pipe(
    readable: ReadableStream<EncodedFrame>,
    writable: WritableStream<EncodedFrame>,
    operation: Operation,
    kind: string,
  ): void {
    const transform = new TransformStream<EncodedFrame, EncodedFrame>({
      async transform(frame, controller) {
        const ok = operation === 'encrypt' ? await encrypt(kind, frame) : await decrypt(frame);
        if (ok) controller.enqueue(frame);
        else counts.dropped++;
      },
    });
    readable
      .pipeThrough(transform)
      .pipeTo(writable)
      .catch(() => undefined);
  }

  scope.onrtctransform = (event) => {
    const transformer = event.transformer;
    const { operation, kind } = transformer.options;
    (operation === 'encrypt' ? senders : receivers).add(transformer);
    pipe(transformer.readable, transformer.writable, operation, kind);
  };

  scope.onmessage = (event: MessageEvent) => {
    const m = event.data as {
      type: string;
      keyId?: number;
      key?: CryptoKey;
      operation?: Operation;
      kind?: string;
      readable?: ReadableStream<EncodedFrame>;
      writable?: WritableStream<EncodedFrame>;
    };
    if (m.type === 'key' && m.keyId !== undefined && m.key) {
      keys.set(m.keyId, m.key);
      while (keys.size > KEPT_KEYS) keys.delete(keys.keys().next().value as number);
      // Frames dropped for want of this key leave decoders waiting for a key frame: ask for one.
      for (const r of receivers) r.sendKeyFrameRequest?.().catch(() => undefined);
    } else if (m.type === 'send-key' && m.keyId !== undefined) {
      sendKeyId = m.keyId;
      for (const s of senders) s.generateKeyFrame?.().catch(() => undefined);
    } else if (m.type === 'stream' && m.readable && m.writable && m.operation && m.kind) {
      pipe(m.readable, m.writable, m.operation, m.kind);
    } else if (m.type === 'counts') {
      scope.postMessage({ type: 'counts', ...counts });
    }
  };
}
