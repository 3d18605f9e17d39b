import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { ClusterBusEvents, ClusterLink, Envelope, EnvelopeKind } from './ClusterBusTypes.ts';

/**
 * A node's alive key lives ALIVE_BEATS intervals after its last refresh; once it is gone, the node
 * is declared dead after GRACE_BEATS more (so 3 intervals of silence in all), which also covers a
 * Redis that restarted empty while every node is fine.
 */
const ALIVE_BEATS = 1.75;
const GRACE_BEATS = 1.25;

const KINDS = new Set<string>(['T', 'R', 'J', 'L', 'M', 'C', 'K', 'P', 'Q', 'A', 'O', 'N', 'W']);

export interface ClusterBusOptions {
  nodeId: string;
  /** Publishes, heartbeats and sweeps. */
  pub: Redis;
  /** Subscribed to this node's channel only (a subscribing connection can do nothing else). */
  sub: Redis;
  keyPrefix: string;
  heartbeatMs: number;
  logger: Logger;
  /** The other nodes this node holds peers of (its directory): checked on every sweep. */
  knownNodes: () => Iterable<string>;
  /** Redis round trip of each heartbeat, and pub/sub lag of each self-ping, in seconds. */
  observe?: { redisLatency(seconds: number): void; pubsubLag(seconds: number): void };
}

/**
 * The cluster of OpenCall nodes that share one Redis: node liveness (a key per node that expires
 * 3 heartbeats after its last refresh, plus a set of node ids) and one pub/sub channel per node.
 * A node that misses its beats is declared dead by the first live node that notices (SREM decides
 * which one cleans the store); every node drops the dead node's peers from its directory.
 */
export class ClusterBus extends EventEmitter<ClusterBusEvents> implements ClusterLink {
  readonly nodeId: string;
  readonly #o: ClusterBusOptions;
  readonly #nodesKey: string;
  readonly #channel: string;
  /** The other nodes seen alive at the last sweep. */
  #live: string[] = [];
  /** Since when (ms) each node's alive key has been missing, while it still counts as alive. */
  readonly #missingSince = new Map<string, number>();
  /** Dead nodes this node has already handled (until they beat again). */
  readonly #handled = new Set<string>();
  #beat: NodeJS.Timeout | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #sweeping = false;
  #closed = false;

  constructor(options: ClusterBusOptions) {
    super();
    this.#o = options;
    this.nodeId = options.nodeId;
    this.#nodesKey = `${options.keyPrefix}nodes`;
    this.#channel = this.channelOf(options.nodeId);
  }

  channelOf(nodeId: string): string {
    return `${this.#o.keyPrefix}node:{${nodeId}}:inbox`;
  }

  #aliveKey(nodeId: string): string {
    return `${this.#o.keyPrefix}node:{${nodeId}}:alive`;
  }

  async start(): Promise<void> {
    this.#o.sub.on('message', (channel: string, message: string) => {
      if (channel !== this.#channel) return;
      const envelope = parseEnvelope(message);
      if (!envelope) {
        this.#o.logger.warn({ channel }, 'cluster: malformed envelope dropped');
        return;
      }
      if (envelope.kind === 'P') {
        this.#o.observe?.pubsubLag(Math.max(0, Date.now() - envelope.sentAt) / 1000);
        return;
      }
      this.emit('envelope', envelope);
    });
    // Subscribed again whenever the connection comes back (Redis restarted); idempotent.
    const subscribe = () =>
      this.#o.sub.subscribe(this.#channel).catch((err: unknown) => this.#warn('subscribe failed', err));
    this.#o.sub.on('ready', () => void subscribe());
    await subscribe();
    await this.#heartbeat().catch((err: unknown) => this.#warn('heartbeat failed', err));
    await this.sweep().catch((err: unknown) => this.#warn('sweep failed', err));
    this.#beat = setInterval(() => {
      this.#heartbeat().catch((err: unknown) => this.#warn('heartbeat failed', err));
    }, this.#o.heartbeatMs);
    this.#beat.unref();
    // Sweeping four times per interval: a dead node is noticed within a quarter interval of expiry.
    this.#sweep = setInterval(
      () => {
        this.sweep().catch((err: unknown) => this.#warn('sweep failed', err));
      },
      Math.max(25, Math.floor(this.#o.heartbeatMs / 4)),
    );
    this.#sweep.unref();
  }

  send(nodeId: string, kind: EnvelopeKind, roomId: string, peerId: string, payload: string): void {
    if (this.#closed) return;
    const message = `${this.nodeId}\n${kind}\n${roomId}\n${peerId}\n${Date.now()}\n${payload}`;
    // Fire and forget, in order on the one publishing connection; a failure (Redis down) loses the
    // frame, as a dropped socket would: relays are not retried across an outage.
    this.#o.pub.publish(this.channelOf(nodeId), message).catch(() => undefined);
  }

  /** The publishing connection, for other cluster keys (room media pins). */
  get redis(): Redis {
    return this.#o.pub;
  }

  get keyPrefix(): string {
    return this.#o.keyPrefix;
  }

  /** Whether the node was alive at the last sweep (this node always is). */
  isAlive(nodeId: string): boolean {
    return nodeId === this.nodeId || (this.#live.includes(nodeId) && !this.#handled.has(nodeId));
  }

  /** Asks Redis (a node that started after the last sweep is not in the cached list yet). */
  async checkAlive(nodeId: string): Promise<boolean> {
    if (this.isAlive(nodeId)) return true;
    return (await this.#o.pub.exists(this.#aliveKey(nodeId))) === 1;
  }

  /** Whether other live nodes were seen at the last sweep (a lone node shuts down as a single one). */
  get hasOtherNodes(): boolean {
    return this.#live.length > 0;
  }

  /** To every other live node (a room deleted through REST may have peers anywhere). */
  sendToAll(kind: EnvelopeKind, roomId: string, peerId: string, payload: string): void {
    for (const nodeId of this.#live) this.send(nodeId, kind, roomId, peerId, payload);
  }

  async #heartbeat(): Promise<void> {
    const started = performance.now();
    await this.#o.pub
      .multi()
      .set(
        this.#aliveKey(this.nodeId),
        String(Date.now()),
        'PX',
        Math.round(this.#o.heartbeatMs * ALIVE_BEATS),
      )
      .sadd(this.#nodesKey, this.nodeId)
      .exec();
    this.#o.observe?.redisLatency((performance.now() - started) / 1000);
    this.send(this.nodeId, 'P', '', '', '');
  }

  /** Finds nodes whose alive key expired; public so tests and shutdown can run one at once. */
  async sweep(): Promise<void> {
    if (this.#sweeping || this.#closed) return;
    this.#sweeping = true;
    try {
      const members = await this.#o.pub.smembers(this.#nodesKey);
      const candidates = [...new Set([...members, ...this.#o.knownNodes()])].filter((n) => n !== this.nodeId);
      if (candidates.length === 0) return;
      const alive = await this.#o.pub.mget(...candidates.map((n) => this.#aliveKey(n)));
      const now = performance.now();
      const live: string[] = [];
      for (const [i, nodeId] of candidates.entries()) {
        if (alive[i] !== null) {
          this.#handled.delete(nodeId);
          this.#missingSince.delete(nodeId);
          live.push(nodeId);
          continue;
        }
        if (this.#handled.has(nodeId)) continue;
        // A key that has just gone may be a Redis that restarted empty: every live node writes its
        // key again within one interval, so only a key missing for longer than that means death.
        const since = this.#missingSince.get(nodeId) ?? now;
        this.#missingSince.set(nodeId, since);
        if (now - since < this.#o.heartbeatMs * GRACE_BEATS) {
          live.push(nodeId);
          continue;
        }
        this.#missingSince.delete(nodeId);
        this.#handled.add(nodeId);
        // SREM answers 1 to exactly one node: that one cleans the store.
        const cleaner = (await this.#o.pub.srem(this.#nodesKey, nodeId)) === 1;
        this.#o.logger.warn({ deadNode: nodeId, cleaner }, 'cluster: node stopped heartbeating');
        this.emit('nodedead', nodeId, cleaner);
      }
      this.#live = live;
    } finally {
      this.#sweeping = false;
    }
  }

  /**
   * Leaving on purpose (SIGTERM): the node stays "alive" for `graceMs` more, so its peers can
   * resume on other nodes before anyone declares it dead and removes them.
   */
  async drain(graceMs: number): Promise<void> {
    clearInterval(this.#beat);
    this.#beat = undefined;
    if (graceMs > 0) {
      await this.#o.pub
        .set(this.#aliveKey(this.nodeId), String(Date.now()), 'PX', graceMs)
        .catch(() => undefined);
    } else {
      await this.#o.pub.del(this.#aliveKey(this.nodeId)).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#beat);
    clearInterval(this.#sweep);
    this.#closed = true;
    for (const client of [this.#o.sub, this.#o.pub]) {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    }
  }

  #lastWarn = '';
  #lastWarnAt = 0;

  /** Redis down means a failure every quarter interval: the same one is logged every 30 s at most. */
  #warn(what: string, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    const now = Date.now();
    if (`${what}${message}` === this.#lastWarn && now - this.#lastWarnAt < 30_000) return;
    this.#lastWarn = `${what}${message}`;
    this.#lastWarnAt = now;
    this.#o.logger.warn({ err: message }, `cluster: ${what}`);
  }
}

/** Splits `origin\nkind\nroomId\npeerId\nsentAt\npayload`; the payload may hold newlines. */
export function parseEnvelope(message: string): Envelope | undefined {
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i < 5; i++) {
    const at = message.indexOf('\n', from);
    if (at < 0) return undefined;
    parts.push(message.slice(from, at));
    from = at + 1;
  }
  const [origin, kind, roomId, peerId, sentAt] = parts as [string, string, string, string, string];
  if (!KINDS.has(kind) || origin === '') return undefined;
  return {
    origin,
    kind: kind as EnvelopeKind,
    roomId,
    peerId,
    sentAt: Number(sentAt),
    payload: message.slice(from),
  };
}
