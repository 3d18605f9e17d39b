import type { RemoteTrack, SfuFailureReason } from './MediaPaths.ts';
import type { SfuSession } from './SfuSession.ts';
import type { TrackRegistry } from './TrackRegistry.ts';
import type { MediaPath, RemoteTrackStats } from './types.ts';

export interface MediaFlowProbeOptions {
  registry: TrackRegistry<RemoteTrack>;
  sfu(): SfuSession | undefined;
  /** How long a switch to the SFU may go without any SFU transport connecting before it is reported. */
  switchTimeoutMs: number;
  reportSfuFailure(reason: SfuFailureReason): void;
  log(...args: unknown[]): void;
  /** Time between two looks at the stats (default 100 ms). */
  pollMs?: number;
}

/** Waits `ms`, or less: until one of `tracks` unmutes. */
function napUntilUnmute(ms: number, tracks: readonly MediaStreamTrack[]): Promise<void> {
  return new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      for (const track of tracks) track.removeEventListener('unmute', onUnmute);
      resolve();
    };
    // The decoder gets the key frame a moment after its first packet: look then, not at once.
    const onUnmute = () => {
      clearTimeout(timer);
      timer = setTimeout(wake, UNMUTE_SETTLE_MS);
    };
    let timer = setTimeout(wake, ms);
    for (const track of tracks) track.addEventListener('unmute', onUnmute);
  });
}

/** From a track's first packet to its first decoded frame, on a busy machine. */
const UNMUTE_SETTLE_MS = 30;

/**
 * Evidence that media flows, from the receivers' own statistics: what a switch waits for before
 * the app is moved to the new path, and what getStats() shows an app.
 */
export class MediaFlowProbe {
  readonly #o: MediaFlowProbeOptions;

  constructor(options: MediaFlowProbeOptions) {
    this.#o = options;
  }

  /** Receive statistics of every remote track on both paths; `active` marks the one the app has. */
  async stats(): Promise<RemoteTrackStats[]> {
    const { registry } = this.#o;
    const look = new StatsLook();
    return Promise.all(
      registry.candidates().map(async (t) => {
        const s = await look.read(t);
        return {
          peerId: t.peerId,
          source: t.source,
          kind: t.kind,
          path: t.path,
          trackId: t.track.id,
          active: registry.isShown(t),
          ...s,
        };
      }),
    );
  }

  /**
   * Resolves true once every remote source the app has (or should have) flows over `path`: a
   * candidate on that path whose decoded frames (video) or received bytes (audio) grew between
   * two looks, or that is paused/muted at the sender; over the SFU, also every transport that
   * carries media connected. Resolves false once `isCurrent()` turns false. It never resolves true
   * on a timer: when no SFU transport has connected by switchTimeoutMs it reports the SFU as
   * unreachable, and the server (which decides) aborts the switch.
   *
   * `oneTrackProves`: while it returns true, one track flowing over `path` (with the transports
   * connected) is enough: the evidence that the path works, for a client that has no track on the
   * other path to replace (a newcomer of an upgrading room), whose other tracks arrive as they
   * would in a room on that path.
   */
  async waitForPath(
    path: MediaPath,
    isCurrent: () => boolean,
    oneTrackProves?: () => boolean,
  ): Promise<boolean> {
    const deadline = Date.now() + this.#o.switchTimeoutMs;
    let reported = false;
    // Progress per candidate: decoded frames for video (bytes alone may be a stream still waiting
    // for its key frame, which would show as a frozen picture), received bytes for audio.
    const lastProgress = new Map<string, number>();
    const flowing = new Set<string>();
    // A track seen flowing stays so (the evidence is its first frames): no more reads for it.
    const notYetFlowing = () => this.#o.registry.candidates(path).filter((t) => !flowing.has(t.id));
    while (isCurrent()) {
      const sfu = this.#o.sfu();
      // Over the SFU, wait first for the consumers of the room's producers to exist. Not for our
      // own producers: the evidence that they reach the others is the others' to give (each
      // checks it receives every source it has over P2P), and a newcomer's media, which nobody
      // had before, should not hold its view of the room back.
      if (path === 'p2p' || sfu?.receiving) {
        const targets = notYetFlowing();
        const look = new StatsLook();
        await Promise.all(
          targets.map(async (t) => {
            const stats = await look.read(t);
            const progress = t.kind === 'video' ? stats.framesDecoded : stats.bytesReceived;
            const before = lastProgress.get(t.id);
            lastProgress.set(t.id, progress);
            // An SFU track is a consumer made for this switch (or resumed by it): a frame it
            // decoded at all is the evidence, no need to wait a poll for a second one.
            if (before === undefined ? path === 'sfu' && progress > 0 : progress > before) flowing.add(t.id);
          }),
        );
        const pending = this.#o.registry.pendingFor(path, (t) => t.paused || flowing.has(t.id));
        const connected = path === 'p2p' || sfu?.mediaConnected === true;
        const proven = pending.length === 0 || (flowing.size > 0 && oneTrackProves?.() === true);
        if (proven && connected && isCurrent()) {
          this.#o.log(
            pending.length === 0 ? 'every remote track flows over' : 'a remote track flows over',
            path,
          );
          return true;
        }
      }
      // No transport connected by the deadline: the SFU is unreachable from here. (Connected but
      // slow is not reported: the server, which sees every peer, decides about that.)
      if (
        !reported &&
        path === 'sfu' &&
        Date.now() >= deadline &&
        isCurrent() &&
        !sfu?.anyTransportConnected
      ) {
        reported = true;
        this.#o.reportSfuFailure('connect-timeout');
      }
      // Short polls: every 100 ms saved here is 100 ms less of doubled media during a switch. A
      // track that unmutes (its first packets came: over the SFU, a key frame, as mediasoup holds
      // a resumed video back until one) wakes the probe at once, to count its first frames.
      await napUntilUnmute(
        this.#o.pollMs ?? 100,
        notYetFlowing().map((t) => t.track),
      );
    }
    return false;
  }
}

type Inbound = { bytesReceived: number; packetsReceived: number; framesDecoded: number };

type InboundRtp = {
  type?: string;
  kind?: string;
  trackIdentifier?: string;
  bytesReceived?: number;
  packetsReceived?: number;
  framesDecoded?: number;
};

/**
 * One look at the statistics of several tracks: one getStats per connection, whose inbound-rtp
 * entries name their track (trackIdentifier). Asking per receiver costs the same as per
 * connection in Chromium (it gathers the whole report, then filters), so six tracks on one
 * transport were six whole reports per look, on the main thread of a page that a switch keeps busy.
 */
export class StatsLook {
  readonly #indexes = new Map<object, Promise<InboundIndex | undefined>>();

  async read(t: RemoteTrack): Promise<Inbound> {
    const connection = t.connection;
    let pending = this.#indexes.get(connection.key);
    if (!pending) {
      pending = connection.read().then(indexInbound, () => undefined);
      this.#indexes.set(connection.key, pending);
    }
    const index = await pending;
    // A browser whose inbound-rtp does not name tracks: ask the receiver itself. (With no
    // inbound-rtp at all, the connection received nothing, so neither did this track.)
    if (!index || (index.inbound && !index.named)) return readInbound(t);
    const out: Inbound = { bytesReceived: 0, packetsReceived: 0, framesDecoded: 0 };
    for (const s of index.byTrack.get(t.track.id) ?? []) {
      if (s.kind === undefined || s.kind === t.kind) add(out, s);
    }
    return out;
  }
}

/** A connection's inbound-rtp entries by track, from one pass over its report. */
interface InboundIndex {
  byTrack: Map<string, InboundRtp[]>;
  /** The report has inbound-rtp entries. */
  inbound: boolean;
  /** They name their tracks (trackIdentifier). */
  named: boolean;
}

/**
 * One pass, with the report's iterator: forEach() would call back into JavaScript once per entry
 * (a P2P connection's report has dozens), which on a busy page cost more than reading the stats.
 */
function indexInbound(report: RTCStatsReport): InboundIndex {
  const index: InboundIndex = { byTrack: new Map(), inbound: false, named: false };
  for (const s of report.values() as IterableIterator<InboundRtp>) {
    if (s.type !== 'inbound-rtp') continue;
    index.inbound = true;
    if (s.trackIdentifier === undefined) continue;
    index.named = true;
    const list = index.byTrack.get(s.trackIdentifier);
    if (list) list.push(s);
    else index.byTrack.set(s.trackIdentifier, [s]);
  }
  return index;
}

function add(out: Inbound, s: InboundRtp): void {
  out.bytesReceived += s.bytesReceived ?? 0;
  out.packetsReceived += s.packetsReceived ?? 0;
  out.framesDecoded += s.framesDecoded ?? 0;
}

/** What a receiver got so far, from its inbound-rtp stats of its own kind. */
export async function readInbound(t: Pick<RemoteTrack, 'kind' | 'getStats'>): Promise<Inbound> {
  const out: Inbound = { bytesReceived: 0, packetsReceived: 0, framesDecoded: 0 };
  try {
    const report = await t.getStats();
    for (const s of report.values() as IterableIterator<InboundRtp>) {
      if (s.type === 'inbound-rtp' && (s.kind === undefined || s.kind === t.kind)) add(out, s);
    }
  } catch {
    // A closed receiver has no stats.
  }
  return out;
}
