/** How often the microphone level is sampled. */
const SAMPLE_MS = 250;
/** Below this a level is silence: nothing is sent (the server keeps the last speaker). */
const SPEAKING_LEVEL = 0.02;

export interface AudioLevelSource {
  /** The published microphone track, if any and not muted. */
  mic(): MediaStreamTrack | undefined;
  /** Whether reports are wanted now: in a room, in P2P (on the SFU the server measures itself). */
  wanted(): boolean;
  send(level: number): void;
}

/**
 * Reports this client's own microphone level (audio-level) while it speaks in a P2P room, so the
 * server can name the room's active speaker without seeing any media. A WebAudio analyser on the
 * mic track, sampled 4 times a second; a level goes out only when it is speech, so a silent peer
 * sends nothing. Runs only where AudioContext exists (browsers).
 */
export class AudioLevelReporter {
  readonly #source: AudioLevelSource;
  #timer: ReturnType<typeof setInterval> | undefined;
  #context: AudioContext | undefined;
  #analyser: AnalyserNode | undefined;
  #track: MediaStreamTrack | undefined;
  #buffer: Float32Array<ArrayBuffer> | undefined;

  constructor(source: AudioLevelSource) {
    this.#source = source;
  }

  start(): void {
    if (this.#timer || typeof AudioContext === 'undefined') return;
    this.#timer = setInterval(() => this.#sample(), SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#detach();
  }

  #sample(): void {
    const track = this.#source.wanted() ? this.#source.mic() : undefined;
    if (track !== this.#track) this.#attach(track);
    const analyser = this.#analyser;
    const buffer = this.#buffer;
    if (!analyser || !buffer) return;
    // A context made before any user gesture starts suspended; it may run once the page had one.
    if (this.#context?.state === 'suspended') void this.#context.resume().catch(() => undefined);
    analyser.getFloatTimeDomainData(buffer);
    let sum = 0;
    for (const v of buffer) sum += v * v;
    // RMS of the waveform, scaled so that normal speech lands around 0.1–0.5.
    const level = Math.min(1, Math.sqrt(sum / buffer.length) * 4);
    if (level >= SPEAKING_LEVEL) this.#source.send(Math.round(level * 1000) / 1000);
  }

  #attach(track: MediaStreamTrack | undefined): void {
    this.#detach();
    this.#track = track;
    if (!track) return;
    this.#context ??= new AudioContext();
    const analyser = this.#context.createAnalyser();
    analyser.fftSize = 512;
    this.#context.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    this.#analyser = analyser;
    this.#buffer = new Float32Array(analyser.fftSize);
  }

  #detach(): void {
    this.#analyser?.disconnect();
    this.#analyser = undefined;
    this.#buffer = undefined;
    this.#track = undefined;
  }
}
