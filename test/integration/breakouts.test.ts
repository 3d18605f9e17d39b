import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerMessageOf } from '../../src/protocol/index.ts';
import { waitFor } from '../helpers/mscPeer.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { SyntheticSfuClient } from '../helpers/sfuClient.ts';
import { sfuServerEnv } from './sfu/sfuTestEnv.ts';

/**
 * Breakout rooms with a real mediasoup worker and six msc-node peers: the host splits the meeting
 * into two rooms at random, each gets its own mode (3 peers: SFU, with media; 2 peers: P2P), a
 * broadcast reaches every breakout room, and closing brings everyone back, media and all.
 */
describe('breakout rooms', () => {
  let server: TestServer;
  const peers: SyntheticSfuClient[] = [];

  beforeAll(async () => {
    server = await startServer(await sfuServerEnv({ SFU_UPGRADE_AT: '3', SFU_DOWNGRADE_AT: '1' }));
  });
  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close().catch(() => undefined)));
    await server?.close();
  });

  const room = async (roomId: string) =>
    (await (await fetch(`${server.url}/api/rooms/${roomId}`)).json()) as {
      connectionMode: string;
      participantCount: number;
      peers: Array<{ peerId: string }>;
      meetingInfo: { parentRoomId?: string; breakouts?: Array<{ roomId: string; name: string }> };
    };

  /** Every peer in `group` receives at least `min` packets from each stream of the others. */
  const mediaAmong = (group: SyntheticSfuClient[], min = 5) =>
    group.every((c) => {
      const others = group.filter((o) => o !== c).flatMap((o) => [...(o.peer?.produced.keys() ?? [])]);
      return others.length === (group.length - 1) * 2 && c.receivingFromAll(others, min);
    });

  it('splits six peers into two rooms and brings them back; mode and media right in each', async () => {
    // The first to join creates the meeting and is its host.
    for (const id of ['host', 'g1', 'g2', 'g3', 'g4', 'g5']) {
      peers.push(await SyntheticSfuClient.join(server.wsUrl, 'meet', id));
    }
    const [host, ...guests] = peers as [SyntheticSfuClient, ...SyntheticSfuClient[]];
    await waitFor(() => mediaAmong(peers), 'media among the six in the meeting', 30_000);

    // Not a host: refused.
    const refused = await guests[0]?.ws.request({ type: 'open-breakouts', rooms: [{ name: 'x' }] });
    expect(refused).toMatchObject({ type: 'error', code: 'FORBIDDEN' });

    const moves = guests.map((g) => g.ws.next('move-to-room', () => true, 10_000));
    const opened = (await host.ws.request({
      type: 'open-breakouts',
      rooms: [{ name: 'Red' }, { name: 'Blue' }],
      assign: 'random',
    })) as ServerMessageOf<'breakouts'>;
    expect(opened.breakouts).toEqual([
      { roomId: 'meet.b1', name: 'Red' },
      { roomId: 'meet.b2', name: 'Blue' },
    ]);
    const targets = await Promise.all(moves);
    // Every guest is sent somewhere, the host stays; sizes differ by one at most.
    const byRoom = new Map<string, SyntheticSfuClient[]>();
    targets.forEach((m, i) => {
      expect(m.fromRoomId).toBe('meet');
      byRoom.set(m.roomId, [...(byRoom.get(m.roomId) ?? []), guests[i] as SyntheticSfuClient]);
    });
    expect([...byRoom.keys()].sort()).toEqual(['meet.b1', 'meet.b2']);
    expect([...byRoom.values()].map((g) => g.length).sort()).toEqual([2, 3]);
    await Promise.all(targets.map((m, i) => guests[i]?.moveTo(m.roomId)));

    const [big, small] = [...byRoom.values()].sort((a, b) => b.length - a.length) as [
      SyntheticSfuClient[],
      SyntheticSfuClient[],
    ];
    const bigId = targets[guests.indexOf(big[0] as SyntheticSfuClient)]?.roomId as string;
    const smallId = targets[guests.indexOf(small[0] as SyntheticSfuClient)]?.roomId as string;
    // Three peers: the room goes to the SFU and media flows among them; two: peer-to-peer.
    await waitFor(
      () => big.every((c) => c.mode === 'sfu') && mediaAmong(big),
      'media in the big breakout',
      30_000,
    );
    expect(small.every((c) => c.mode === 'p2p')).toBe(true);
    expect((await room(smallId)).connectionMode).toBe('p2p');
    const bigInfo = await room(bigId);
    expect(bigInfo.participantCount).toBe(3);
    expect(bigInfo.meetingInfo.parentRoomId).toBe('meet');
    const meeting = await room('meet');
    expect(meeting.participantCount).toBe(1);
    expect(meeting.meetingInfo.breakouts?.map((b) => b.roomId)).toEqual(['meet.b1', 'meet.b2']);

    // The host's word reaches every breakout room.
    const heard = guests.map((g) => g.ws.next('breakout-message'));
    await host.ws.request({ type: 'breakout-broadcast', text: 'Five minutes left' });
    for (const m of await Promise.all(heard))
      expect(m).toMatchObject({ fromPeerId: 'host', text: 'Five minutes left' });

    // Closing sends everyone back: six peers again, on the SFU, media among all.
    const back = guests.map((g) => g.ws.next('move-to-room', () => true, 10_000));
    const closed = (await host.ws.request({ type: 'close-breakouts' })) as ServerMessageOf<'breakouts'>;
    expect(closed.breakouts).toEqual([]);
    const returns = await Promise.all(back);
    for (const m of returns) expect(m.roomId).toBe('meet');
    await Promise.all(guests.map((g) => g.moveTo('meet')));
    await waitFor(() => mediaAmong(peers), 'media among the six back in the meeting', 30_000);
    expect((await room('meet')).participantCount).toBe(6);
    expect((await room('meet')).meetingInfo.breakouts).toBeUndefined();
  }, 120_000);
});
