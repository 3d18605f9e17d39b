import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import type { PeerRegistry } from '../signaling/PeerRegistry.ts';

/** What the hot paths count: plain numbers, turned into Prometheus series only when scraped. */
export interface WireCounters {
  framesOut: number;
  bytesOut: number;
  readonly errors: Map<string, number>;
}

export interface MetricsSources {
  registry: PeerRegistry;
  media: RoomMediaController;
  connections: () => number;
  pingStore: () => Promise<void>;
}

const bump = (map: Map<string, number>, key: string, by = 1) => map.set(key, (map.get(key) ?? 0) + by);

/**
 * The server's Prometheus series (prom-client). Counting on the message path is a Map increment;
 * gauges read the live state at scrape time, so an unscraped server pays nothing for them.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly wire: WireCounters = { framesOut: 0, bytesOut: 0, errors: new Map() };
  readonly #messagesIn = new Map<string, number>();
  readonly #modeChanges = new Map<string, number>();
  readonly #join: Histogram;
  readonly #redis: Histogram;
  readonly #pubsubLag: Histogram;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'opencall_' });
    const fromMap = (name: string, help: string, label: string, map: Map<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [key, value] of map) this.inc({ [label]: key }, value);
        },
      });
    fromMap(
      'opencall_ws_messages_in_total',
      'WebSocket messages received, by type',
      'type',
      this.#messagesIn,
    );
    fromMap('opencall_errors_total', 'Protocol errors sent, by code', 'code', this.wire.errors);
    fromMap(
      'opencall_mode_changes_total',
      'Room mode changes announced, by new mode',
      'mode',
      this.#modeChanges,
    );
    const wire = this.wire;
    new Counter({
      name: 'opencall_ws_frames_out_total',
      help: 'WebSocket frames sent',
      registers,
      collect() {
        this.reset();
        this.inc(wire.framesOut);
      },
    });
    new Counter({
      name: 'opencall_ws_bytes_out_total',
      help: 'WebSocket bytes sent',
      registers,
      collect() {
        this.reset();
        this.inc(wire.bytesOut);
      },
    });
    this.#join = new Histogram({
      name: 'opencall_join_seconds',
      help: 'join-room to room-joined, on the server',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#redis = new Histogram({
      name: 'opencall_redis_command_seconds',
      help: 'Round trip of Redis commands: each store command (join, leave, …) and the node heartbeat',
      labelNames: ['command'],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.#pubsubLag = new Histogram({
      name: 'opencall_pubsub_lag_seconds',
      help: 'Publish to delivery of the node’s own cluster ping over Redis pub/sub (cluster mode)',
      buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    new Gauge({
      name: 'opencall_ws_connections',
      help: 'Open WebSocket connections of this node',
      registers,
      collect() {
        this.set(sources.connections());
      },
    });
    new Gauge({
      name: 'opencall_rooms',
      help: 'Rooms with peers on this node, by mode',
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        for (const roomId of sources.registry.roomIds()) {
          if (sources.registry.localCountIn(roomId) > 0) this.inc({ mode: sources.media.modeOf(roomId) });
        }
      },
    });
    new Gauge({
      name: 'opencall_peers',
      help: 'Peers connected to this node, by room mode',
      labelNames: ['mode'],
      registers,
      collect() {
        this.reset();
        for (const roomId of sources.registry.roomIds()) {
          this.inc({ mode: sources.media.modeOf(roomId) }, sources.registry.localCountIn(roomId));
        }
      },
    });
    new Gauge({
      name: 'opencall_sfu_objects',
      help: 'Live SFU transports, producers, consumers, data producers and data consumers',
      labelNames: ['kind'],
      registers,
      collect() {
        const counts = sources.media.sfuObjectCounts();
        this.set({ kind: 'transport' }, counts.transports);
        this.set({ kind: 'producer' }, counts.producers);
        this.set({ kind: 'consumer' }, counts.consumers);
        this.set({ kind: 'data-producer' }, counts.dataProducers);
        this.set({ kind: 'data-consumer' }, counts.dataConsumers);
      },
    });
    new Gauge({
      name: 'opencall_sfu_workers',
      help: 'Media workers running, and configured',
      labelNames: ['state'],
      registers,
      collect() {
        const { workers } = sources.media.status();
        this.set({ state: 'up' }, workers.up);
        this.set({ state: 'total' }, workers.total);
      },
    });
    new Gauge({
      name: 'opencall_sfu_worker_cpu_seconds',
      help: 'CPU time used by each media worker (user + system)',
      labelNames: ['worker'],
      registers,
      async collect() {
        this.reset();
        for (const { index, usage } of await sources.media.workerUsage()) {
          this.set({ worker: String(index) }, (usage.ru_utime + usage.ru_stime) / 1000);
        }
      },
    });
    new Gauge({
      name: 'opencall_sfu_worker_max_rss_bytes',
      help: 'Peak resident memory of each media worker',
      labelNames: ['worker'],
      registers,
      async collect() {
        this.reset();
        for (const { index, usage } of await sources.media.workerUsage()) {
          this.set({ worker: String(index) }, usage.ru_maxrss * 1024);
        }
      },
    });
    new Gauge({
      name: 'opencall_store_ping_seconds',
      help: 'Round trip of a store ping at scrape time (-1 when it failed)',
      registers,
      async collect() {
        const started = performance.now();
        try {
          await sources.pingStore();
          this.set((performance.now() - started) / 1000);
        } catch {
          this.set(-1);
        }
      },
    });
  }

  messageIn(type: string): void {
    bump(this.#messagesIn, type);
  }

  modeChanged(mode: string): void {
    bump(this.#modeChanges, mode);
  }

  observeJoin(seconds: number): void {
    this.#join.observe(seconds);
  }

  redisLatency(seconds: number, command = 'heartbeat'): void {
    this.#redis.observe({ command }, seconds);
  }

  pubsubLag(seconds: number): void {
    this.#pubsubLag.observe(seconds);
  }
}

/** Counts one protocol error sent (Session.sendError). */
export function countError(wire: WireCounters | undefined, code: string): void {
  if (wire) bump(wire.errors, code);
}
