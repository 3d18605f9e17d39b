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

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
    return Promise.all(
      registry.candidates().map(async (t) => {
        const s = await readInbound(t);
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
   */
  async waitForPath(path: MediaPath, isCurrent: () => boolean): Promise<boolean> {
    const deadline = Date.now() + this.#o.switchTimeoutMs;
    let reported = false;
    // Progress per candidate: decoded frames for video (bytes alone may be a stream still waiting
    // for its key frame, which would show as a frozen picture), received bytes for audio.
    const lastProgress = new Map<string, number>();
    const flowing = new Set<string>();
    while (isCurrent()) {
      const sfu = this.#o.sfu();
      // Over the SFU, wait first for the consumers of the room's producers to exist.
      if (path === 'p2p' || sfu?.ready) {
        const targets = this.#o.registry.candidates(path);
        await Promise.all(
          targets.map(async (t) => {
            const stats = await readInbound(t);
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
        if (pending.length === 0 && connected && isCurrent()) {
          this.#o.log('every remote track flows over', path);
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
      // Short polls: every 100 ms saved here is 100 ms less of doubled media during a switch.
      await sleep(this.#o.pollMs ?? 100);
    }
    return false;
  }
}

/** What a receiver got so far, from its inbound-rtp stats of its own kind. */
export async function readInbound(
  t: Pick<RemoteTrack, 'kind' | 'getStats'>,
): Promise<{ bytesReceived: number; packetsReceived: number; framesDecoded: number }> {
  const out = { bytesReceived: 0, packetsReceived: 0, framesDecoded: 0 };
  try {
    const report = await t.getStats();
    report.forEach(
      (s: {
        type?: string;
        kind?: string;
        bytesReceived?: number;
        packetsReceived?: number;
        framesDecoded?: number;
      }) => {
        if (s.type !== 'inbound-rtp') return;
        if (s.kind !== undefined && s.kind !== t.kind) return;
        out.bytesReceived += s.bytesReceived ?? 0;
        out.packetsReceived += s.packetsReceived ?? 0;
        out.framesDecoded += s.framesDecoded ?? 0;
      },
    );
  } catch {
    // A closed receiver has no stats.
  }
  return out;
}
