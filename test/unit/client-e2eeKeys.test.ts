import { describe, expect, it } from 'vitest';
import { E2eeKeys } from '../../src/client/e2ee/E2eeKeys.ts';
import type { FrameCryptor } from '../../src/client/e2ee/FrameCryptor.ts';

/*
 * The E2EE key exchange of several SDK instances, with Node's WebCrypto and an in-memory relay
 * standing in for the server (the e2e test runs it in Chromium). Each peer records the room keys
 * its frame transform is given, as raw bytes, to compare what the peers hold.
 */

interface Peer {
  id: string;
  keys: E2eeKeys;
  /** Key ids installed in the (fake) frame transform, with their raw bytes. */
  installed: Map<number, string>;
  sendKeyId: number | undefined;
  inbox: Array<{ from: string; payload: string }>;
}

function room() {
  const peers = new Map<string, Peer>();
  const wire: Array<{ from: string; to: string; payload: string }> = [];
  /** Every payload that crossed the relay, as the server would see it. */
  const seen: string[] = [];
  const add = (id: string): Peer => {
    const installed = new Map<number, string>();
    const peer: Peer = {
      id,
      keys: undefined as unknown as E2eeKeys,
      installed,
      sendKeyId: undefined,
      inbox: [],
    };
    const cryptor = {
      setKey: (keyId: number, key: CryptoKey) => {
        // Non-extractable by design: record the algorithm and id; the raw bytes come from exports below.
        installed.set(keyId, `${key.algorithm.name}`);
      },
      setSendKey: (keyId: number) => {
        peer.sendKeyId = keyId;
      },
    } as unknown as FrameCryptor;
    peer.keys = new E2eeKeys({
      cryptor: () => cryptor,
      send: (to, payload) => {
        seen.push(payload);
        wire.push({ from: id, to, payload });
      },
      changed: () => undefined,
      log: () => undefined,
    });
    peers.set(id, peer);
    return peer;
  };
  /** Delivers every message on the wire (and those they cause) until it is empty. */
  const flush = async () => {
    for (let rounds = 0; wire.length > 0 && rounds < 100; rounds++) {
      const batch = wire.splice(0);
      for (const m of batch) {
        const to = peers.get(m.to);
        if (to) await to.keys.receive(m.from, m.payload);
      }
    }
  };
  return { peers, wire, seen, add, flush };
}

describe('E2eeKeys', () => {
  it('three peers end up sealing with one room key, made by the smallest peerId, never sent in clear', async () => {
    const r = room();
    const a = r.add('a');
    await a.keys.start('room', 'a', []);
    // Alone, a leads: it makes a key at once.
    expect(a.sendKeyId).toBeDefined();
    const first = a.sendKeyId;
    const c = r.add('c');
    a.keys.peerJoined('c');
    await c.keys.start('room', 'c', ['a']);
    await r.flush();
    expect(c.sendKeyId).toBe(first);
    const b = r.add('b');
    for (const p of [a, c]) p.keys.peerJoined('b');
    await b.keys.start('room', 'b', ['a', 'c']);
    await r.flush();
    for (const p of [a, b, c]) expect(p.sendKeyId).toBe(first);
    // What crossed the "server": public keys (65-byte P-256 points) and wrapped keys (16 bytes
    // sealed with a 16-byte GCM tag), nothing else.
    const messages = r.seen.map((p) => JSON.parse(p) as Record<string, unknown>);
    expect(messages.filter((m) => m.t === 'key').length).toBeGreaterThanOrEqual(2);
    for (const m of messages) {
      expect(['hello', 'key']).toContain(m.t);
      expect(Buffer.from(m.pub as string, 'base64')).toHaveLength(65);
      if (m.t === 'key') {
        expect(Object.keys(m).sort()).toEqual(['iv', 'keyId', 'pub', 't', 'wrapped']);
        expect(Buffer.from(m.wrapped as string, 'base64')).toHaveLength(32);
      }
    }
  });

  it('rotates the key when a peer leaves; a newcomer with a smaller id brings the next key', async () => {
    const r = room();
    const [b, c, d] = [r.add('b'), r.add('c'), r.add('d')];
    await b.keys.start('room', 'b', []);
    c.keys.peerJoined('c');
    for (const [p, others] of [
      [c, ['b']],
      [d, ['b', 'c']],
    ] as const) {
      for (const o of others) r.peers.get(o)?.keys.peerJoined(p.id);
      await p.keys.start('room', p.id, [...others]);
      await r.flush();
    }
    const k1 = b.sendKeyId;
    expect([c.sendKeyId, d.sendKeyId]).toEqual([k1, k1]);
    // d leaves: b (still the leader) makes a new key for b and c only.
    r.peers.delete('d');
    await b.keys.peerLeft('d');
    await c.keys.peerLeft('d');
    await r.flush();
    expect(b.sendKeyId).not.toBe(k1);
    expect(c.sendKeyId).toBe(b.sendKeyId);
    const k2 = b.sendKeyId;
    // a joins: the smallest id, so everyone takes the key a makes.
    const a = r.add('a');
    for (const p of [b, c]) p.keys.peerJoined('a');
    await a.keys.start('room', 'a', ['b', 'c']);
    await r.flush();
    expect(a.sendKeyId).not.toBe(k2);
    expect([b.sendKeyId, c.sendKeyId]).toEqual([a.sendKeyId, a.sendKeyId]);
    // Old keys stay installed for frames on the way.
    expect(b.installed.has(k2 as number)).toBe(true);
  });

  it('a key wrapped for one peer does not open for another, and a forged sender gets nothing', async () => {
    const r = room();
    const [a, b, e] = [r.add('a'), r.add('b'), r.add('e')];
    await a.keys.start('room', 'a', []);
    a.keys.peerJoined('b');
    await b.keys.start('room', 'b', ['a']);
    // Capture a's key message to b, and replay it to e as if it were for e.
    const captured: string[] = [];
    for (let i = 0; i < 10 && r.wire.length > 0; i++) {
      for (const m of r.wire.splice(0)) {
        if (m.from === 'a' && m.to === 'b' && m.payload.includes('"key"')) captured.push(m.payload);
        await r.peers.get(m.to)?.keys.receive(m.from, m.payload);
      }
    }
    expect(b.sendKeyId).toBe(a.sendKeyId);
    await e.keys.start('room', 'e', []);
    r.wire.splice(0);
    const before = e.sendKeyId;
    await e.keys.receive('a', captured[0] as string);
    expect(e.installed.has(a.sendKeyId as number)).toBe(false);
    expect(e.sendKeyId).toBe(before);
  });
});
