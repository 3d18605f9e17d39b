import { mediaStateFlag } from './sources.ts';
import {
  type LocalTrackEvent,
  type MediaKind,
  type MediaSource,
  type MediaState,
  OpenCallError,
} from './types.ts';

/** What LocalMedia tells its owner; OpenCallClient applies it to both paths and to the room. */
export interface LocalMediaHooks {
  /** A source's track changed (null: unpublished); `paused` is whether its SFU producer should be. */
  trackChanged(source: MediaSource, track: MediaStreamTrack | null, paused: boolean): void;
  /** A source was muted or unmuted (mic off, camera off). */
  pausedChanged(source: MediaSource, paused: boolean): void;
  /** The media state changed: the room should hear it (media-state-changed). */
  stateChanged(state: MediaState): void;
  localTrack(event: LocalTrackEvent): void;
  localTrackRemoved(event: LocalTrackEvent): void;
}

/**
 * What this participant publishes: one track per source, the media state the room sees, and the
 * screen share. The tracks belong to the app (they are never stopped here), except a screen share
 * this class started itself.
 */
export class LocalMedia {
  readonly #hooks: LocalMediaHooks;
  readonly #tracks = new Map<MediaSource, MediaStreamTrack>();
  readonly #streams = new Map<MediaSource, MediaStream>();
  #state: MediaState = { audio: false, video: false, screen: false };
  #screenStream: MediaStream | undefined;
  #ownsScreenStream = false;

  constructor(hooks: LocalMediaHooks) {
    this.#hooks = hooks;
  }

  get state(): MediaState {
    return { ...this.#state };
  }

  /** The published tracks by source. */
  get tracks(): ReadonlyMap<MediaSource, MediaStreamTrack> {
    return this.#tracks;
  }

  /** The source's producer should be paused: its flag in the media state is off. */
  isPaused(source: MediaSource): boolean {
    if (source === 'mic') return !this.#state.audio;
    if (source === 'camera') return !this.#state.video;
    return false;
  }

  /** A stream's first audio track becomes the mic, its first video track the camera. */
  publish(stream: MediaStream): void {
    const audio = stream.getAudioTracks()[0] ?? null;
    const video = stream.getVideoTracks()[0] ?? null;
    // State first: the SFU producer is created paused or not from it.
    this.#state.audio = audio?.enabled === true;
    this.#state.video = video?.enabled === true;
    this.#set('mic', audio);
    this.#set('camera', video);
    this.#hooks.pausedChanged('mic', this.isPaused('mic'));
    this.#hooks.pausedChanged('camera', this.isPaused('camera'));
    this.#hooks.stateChanged(this.state);
  }

  publishTrack(track: MediaStreamTrack | null, source: MediaSource): void {
    if (source !== 'screen-audio') this.#state[mediaStateFlag(source)] = track?.enabled === true;
    this.#set(source, track);
    this.#hooks.pausedChanged(source, this.isPaused(source));
    this.#hooks.stateChanged(this.state);
  }

  unpublish(): void {
    this.#set('mic', null);
    this.#set('camera', null);
    this.#state.audio = false;
    this.#state.video = false;
    this.#hooks.stateChanged(this.state);
  }

  /** Mutes/unmutes mic and camera (track.enabled and the producers), without telling the room. */
  apply(state: Partial<MediaState>): void {
    if (state.audio !== undefined) {
      const mic = this.#tracks.get('mic');
      if (mic) mic.enabled = state.audio;
      this.#state.audio = state.audio && mic !== undefined;
      this.#hooks.pausedChanged('mic', !this.#state.audio);
    }
    if (state.video !== undefined) {
      const camera = this.#tracks.get('camera');
      if (camera) camera.enabled = state.video;
      this.#state.video = state.video && camera !== undefined;
      this.#hooks.pausedChanged('camera', !this.#state.video);
    }
  }

  /** Mutes/unmutes and starts or stops the screen share; tells the room. */
  async setState(state: Partial<MediaState>): Promise<MediaState> {
    this.apply(state);
    if (state.screen === true && !this.#tracks.has('screen')) await this.startScreenShare();
    else if (state.screen === false && this.#tracks.has('screen')) this.stopScreenShare();
    else this.#hooks.stateChanged(this.state);
    return this.state;
  }

  /**
   * Shares the screen (getDisplayMedia, or the given stream) under source 'screen' (and
   * 'screen-audio' when it has audio). Resolves with the stream, for a local preview.
   */
  async startScreenShare(options: { audio?: boolean; stream?: MediaStream } = {}): Promise<MediaStream> {
    if (this.#screenStream) this.stopScreenShare();
    let stream = options.stream;
    if (!stream) {
      try {
        stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: options.audio ?? false });
      } catch (err) {
        throw new OpenCallError(
          'MEDIA_DEVICE_ERROR',
          `Screen share failed: ${err instanceof Error ? err.message : err}`,
        );
      }
      this.#ownsScreenStream = true;
    } else {
      this.#ownsScreenStream = false;
    }
    const video = stream.getVideoTracks()[0];
    if (!video) throw new OpenCallError('MEDIA_DEVICE_ERROR', 'The screen share has no video track');
    if ('contentHint' in video) video.contentHint = 'detail';
    this.#screenStream = stream;
    video.addEventListener('ended', () => {
      if (this.#screenStream === stream) this.stopScreenShare();
    });
    this.#set('screen', video);
    const audio = stream.getAudioTracks()[0];
    if (audio) this.#set('screen-audio', audio);
    this.#state.screen = true;
    this.#hooks.stateChanged(this.state);
    return stream;
  }

  stopScreenShare(): void {
    const stream = this.#screenStream;
    this.#screenStream = undefined;
    this.#set('screen', null);
    this.#set('screen-audio', null);
    if (stream && this.#ownsScreenStream) for (const t of stream.getTracks()) t.stop();
    if (this.#state.screen) {
      this.#state.screen = false;
      this.#hooks.stateChanged(this.state);
    }
  }

  /** The call ended: a screen share we started ends with it; an app-given one stays published. */
  callEnded(): void {
    if (!this.#screenStream || !this.#ownsScreenStream) return;
    for (const t of this.#screenStream.getTracks()) t.stop();
    this.#screenStream = undefined;
    this.#set('screen', null);
    this.#set('screen-audio', null);
    this.#state.screen = false;
  }

  #set(source: MediaSource, track: MediaStreamTrack | null): void {
    const old = this.#tracks.get(source) ?? null;
    if (old === track) return;
    if (old) {
      const stream = this.#streams.get(source) ?? new MediaStream([old]);
      this.#tracks.delete(source);
      this.#streams.delete(source);
      this.#hooks.localTrackRemoved(localEvent(old, stream, source));
    }
    let stream: MediaStream | undefined;
    if (track) {
      stream = new MediaStream([track]);
      this.#tracks.set(source, track);
      this.#streams.set(source, stream);
    }
    this.#hooks.trackChanged(source, track, this.isPaused(source));
    if (track && stream) this.#hooks.localTrack(localEvent(track, stream, source));
  }
}

function localEvent(track: MediaStreamTrack, stream: MediaStream, source: MediaSource): LocalTrackEvent {
  const kind: MediaKind = track.kind === 'audio' ? 'audio' : 'video';
  return { track, stream, source, kind };
}
