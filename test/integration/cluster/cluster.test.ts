import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../../src/protocol/index.ts';
import { type NodeProcess, startProcess, stopProcess } from '../../helpers/nodeProcess.ts';
import { type RedisServerHandle, startRedisServer, uniqueKeyPrefix } from '../../helpers/redisServer.ts';
import { TestClient } from '../../helpers/wsClient.ts';

/**
 * Three real OpenCall processes on 127.0.0.1, different ports, one real redis-server: signaling
 * between peers of different nodes, a node's death, and a drained node's peers resuming elsewhere.
 */
const HEARTBEAT_MS = 300;

interface Node {
  id: string;
  proc: NodeProcess;
  base: string;
  ws: string;
}

describe('a cluster of three nodes on one Redis', () => {
  let redis: RedisServerHandle;
  const prefix = uniqueKeyPrefix('cluster');
  const nodes: Node[] = [];
  const clients: TestClient[] = [];

  async function startNode(id: string): Promise<Node> {
    const proc = startProcess({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: prefix,
      NODE_ID: id,
      NODE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      RESUME_WINDOW_MS: '15000',
      LOG_LEVEL: 'info',
    });
    const base = await proc.listening;
    const node = { id, proc, base, ws: `${base.replace('http', 'ws')}/ws` };
    nodes.push(node);
    return node;
  }

  async function connect(node: Node): Promise<TestClient> {
    const client = await TestClient.connect(node.ws);
    clients.push(client);
    return client;
  }

  beforeAll(async () => {
    redis = await startRedisServer();
    await Promise.all(['node-a', 'node-b', 'node-c'].map(startNode));
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    for (const node of nodes) stopProcess(node.proc.child);
    await redis?.stop();
  });

  const node = (id: string) => {
    const found = nodes.find((n) => n.id === id);
    if (!found) throw new Error(`no node ${id}`);
    return found;
  };

  it('relays offer, answer and candidates between peers of different nodes, in order', async () => {
    const alice = await connect(node('node-a'));
    const bob = await connect(node('node-b'));
    await alice.join('relay', 'alice');
    const bobJoined = await bob.join('relay', 'bob');
    expect(bobJoined.peers.map((p) => p.peerId)).toEqual(['alice']);
    const heard = await alice.next('peer-joined');
    expect(heard.peerId).toBe('bob');

    alice.send({
      type: 'offer',
      roomId: 'relay',
      toPeerId: 'bob',
      offer: { type: 'offer', sdp: 'v=0 offer' },
    });
    const offer = await bob.next('offer');
    expect(offer.fromPeerId).toBe('alice');
    expect(offer.offer.sdp).toBe('v=0 offer');
    bob.send({
      type: 'answer',
      roomId: 'relay',
      toPeerId: 'alice',
      answer: { type: 'answer', sdp: 'v=0 answer' },
    });
    expect((await alice.next('answer')).fromPeerId).toBe('bob');

    // A spoofed sender is refused, not relayed.
    const spoof = await bob.request({
      type: 'ice-candidate',
      roomId: 'relay',
      fromPeerId: 'alice',
      toPeerId: 'alice',
      candidate: { candidate: 'x' },
    });
    expect(spoof).toMatchObject({ type: 'error', code: 'FORBIDDEN' });

    const count = 300;
    for (let i = 0; i < count; i++) {
      alice.send({
        type: 'ice-candidate',
        roomId: 'relay',
        toPeerId: 'bob',
        candidate: { candidate: `candidate:${i} 1 udp 1 127.0.0.1 ${10000 + i} typ host`, sdpMid: '0' },
      });
    }
    const got: string[] = [];
    for (let i = 0; i < count; i++) {
      const c = await bob.next('ice-candidate');
      expect(c.fromPeerId).toBe('alice');
      got.push(String(c.candidate?.candidate));
    }
    expect(got).toEqual(
      Array.from({ length: count }, (_, i) => `candidate:${i} 1 udp 1 127.0.0.1 ${10000 + i} typ host`),
    );

    // Media state and chat reach the other node; the store has both peers for REST on either node.
    alice.send({
      type: 'media-state-changed',
      roomId: 'relay',
      mediaState: { audio: false, video: true, screen: false },
    });
    expect((await bob.next('media-state-changed')).peerId).toBe('alice');
    const chat = await bob.request({ type: 'chat-message', text: 'hello from b' });
    expect(chat.type).toBe('chat-message');
    expect((await alice.next('chat-message')).message).toMatchObject({
      fromPeerId: 'bob',
      text: 'hello from b',
    });
    const rest = (await (await fetch(`${node('node-c').base}/api/rooms/relay`)).json()) as {
      participantCount: number;
    };
    expect(rest.participantCount).toBe(2);

    // The cluster's own series move: heartbeat round trips to Redis and pub/sub lag of self-pings.
    const metrics = await (await fetch(`${node('node-a').base}/metrics`)).text();
    for (const series of [
      'opencall_redis_command_seconds_count{command="heartbeat"}',
      'opencall_redis_command_seconds_count{command="join"}',
      'opencall_pubsub_lag_seconds_count',
    ]) {
      const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
      expect(Number(line?.split(' ')[1])).toBeGreaterThan(0);
    }

    bob.send({ type: 'leave-room', roomId: 'relay' });
    expect((await alice.next('peer-left')).peerId).toBe('bob');
    const gone = await alice.request({
      type: 'offer',
      roomId: 'relay',
      toPeerId: 'bob',
      offer: { type: 'offer', sdp: 'v=0' },
    });
    expect(gone).toMatchObject({ type: 'error', code: 'PEER_NOT_FOUND' });
  });

  it('kicks and closes rooms across nodes', async () => {
    const host = await connect(node('node-a'));
    const guest = await connect(node('node-c'));
    const other = await connect(node('node-b'));
    await host.join('hosted', 'host');
    await guest.join('hosted', 'guest');
    await other.join('hosted', 'other');
    // The host kicks the guest it has heard of (its peer-joined came through the cluster).
    await host.next('peer-joined', (m) => m.peerId === 'guest');
    const done = await host.request({ type: 'kick-peer', peerId: 'guest', reason: 'test' });
    expect(done).toMatchObject({ type: 'host-action-done', action: 'kick', peerId: 'guest' });
    expect((await guest.next('kicked')).reason).toBe('test');
    expect((await other.next('peer-left', (m) => m.peerId === 'guest')).roomId).toBe('hosted');
    expect((await host.next('peer-left', (m) => m.peerId === 'guest')).roomId).toBe('hosted');

    const deleted = await fetch(`${node('node-c').base}/api/rooms/hosted`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect((await host.next('room-closed')).roomId).toBe('hosted');
    expect((await other.next('room-closed')).roomId).toBe('hosted');
  });

  it('a waiting room works across nodes: the knock reaches the host, its admit the guest', async () => {
    const host = await connect(node('node-a'));
    await host.join('lobby', 'host');
    expect(await host.request({ type: 'set-waiting-room', enabled: true })).toMatchObject({
      waitingRoom: true,
    });
    const guest = await connect(node('node-c'));
    const answer = guest.request({
      type: 'join-room',
      roomId: 'lobby',
      peerId: 'guest',
      displayName: 'Guest',
      mediaState: { audio: false, video: false, screen: false },
    });
    await guest.next('waiting');
    expect(await host.next('knock')).toMatchObject({ peerId: 'guest', displayName: 'Guest' });
    expect(await host.request({ type: 'admit-peer', peerId: 'guest' })).toMatchObject({ action: 'admit' });
    expect(await answer).toMatchObject({ type: 'room-joined', peerId: 'guest' });
    expect(await host.next('knock-ended')).toMatchObject({ peerId: 'guest', outcome: 'admitted' });
    expect((await host.next('peer-joined')).peerId).toBe('guest');

    // And a denial: the second guest's join-room gets FORBIDDEN with the host's reason.
    const other = await connect(node('node-b'));
    const refused = other.request({
      type: 'join-room',
      roomId: 'lobby',
      peerId: 'other',
      displayName: 'Other',
      mediaState: { audio: false, video: false, screen: false },
    });
    await host.next('knock', (m) => m.peerId === 'other');
    await host.request({ type: 'deny-peer', peerId: 'other', reason: 'not today' });
    expect(await refused).toMatchObject({ type: 'error', code: 'FORBIDDEN', error: 'not today' });
    expect(await host.next('knock-ended', (m) => m.peerId === 'other')).toMatchObject({ outcome: 'denied' });
  });

  it('breakout rooms reach guests on other nodes, and bring them back', async () => {
    const host = await connect(node('node-a'));
    const onB = await connect(node('node-b'));
    const onC = await connect(node('node-c'));
    await host.join('meet', 'host');
    await onB.join('meet', 'gb');
    await onC.join('meet', 'gc');
    await host.next('peer-joined', (m) => m.peerId === 'gc');
    const opened = await host.request({
      type: 'open-breakouts',
      rooms: [
        { name: 'One', peerIds: ['gb'] },
        { name: 'Two', peerIds: ['gc'] },
      ],
    });
    expect(opened).toMatchObject({
      type: 'breakouts',
      breakouts: [{ roomId: 'meet.b1' }, { roomId: 'meet.b2' }],
    });
    expect(await onB.next('move-to-room')).toMatchObject({ roomId: 'meet.b1', name: 'One' });
    expect(await onC.next('move-to-room')).toMatchObject({ roomId: 'meet.b2', name: 'Two' });
    for (const [client, target] of [
      [onB, 'meet.b1'],
      [onC, 'meet.b2'],
    ] as const) {
      await client.request({ type: 'leave-room' });
      expect(
        (
          await client.request({
            type: 'join-room',
            roomId: target,
            peerId: client === onB ? 'gb' : 'gc',
            displayName: 'g',
            mediaState: { audio: false, video: false, screen: false },
          })
        ).type,
      ).toBe('room-joined');
    }
    // The host's node knows nobody in the breakout rooms: its broadcast and close still reach them.
    await host.request({ type: 'breakout-broadcast', text: 'time' });
    expect((await onB.next('breakout-message')).text).toBe('time');
    expect((await onC.next('breakout-message')).text).toBe('time');
    await host.request({ type: 'close-breakouts' });
    expect(await onB.next('move-to-room')).toMatchObject({ roomId: 'meet', fromRoomId: 'meet.b1' });
    expect(await onC.next('move-to-room')).toMatchObject({ roomId: 'meet', fromRoomId: 'meet.b2' });
  });

  it('a drained node’s peer resumes on another node: same peer, no peer-left, relays follow it', async () => {
    const staying = await connect(node('node-a'));
    const moving = await connect(node('node-b'));
    await staying.join('drain', 'staying');
    const joined = await moving.join('drain', 'moving');
    expect(joined.resumeToken).toBeDefined();
    await staying.next('peer-joined');

    const shutdown = moving.next('server-shutdown');
    const started = Date.now();
    node('node-b').proc.child.kill('SIGTERM');
    await shutdown;
    await moving.closed;
    const again = await connect(node('node-c'));
    const resumed = (await again.request({
      type: 'join-room',
      roomId: 'drain',
      peerId: 'moving',
      displayName: 'moving',
      mediaState: { audio: true, video: true, screen: false },
      resumeToken: joined.resumeToken,
    })) as ServerMessageOf<'room-joined'>;
    expect(resumed).toMatchObject({ type: 'room-joined', peerId: 'moving', resumed: true });
    expect(resumed.peers.map((p) => p.peerId)).toEqual(['staying']);
    expect(Date.now() - started).toBeLessThan(5000);
    const [code] = await node('node-b').proc.exited;
    expect(code).toBe(0);

    // Relays reach it on its new node, both ways.
    staying.send({
      type: 'offer',
      roomId: 'drain',
      toPeerId: 'moving',
      offer: { type: 'offer', sdp: 'v=0 again' },
    });
    expect((await again.next('offer')).offer.sdp).toBe('v=0 again');
    again.send({
      type: 'answer',
      roomId: 'drain',
      toPeerId: 'staying',
      answer: { type: 'answer', sdp: 'v=0 a' },
    });
    expect((await staying.next('answer')).fromPeerId).toBe('moving');
    // Long after node-b is declared dead, nobody heard peer-left: the peer never left.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 5));
    expect(staying.received.filter((m) => m.type === 'peer-left')).toEqual([]);
    const rest = (await (await fetch(`${node('node-a').base}/api/rooms/drain`)).json()) as {
      participantCount: number;
    };
    expect(rest.participantCount).toBe(2);
  });

  it('a SIGKILLed node’s peers leave every room within 3 heartbeats (but one that resumed elsewhere stays), and the rest keeps working', async () => {
    const a = await connect(node('node-a'));
    const c = await connect(node('node-c'));
    const victimNode = await startNode('node-d');
    const victim = await connect(victimNode);
    const survivor = await connect(victimNode);
    await a.join('crash', 'pa');
    await c.join('crash', 'pc');
    await victim.join('crash', 'pd');
    const survivorJoined = await survivor.join('crash', 'pe');
    await a.next('peer-joined', (m) => m.peerId === 'pe');
    await c.next('peer-joined', (m) => m.peerId === 'pe');

    const killed = Date.now();
    victimNode.proc.child.kill('SIGKILL');
    // One client of the crashed node comes back at once through another node, with its token.
    await survivor.closed;
    const back = await connect(node('node-c'));
    const resumed = await back.request({
      type: 'join-room',
      roomId: 'crash',
      peerId: 'pe',
      displayName: 'pe',
      mediaState: { audio: true, video: true, screen: false },
      resumeToken: survivorJoined.resumeToken,
    });
    expect(resumed).toMatchObject({ type: 'room-joined', peerId: 'pe', resumed: true });
    const [leftA, leftC] = await Promise.all([
      a.next('peer-left', (m) => m.peerId === 'pd', 10_000),
      c.next('peer-left', (m) => m.peerId === 'pd', 10_000),
    ]);
    const elapsed = Date.now() - killed;
    expect(leftA.roomId).toBe('crash');
    expect(leftC.roomId).toBe('crash');
    // Declared dead 3 beats after its last one (≤ 3 beats after the kill), noticed within ¼ beat.
    expect(elapsed).toBeLessThanOrEqual(HEARTBEAT_MS * 3.25 + 200);

    // The store lost it too (REST on any node), and the room goes on between the living.
    const rest = (await (await fetch(`${node('node-c').base}/api/rooms/crash`)).json()) as {
      participantCount: number;
    };
    // The resumed peer was moved off the dead node before the sweep: it stays, unannounced.
    expect(rest.participantCount).toBe(3);
    expect(a.received.filter((m) => m.type === 'peer-left' && m.peerId === 'pe')).toEqual([]);
    a.send({ type: 'offer', roomId: 'crash', toPeerId: 'pe', offer: { type: 'offer', sdp: 'v=0 to pe' } });
    expect((await back.next('offer')).offer.sdp).toBe('v=0 to pe');
    const toDead = await a.request({
      type: 'offer',
      roomId: 'crash',
      toPeerId: 'pd',
      offer: { type: 'offer', sdp: 'v=0' },
    });
    expect(toDead).toMatchObject({ type: 'error', code: 'PEER_NOT_FOUND' });
    a.send({ type: 'offer', roomId: 'crash', toPeerId: 'pc', offer: { type: 'offer', sdp: 'v=0 alive' } });
    expect((await c.next('offer')).offer.sdp).toBe('v=0 alive');
    const late = await connect(node('node-a'));
    const lateJoined = await late.join('crash', 'late');
    expect(lateJoined.peers.map((p) => p.peerId).sort()).toEqual(['pa', 'pc', 'pe']);
  });
});
