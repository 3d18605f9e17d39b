import type { FrameCryptor } from './FrameCryptor.ts';

/** What one peer sends another, inside an opaque `e2ee-key` relay (the server never parses it). */
type KeyMessage =
  | { t: 'hello'; pub: string; reply?: true }
  | { t: 'key'; pub: string; keyId: number; iv: string; wrapped: string };

export interface E2eeKeysHooks {
  /** Where the keys go (the room's frame transform); undefined outside an E2EE room. */
  cryptor(): FrameCryptor | undefined;
  /** Relays a payload to one peer (e2ee-key). */
  send(toPeerId: string, payload: string): void;
  /** The room key we send with changed (undefined: none yet). */
  changed(state: { active: boolean; keyId: number | undefined }): void;
  log(...args: unknown[]): void;
}

const b64 = (bytes: ArrayBuffer | Uint8Array): string => {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = '';
  for (const b of view) text += String.fromCharCode(b);
  return btoa(text);
};
const unb64 = (text: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;

/**
 * The room key of an E2EE room, agreed among the peers with the server as a blind relay.
 *
 * - Every peer makes an ECDH P-256 key pair when it joins and says `hello` (its public key) to
 *   every peer there; each answers with its own.
 * - The key leader, the peer with the smallest peerId in the room (each peer computes it from the
 *   same member list), makes the room key: 128-bit AES-GCM with a random 32-bit key id, and sends
 *   it to each peer wrapped with AES-GCM under the ECDH secret of the pair (the room, both peer ids
 *   and the key id bound in as additional data).
 * - When a peer leaves, the leader (perhaps a new one) makes a new key for those who stay: the
 *   peer that left cannot decrypt what follows. A newcomer gets the current key, or, when its
 *   peerId makes it the leader, brings a new one.
 * - Everyone seals its frames with the key the current leader sent (or made); frames sealed with
 *   the last few keys still open, for the frames on the way during a rotation.
 *
 * What it protects against: the signaling server and the SFU see public keys and wrapped keys,
 * never a room key, so neither can decrypt media. What it does not: a server that actively
 * substitutes public keys (no identity verification of the keys yet).
 */
export class E2eeKeys {
  readonly #hooks: E2eeKeysHooks;
  #roomId = '';
  #selfId = '';
  #pair: CryptoKeyPair | undefined;
  #publicRaw = '';
  readonly #peers = new Set<string>();
  readonly #publicKeys = new Map<string, CryptoKey>();
  /** The key we hold as leader: raw bytes (to wrap for others) and its id. */
  #ownKey: { keyId: number; raw: Uint8Array<ArrayBuffer> } | undefined;
  #sendKeyId: number | undefined;
  #generation = 0;

  constructor(hooks: E2eeKeysHooks) {
    this.#hooks = hooks;
  }

  get keyId(): number | undefined {
    return this.#sendKeyId;
  }

  /** We joined (or re-joined) an E2EE room with these peers. */
  async start(roomId: string, selfId: string, peerIds: string[]): Promise<void> {
    const generation = ++this.#generation;
    this.#roomId = roomId;
    this.#selfId = selfId;
    this.#peers.clear();
    this.#publicKeys.clear();
    this.#ownKey = undefined;
    this.#setSendKey(undefined);
    for (const peerId of peerIds) this.#peers.add(peerId);
    this.#pair = await crypto.subtle.generateKey(ECDH, false, ['deriveKey']);
    this.#publicRaw = b64(await crypto.subtle.exportKey('raw', this.#pair.publicKey));
    if (generation !== this.#generation) return;
    for (const peerId of peerIds) this.#hello(peerId, false);
    if (this.#isLeader()) await this.#rotate('joined as key leader');
  }

  /** A peer joined (or came back with a fresh start: its old public key is void). */
  peerJoined(peerId: string): void {
    this.#peers.add(peerId);
    this.#publicKeys.delete(peerId);
  }

  async peerLeft(peerId: string): Promise<void> {
    if (!this.#peers.delete(peerId)) return;
    this.#publicKeys.delete(peerId);
    if (this.#pair && this.#isLeader()) await this.#rotate(`${peerId} left`);
  }

  /** An e2ee-key payload from a peer. */
  async receive(fromPeerId: string, payload: string): Promise<void> {
    if (!this.#pair) return;
    let message: KeyMessage;
    try {
      message = JSON.parse(payload) as KeyMessage;
      await this.#learnPublicKey(fromPeerId, message.pub);
    } catch (err) {
      this.#hooks.log('e2ee: unreadable key message from', fromPeerId, err);
      return;
    }
    this.#peers.add(fromPeerId);
    if (message.t === 'hello') {
      if (!message.reply) this.#hello(fromPeerId, true);
      if (this.#isLeader() && this.#ownKey) await this.#sendKeyTo(fromPeerId, this.#ownKey);
      return;
    }
    if (message.t === 'key') await this.#acceptKey(fromPeerId, message);
  }

  stop(): void {
    this.#generation++;
    this.#pair = undefined;
    this.#ownKey = undefined;
    this.#peers.clear();
    this.#publicKeys.clear();
    this.#setSendKey(undefined);
  }

  // ------------------------------------------------------------------ internals

  #isLeader(): boolean {
    for (const peerId of this.#peers) if (peerId < this.#selfId) return false;
    return true;
  }

  #leader(): string {
    let leader = this.#selfId;
    for (const peerId of this.#peers) if (peerId < leader) leader = peerId;
    return leader;
  }

  /** Our public key to a peer; a first hello asks for the peer's in return. */
  #hello(peerId: string, reply: boolean): void {
    const message: KeyMessage = { t: 'hello', pub: this.#publicRaw, ...(reply && { reply: true as const }) };
    this.#hooks.send(peerId, JSON.stringify(message));
  }

  async #learnPublicKey(peerId: string, pub: string): Promise<void> {
    if (typeof pub !== 'string') throw new Error('no public key');
    const key = await crypto.subtle.importKey('raw', unb64(pub), ECDH, false, []);
    this.#publicKeys.set(peerId, key);
  }

  async #rotate(why: string): Promise<void> {
    const raw = crypto.getRandomValues(new Uint8Array(16));
    const keyId = crypto.getRandomValues(new Uint32Array(1))[0] as number;
    const own = { keyId, raw };
    this.#ownKey = own;
    await this.#install(keyId, raw);
    this.#setSendKey(keyId);
    this.#hooks.log('e2ee: new room key', keyId, `(${why})`);
    await Promise.all([...this.#publicKeys.keys()].map((peerId) => this.#sendKeyTo(peerId, own)));
  }

  async #install(keyId: number, raw: Uint8Array<ArrayBuffer>): Promise<void> {
    const key = await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
    this.#hooks.cryptor()?.setKey(keyId, key);
  }

  #setSendKey(keyId: number | undefined): void {
    if (keyId === this.#sendKeyId) return;
    this.#sendKeyId = keyId;
    if (keyId !== undefined) this.#hooks.cryptor()?.setSendKey(keyId);
    this.#hooks.changed({ active: keyId !== undefined, keyId });
  }

  /** The AES-GCM key wrapping the room key between us and `peerId` (ECDH), and the data bound in. */
  async #wrapping(peerId: string, from: string, to: string, keyId: number) {
    const theirs = this.#publicKeys.get(peerId);
    if (!theirs || !this.#pair) return undefined;
    const key = await crypto.subtle.deriveKey(
      { name: 'ECDH', public: theirs },
      this.#pair.privateKey,
      { name: 'AES-GCM', length: 256 },
      false,
      ['encrypt', 'decrypt'],
    );
    const additionalData = new TextEncoder().encode(`opencall-e2ee|${this.#roomId}|${from}|${to}|${keyId}`);
    return { key, additionalData };
  }

  async #sendKeyTo(peerId: string, own: { keyId: number; raw: Uint8Array<ArrayBuffer> }): Promise<void> {
    const wrapping = await this.#wrapping(peerId, this.#selfId, peerId, own.keyId);
    if (!wrapping || this.#ownKey !== own) return;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const wrapped = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: wrapping.additionalData },
      wrapping.key,
      own.raw,
    );
    const message: KeyMessage = {
      t: 'key',
      pub: this.#publicRaw,
      keyId: own.keyId,
      iv: b64(iv),
      wrapped: b64(wrapped),
    };
    this.#hooks.send(peerId, JSON.stringify(message));
  }

  async #acceptKey(fromPeerId: string, message: Extract<KeyMessage, { t: 'key' }>): Promise<void> {
    const wrapping = await this.#wrapping(fromPeerId, fromPeerId, this.#selfId, message.keyId);
    if (!wrapping) return;
    let raw: Uint8Array<ArrayBuffer>;
    try {
      raw = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: unb64(message.iv), additionalData: wrapping.additionalData },
          wrapping.key,
          unb64(message.wrapped),
        ),
      );
    } catch {
      this.#hooks.log('e2ee: a key from', fromPeerId, 'did not unwrap');
      return;
    }
    await this.#install(message.keyId, raw);
    // Keys from a peer that is not (or no longer) the leader still open its frames, but we seal ours
    // with the leader's only.
    if (fromPeerId === this.#leader()) {
      this.#ownKey = undefined;
      this.#setSendKey(message.keyId);
    }
  }
}
