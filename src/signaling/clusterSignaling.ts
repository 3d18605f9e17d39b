import type { ClusterBus } from '../cluster/ClusterBus.ts';
import type { Envelope } from '../cluster/ClusterBusTypes.ts';
// handlers.ts and hostHandlers.ts import each other, and handlers.ts spreads hostHandlers' table
// when it loads: it must load first. This module is the first of the signaling layer to be loaded.
import './handlers.ts';
import { admitGuest, denyGuest, removePeer } from './hostHandlers.ts';
import { ParkedPeer } from './PeerParking.ts';
import { RemotePeer } from './RemotePeer.ts';
import { CloseCode, Session } from './Session.ts';
import type { SignalingContext } from './SignalingContext.ts';

/**
 * This node's side of the cluster: what other nodes send it (frames for its peers, peers joining,
 * leaving and moving, rooms closed, kicks) and what happens when a node dies (its peers leave, on
 * every node; one node removes them from the store).
 */
export function joinCluster(
  ctx: SignalingContext,
  bus: ClusterBus,
  hooks: { roomClosed(roomId: string): void },
): void {
  const { registry } = ctx;
  const log = ctx.logger.child({ component: 'cluster' });

  const onEnvelope = (e: Envelope): void => {
    switch (e.kind) {
      case 'T': {
        const target = registry.get(e.roomId, e.peerId);
        if (target && !(target instanceof RemotePeer)) target.sendRaw(e.payload);
        return;
      }
      case 'R':
        registry.deliverLocal(e.roomId, e.payload, e.peerId);
        return;
      case 'J': {
        const known = registry.get(e.roomId, e.peerId);
        if (!known || known instanceof RemotePeer) {
          registry.add(e.roomId, e.peerId, new RemotePeer(bus, e.origin, e.roomId, e.peerId));
        }
        registry.deliverLocal(e.roomId, e.payload, e.peerId);
        return;
      }
      case 'L': {
        const known = registry.get(e.roomId, e.peerId);
        if (known instanceof RemotePeer && known.nodeId === e.origin) {
          registry.remove(e.roomId, e.peerId, known);
          // Usually the leaver's node has told the room's media node already; a node restarted
          // under the same id announcing its previous life's peers has not. Leaving twice is harmless.
          ctx.media.peerLeft(e.roomId, e.peerId, registry.countIn(e.roomId));
        }
        registry.deliverLocal(e.roomId, e.payload, e.peerId);
        return;
      }
      case 'M':
        movedAway(e);
        return;
      case 'C':
        hooks.roomClosed(e.roomId);
        return;
      case 'K':
        kick(e).catch((err: unknown) => log.error({ err, roomId: e.roomId }, 'remote kick failed'));
        return;
      case 'W': {
        // A host on another node decided about a guest; only the node where it waits acts.
        const guest = ctx.waiting.take(e.roomId, e.peerId);
        if (!guest) return;
        const decision = JSON.parse(e.payload) as { admit: boolean; reason?: string };
        if (decision.admit) {
          admitGuest(ctx, e.roomId, guest).catch((err: unknown) => log.error({ err }, 'remote admit failed'));
        } else {
          denyGuest(ctx, e.roomId, guest, decision.reason, false);
        }
        return;
      }
      case 'P':
        return;
    }
  };

  /** The peer resumed on `origin`: point there; if it was ours, let go of it without a word. */
  const movedAway = (e: Envelope): void => {
    const known = registry.get(e.roomId, e.peerId);
    if (known instanceof ParkedPeer) {
      ctx.parking.discard(known);
    } else if (known instanceof Session) {
      known.roomId = undefined;
      known.peerId = undefined;
      known.resumeToken = undefined;
      known.stopIceRefresh();
      known.close(CloseCode.NORMAL, 'Resumed on another node');
    }
    if (known) registry.remove(e.roomId, e.peerId, known);
    // Still a participant: the node it resumed on has told the room's media node (which drops
    // its old SFU objects and takes it in again); telling it from here too could undo that.
    registry.add(e.roomId, e.peerId, new RemotePeer(bus, e.origin, e.roomId, e.peerId));
    log.info({ roomId: e.roomId, peerId: e.peerId, to: e.origin }, 'peer moved to another node');
  };

  const kick = async (e: Envelope): Promise<void> => {
    const handle = registry.get(e.roomId, e.peerId);
    // Only a peer held here: a stand-in would send the kick round again.
    if (handle && !(handle instanceof RemotePeer)) await removePeer(ctx, e.roomId, handle, e.payload);
  };

  /** Every node drops the dead node's peers and tells its own; the cleaner fixes the store. */
  const onNodeDead = (nodeId: string, cleaner: boolean): void => {
    for (const remote of registry.remotesOf(nodeId)) {
      const { roomId, peerId } = remote;
      registry.remove(roomId, peerId, remote);
      const frame = JSON.stringify({ type: 'peer-left', roomId, peerId, timestamp: Date.now() });
      registry.deliverLocal(roomId, frame, peerId);
      ctx.media.peerLeft(roomId, peerId, registry.countIn(roomId));
    }
    if (cleaner) {
      ctx.rooms
        .removePeersOf(nodeId)
        .catch((err: unknown) => log.error({ err, deadNode: nodeId }, 'removing a dead node’s peers failed'));
    }
  };

  bus.on('envelope', onEnvelope);
  bus.on('nodedead', onNodeDead);
}
