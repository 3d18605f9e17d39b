import type { MediaKind, MediaSource } from './types.ts';

/*
 * How a track's source (mic, camera, screen, screen-audio) travels over P2P.
 *
 * The signaling relay forwards only the SDP, so the source rides inside it, in the msid stream id:
 * every m-section we send carries `a=msid:<stream-id> <track-id>`. Each side sends its own tracks on
 * its own `sendonly` transceivers, attached to one of two local MediaStreams: the "user" stream
 * (mic + camera, so the receiver keeps them lip-synced) and the "screen" stream (screen +
 * screen-audio). A browser picks random stream ids, so before an offer or answer goes on the wire
 * we replace those two ids with fixed tags (the local description is left untouched). The receiver
 * reads `event.streams[0].id` on 'track': the tag plus the track's kind give the source.
 *
 *   tag              audio           video
 *   opencall-user    mic             camera
 *   opencall-screen  screen-audio    screen
 *
 * A track with no tag (an SDP from another client) counts as mic or camera by its kind.
 * The tags use only msid token characters (RFC 8830), unlike peer ids, which may contain ':' or '@'.
 */

export const USER_STREAM_TAG = 'opencall-user';
export const SCREEN_STREAM_TAG = 'opencall-screen';

export type StreamTag = typeof USER_STREAM_TAG | typeof SCREEN_STREAM_TAG;

export function isScreenSource(source: MediaSource): boolean {
  return source === 'screen' || source === 'screen-audio';
}

/** The stream tag a source travels under. */
export function streamTagFor(source: MediaSource): StreamTag {
  return isScreenSource(source) ? SCREEN_STREAM_TAG : USER_STREAM_TAG;
}

/** The source of a received track, from its first msid stream id and its kind. */
export function sourceFromStreamId(streamId: string | undefined, kind: MediaKind | string): MediaSource {
  const audio = kind === 'audio';
  if (streamId === SCREEN_STREAM_TAG) return audio ? 'screen-audio' : 'screen';
  return audio ? 'mic' : 'camera';
}

/** The kind a source's track has. */
export function kindOfSource(source: MediaSource): MediaKind {
  return source === 'mic' || source === 'screen-audio' ? 'audio' : 'video';
}

/**
 * Replaces local MediaStream ids with their tags everywhere in an SDP (the `a=msid:` lines, and
 * the legacy `a=ssrc:... msid:` and `a=msid-semantic` lines some browsers still write).
 */
export function tagStreamIds(
  sdp: string,
  tags: ReadonlyMap<string, string> | Record<string, string>,
): string {
  const entries = tags instanceof Map ? [...tags.entries()] : Object.entries(tags);
  let out = sdp;
  for (const [localId, tag] of entries) {
    if (localId.length === 0 || localId === tag) continue;
    out = out.split(localId).join(tag);
  }
  return out;
}

/** Which media-state flag says whether a source is on. */
export function mediaStateFlag(source: MediaSource): 'audio' | 'video' | 'screen' {
  if (source === 'mic') return 'audio';
  if (source === 'camera') return 'video';
  return 'screen';
}
