import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { nanoid } from 'nanoid';
import type { Logger } from '../../logger.ts';
import { ProtocolError } from '../../protocol/index.ts';
import type { RecordingTap, SfuRoomApi } from '../SfuRoomTypes.ts';

/** How long ffmpeg may take to open its ports, and to finish its file once told to stop. */
const FFMPEG_START_MS = 5_000;
const FFMPEG_STOP_MS = 10_000;

export interface RecorderOptions {
  ffmpegPath: string;
  /** Where files go (RECORDINGS_DIR); created when missing. */
  dir: string;
  logger: Logger;
}

export interface RecordingStarted {
  recordingId: string;
  roomId: string;
  path: string;
  startedAt: string;
  /** The producers being recorded: one track each. */
  tracks: Array<{ peerId: string; kind: 'audio' | 'video' }>;
}

export interface RecordingStopped extends RecordingStarted {
  stoppedAt: string;
  sizeBytes: number;
  durationS: number;
}

const execFileAsync = promisify(execFile);

/**
 * Whether ffmpeg runs at all (a missing one is RECORDING_UNAVAILABLE, never a crash). Asked of the
 * process without blocking: the server's event loop carries every room meanwhile.
 */
export async function ffmpegAvailable(ffmpegPath: string): Promise<boolean> {
  try {
    await execFileAsync(ffmpegPath, ['-version'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** A UDP port pair (p, p + 1) free on 127.0.0.1 right now, p even (RTP, then RTCP). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 20_000);
    if ((await bindable(port)) && (await bindable(port + 1))) return port;
  }
  throw new ProtocolError('RECORDING_UNAVAILABLE', 'No free local UDP ports for the recorder');
}

function bindable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      done(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => done(true)));
  });
}

/** The SDP ffmpeg reads: one media section per tap, on its own port, with the consumer's codec. */
function sdpFor(taps: Array<{ tap: RecordingTap; port: number }>): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=OpenCall recording', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const { tap, port } of taps) {
    const codec = tap.rtpParameters.codecs[0];
    if (!codec) continue;
    const name = codec.mimeType.split('/')[1];
    lines.push(`m=${tap.kind} ${port} RTP/AVP ${codec.payloadType}`);
    lines.push(
      `a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels ? `/${codec.channels}` : ''}`,
    );
    const fmtp = Object.entries(codec.parameters ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(';');
    if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    lines.push('a=recvonly');
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * One recording of one room: each producer the room has when it starts is consumed on a
 * PlainTransport (plain RTP to 127.0.0.1) into one ffmpeg process, which copies the streams into a
 * Matroska file (`<RECORDINGS_DIR>/<roomId>-<recordingId>.mkv`), one track per producer. ffmpeg gets
 * a keyframe request for every video track as the flow starts, and stops with SIGINT so it closes
 * the file properly.
 */
export class RoomRecording {
  readonly info: RecordingStarted;
  readonly #taps: RecordingTap[];
  readonly #ffmpeg: ChildProcess;
  readonly #logger: Logger;
  readonly #exited: Promise<unknown>;
  #stopped: Promise<RecordingStopped> | undefined;

  private constructor(info: RecordingStarted, taps: RecordingTap[], ffmpeg: ChildProcess, logger: Logger) {
    this.info = info;
    this.#taps = taps;
    this.#ffmpeg = ffmpeg;
    this.#logger = logger;
    this.#exited = once(ffmpeg, 'exit').catch(() => undefined);
  }

  static async start(roomId: string, sfu: SfuRoomApi, options: RecorderOptions): Promise<RoomRecording> {
    const producers = sfu.peerIds.flatMap((peerId) => sfu.getPeerProducers(peerId));
    if (producers.length === 0) {
      throw new ProtocolError(
        'RECORDING_UNAVAILABLE',
        'Nobody in the room sends media yet: nothing to record',
      );
    }
    const recordingId = nanoid(10);
    const logger = options.logger.child({ component: 'RoomRecording', roomId, recordingId });
    const dir = resolve(options.dir);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${roomId}-${recordingId}.mkv`);
    const taps: Array<{ tap: RecordingTap; port: number }> = [];
    try {
      for (const producer of producers) {
        const port = await freePortPair();
        taps.push({ tap: await sfu.tap(producer.producerId, { port, rtcpPort: port + 1 }), port });
      }
    } catch (err) {
      for (const { tap } of taps) tap.close();
      throw err;
    }
    const ffmpeg = spawn(
      options.ffmpegPath,
      [
        ...['-hide_banner', '-loglevel', 'warning', '-nostdin'],
        ...['-protocol_whitelist', 'file,pipe,udp,rtp', '-fflags', '+genpts'],
        ...['-f', 'sdp', '-i', 'pipe:0', '-map', '0', '-c', 'copy', '-f', 'matroska', '-y', path],
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    ffmpeg.stderr
      ?.setEncoding('utf8')
      .on('data', (chunk: string) => logger.debug({ ffmpeg: chunk.trim() }, 'ffmpeg'));
    const spawned = await Promise.race([
      once(ffmpeg, 'spawn').then(() => true),
      once(ffmpeg, 'error').then(() => false),
    ]);
    if (!spawned) {
      for (const { tap } of taps) tap.close();
      throw new ProtocolError('RECORDING_UNAVAILABLE', `ffmpeg could not be started (${options.ffmpegPath})`);
    }
    ffmpeg.stdin?.end(sdpFor(taps));
    // ffmpeg has read the SDP once every RTP port is bound; only then can the media start.
    const deadline = performance.now() + FFMPEG_START_MS;
    for (const { port } of taps) {
      while (await bindable(port)) {
        if (performance.now() > deadline || ffmpeg.exitCode !== null) {
          ffmpeg.kill('SIGKILL');
          for (const { tap } of taps) tap.close();
          throw new ProtocolError('RECORDING_UNAVAILABLE', 'ffmpeg did not start receiving');
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const { tap } of taps) {
      await tap.resume();
      if (tap.kind === 'video') await tap.requestKeyFrame();
    }
    const info: RecordingStarted = {
      recordingId,
      roomId,
      path,
      startedAt: new Date().toISOString(),
      tracks: taps.map(({ tap }) => ({ peerId: tap.peerId, kind: tap.kind })),
    };
    logger.info({ path, tracks: info.tracks.length }, 'recording started');
    return new RoomRecording(
      info,
      taps.map((t) => t.tap),
      ffmpeg,
      logger,
    );
  }

  /** Stops ffmpeg (SIGINT: it finishes the file), closes the taps, and measures the file. */
  stop(): Promise<RecordingStopped> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<RecordingStopped> {
    if (this.#ffmpeg.exitCode === null) this.#ffmpeg.kill('SIGINT');
    const timer = setTimeout(() => this.#ffmpeg.kill('SIGKILL'), FFMPEG_STOP_MS);
    await this.#exited;
    clearTimeout(timer);
    for (const tap of this.#taps) tap.close();
    let sizeBytes = 0;
    try {
      sizeBytes = statSync(this.info.path).size;
    } catch {
      // no file: ffmpeg received nothing
    }
    const durationS = await probeDuration(this.info.path);
    const stopped = { ...this.info, stoppedAt: new Date().toISOString(), sizeBytes, durationS };
    this.#logger.info({ path: this.info.path, sizeBytes, durationS }, 'recording stopped');
    return stopped;
  }
}

/** The file's duration in seconds (ffprobe next to ffmpeg), 0 when it cannot be read. */
async function probeDuration(path: string): Promise<number> {
  try {
    const { stdout } = await execFileAsync(
      'ffprobe',
      ['-v', 'error', '-show_entries', 'format=duration', '-of', 'default=noprint_wrappers=1:nokey=1', path],
      { encoding: 'utf8', timeout: 10_000 },
    );
    const value = Number.parseFloat(stdout);
    return Number.isFinite(value) ? Math.round(value * 100) / 100 : 0;
  } catch {
    return 0;
  }
}
