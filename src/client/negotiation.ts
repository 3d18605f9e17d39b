/*
 * Perfect negotiation (W3C WebRTC, "Perfect negotiation example"), the decisions without the
 * browser, so they can be tested on their own.
 *
 * Roles: of the two peers of a pair, the one with the greater peer id (plain string comparison,
 * `selfId > remoteId`) is POLITE: on an offer collision it rolls its own offer back and answers.
 * The other is IMPOLITE: it ignores the colliding offer and waits for the answer to its own.
 *
 * Who offers first: the impolite side opens the connection as soon as it learns of the other; the
 * polite side waits for that offer, and opens itself only if none came within a grace period.
 * Either way perfect negotiation keeps a collision harmless; the rule only makes it rare.
 */

export function isPolite(selfId: string, remoteId: string): boolean {
  return selfId > remoteId;
}

/** Whether we open the connection at once (true) or give the other side a moment to do it. */
export function opensFirst(selfId: string, remoteId: string): boolean {
  return !isPolite(selfId, remoteId);
}

export interface DescriptionContext {
  type: 'offer' | 'answer';
  polite: boolean;
  /** We are between starting setLocalDescription(offer) and sending it. */
  makingOffer: boolean;
  signalingState: RTCSignalingState;
  /** We are applying a remote answer right now (its signalingState is not stable yet). */
  isSettingRemoteAnswerPending: boolean;
}

export interface DescriptionDecision {
  /** Drop the description (the impolite side's answer to a collision, or a stale answer). */
  ignore: boolean;
  /** An offer arrived while we had our own in flight. */
  collision: boolean;
}

export function decideOnDescription(ctx: DescriptionContext): DescriptionDecision {
  if (ctx.type === 'answer') {
    // An answer only means something while our offer waits for it; anything else is stale (it
    // answers an offer we rolled back) and applying it would throw.
    const expected = ctx.signalingState === 'have-local-offer' && !ctx.isSettingRemoteAnswerPending;
    return { ignore: !expected, collision: false };
  }
  const readyForOffer =
    !ctx.makingOffer && (ctx.signalingState === 'stable' || ctx.isSettingRemoteAnswerPending);
  const collision = !readyForOffer;
  return { ignore: collision && !ctx.polite, collision };
}

/** A candidate can go to addIceCandidate only once a remote description is set; before that it waits. */
export class CandidateQueue<C> {
  #items: C[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(candidate: C): void {
    this.#items.push(candidate);
  }

  /** Takes every queued candidate, in arrival order. */
  drain(): C[] {
    const items = this.#items;
    this.#items = [];
    return items;
  }

  clear(): void {
    this.#items = [];
  }
}
