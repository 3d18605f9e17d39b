import type { Signaling } from './Signaling.ts';

/** How long connect() waits for room-joined: a waiting room holds it until a host decides. */
export const JOIN_WAIT_MS = 10 * 60_000;

export type MuteKind = 'audio' | 'video' | 'screen';

/**
 * What a room's host can do (the server answers FORBIDDEN to anyone else): lock the room, set a
 * password, hold newcomers in a waiting room and admit or deny them, remove a peer, ask one to mute.
 * Knocks and the room's settings arrive as client events: `knock`, `knock-ended`, `room-access`.
 *
 * ```ts
 * client.on('knock', ({ peerId, displayName }) => showKnock(displayName, () => client.host.admit(peerId)));
 * await client.host.setWaitingRoom(true);
 * ```
 */
export class HostControls {
  readonly #signaling: Signaling;

  constructor(signaling: Signaling) {
    this.#signaling = signaling;
  }

  lock(locked = true) {
    return this.#signaling.request({ type: 'lock-room', locked }, 'room-access');
  }

  unlock() {
    return this.lock(false);
  }

  /** A password newcomers must give (`ConnectOptions.password`); null removes it. */
  setPassword(password: string | null) {
    return this.#signaling.request({ type: 'set-room-password', password }, 'room-access');
  }

  setWaitingRoom(enabled: boolean) {
    return this.#signaling.request({ type: 'set-waiting-room', enabled }, 'room-access');
  }

  admit(peerId: string) {
    return this.#signaling.request({ type: 'admit-peer', peerId }, 'host-action-done');
  }

  deny(peerId: string, reason?: string) {
    return this.#signaling.request(
      { type: 'deny-peer', peerId, ...(reason !== undefined ? { reason } : {}) },
      'host-action-done',
    );
  }

  kick(peerId: string, reason?: string) {
    return this.#signaling.request(
      { type: 'kick-peer', peerId, ...(reason !== undefined ? { reason } : {}) },
      'host-action-done',
    );
  }

  requestMute(peerId: string, kinds: MuteKind[] = ['audio']) {
    return this.#signaling.request({ type: 'mute-peer', peerId, kinds }, 'host-action-done');
  }

  /**
   * Opens breakout rooms and sends peers there: each room's `peerIds`, or with `assign: 'random'`
   * every peer but the hosts, dealt round the rooms. The peers move by themselves (`moving`/`moved`).
   */
  openBreakouts(rooms: Array<{ name: string; peerIds?: string[] }>, assign: 'list' | 'random' = 'list') {
    return this.#signaling.request({ type: 'open-breakouts', rooms, assign }, 'breakouts');
  }

  /** Brings everyone in the breakout rooms back to this room. */
  closeBreakouts() {
    return this.#signaling.request({ type: 'close-breakouts' }, 'breakouts');
  }

  /** A message to every breakout room (a `breakout-message` event there). */
  broadcastToBreakouts(text: string) {
    return this.#signaling.request({ type: 'breakout-broadcast', text }, 'breakouts');
  }
}
