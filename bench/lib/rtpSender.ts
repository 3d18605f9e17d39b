/**
 * Synthetic media for bench/sfu.ts, built by hand (RFC 3550 header, RFC 7741 VP8 payload
 * descriptor): one opus stream at 50 packets/s and one VP8 stream at 30 frames/s, sent over UDP to
 * a mediasoup PlainTransport (comedia). RTCP coming back on the same socket is parsed: a PLI or FIR
 * makes the next video frame a key frame, which is how consumers start receiving video.
 *
 * Pacing is by the clock (packets due since start), so the rate holds whatever the timers do.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

export interface MediaProfile {
  audioPps: number;
  audioPayloadBytes: number;
  fps: number;
  /** Packets per inter frame and per key frame, and payload bytes per packet. */
  packetsPerFrame: number;
  packetsPerKeyFrame: number;
  videoPayloadBytes: number;
}

export const DEFAULT_PROFILE: MediaProfile = {
  audioPps: 50,
  audioPayloadBytes: 160, // ~64 kbps opus
  fps: 30,
  packetsPerFrame: 4,
  packetsPerKeyFrame: 12,
  videoPayloadBytes: 1100, // 30 x 4 x ~1.1 KB ≈ 1.1 Mbps
};

export function nominalPps(p: MediaProfile): { audio: number; video: number } {
  return { audio: p.audioPps, video: p.fps * p.packetsPerFrame };
}

export interface SenderStats {
  audioPackets: number;
  videoPackets: number;
  videoFrames: number;
  keyFrames: number;
  plis: number;
  firs: number;
  nacks: number;
  bytes: number;
}

export class RtpSender {
  readonly #socket: Socket;
  readonly #port: number;
  readonly #profile: MediaProfile;
  readonly #audio: { pt: number; ssrc: number };
  readonly #video: { pt: number; ssrc: number };
  readonly stats: SenderStats = {
    audioPackets: 0,
    videoPackets: 0,
    videoFrames: 0,
    keyFrames: 0,
    plis: 0,
    firs: 0,
    nacks: 0,
    bytes: 0,
  };
  #audioSeq = 0;
  #videoSeq = 0;
  #pictureId = 0;
  #tl0 = 0;
  #keyFramePending = true;
  #timer: NodeJS.Timeout | undefined;
  #t0 = 0;
  #audioDone = 0;
  #framesDone = 0;
  #stopAt = 0;
  readonly #filler = randomBytes(2048);

  constructor(
    port: number,
    audio: { pt: number; ssrc: number },
    video: { pt: number; ssrc: number },
    profile = DEFAULT_PROFILE,
  ) {
    this.#port = port;
    this.#audio = audio;
    this.#video = video;
    this.#profile = profile;
    this.#socket = createSocket({ type: 'udp4', sendBufferSize: 4 * 1024 * 1024 });
    this.#socket.on('message', (msg) => this.#onRtcp(msg));
  }

  async bind(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.bind(0, '127.0.0.1', resolve));
  }

  /** Sends until stop() or for at most `maxMs` (a bounded loop whatever the caller does). */
  start(maxMs: number): void {
    if (this.#timer) return;
    this.#t0 = performance.now();
    this.#stopAt = this.#t0 + maxMs;
    this.#audioDone = 0;
    this.#framesDone = 0;
    this.#timer = setInterval(() => this.#tick(), 5);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    this.#socket.close();
  }

  #tick(): void {
    const now = performance.now();
    if (now >= this.#stopAt) {
      this.stop();
      return;
    }
    const elapsed = (now - this.#t0) / 1000;
    const audioDue = Math.floor(elapsed * this.#profile.audioPps);
    // Catch up at most one second's worth at once after a stall.
    if (audioDue - this.#audioDone > this.#profile.audioPps)
      this.#audioDone = audioDue - this.#profile.audioPps;
    while (this.#audioDone < audioDue) {
      this.#sendAudio();
      this.#audioDone++;
    }
    const framesDue = Math.floor(elapsed * this.#profile.fps);
    if (framesDue - this.#framesDone > this.#profile.fps) this.#framesDone = framesDue - this.#profile.fps;
    while (this.#framesDone < framesDue) {
      this.#sendFrame();
      this.#framesDone++;
    }
  }

  #header(pt: number, marker: boolean, seq: number, timestamp: number, ssrc: number, size: number): Buffer {
    const b = Buffer.allocUnsafe(size);
    b[0] = 0x80; // V=2
    b[1] = (marker ? 0x80 : 0) | pt;
    b.writeUInt16BE(seq & 0xffff, 2);
    b.writeUInt32BE(timestamp >>> 0, 4);
    b.writeUInt32BE(ssrc >>> 0, 8);
    return b;
  }

  #send(b: Buffer): void {
    this.stats.bytes += b.length;
    this.#socket.send(b, this.#port, '127.0.0.1');
  }

  #sendAudio(): void {
    const seq = this.#audioSeq++;
    const b = this.#header(
      this.#audio.pt,
      false,
      seq,
      seq * 960,
      this.#audio.ssrc,
      12 + this.#profile.audioPayloadBytes,
    );
    this.#filler.copy(b, 12, 0, this.#profile.audioPayloadBytes);
    this.#send(b);
    this.stats.audioPackets++;
  }

  #sendFrame(): void {
    const key = this.#keyFramePending;
    this.#keyFramePending = false;
    const count = key ? this.#profile.packetsPerKeyFrame : this.#profile.packetsPerFrame;
    const timestamp = this.stats.videoFrames * (90000 / this.#profile.fps);
    const pictureId = this.#pictureId++ & 0x7fff;
    const tl0 = this.#tl0++ & 0xff;
    for (let i = 0; i < count; i++) {
      const size = 12 + this.#profile.videoPayloadBytes;
      const b = this.#header(
        this.#video.pt,
        i === count - 1,
        this.#videoSeq++,
        timestamp,
        this.#video.ssrc,
        size,
      );
      // VP8 payload descriptor: X=1, S on the first packet of the frame, PID=0; I, L, T present.
      b[12] = 0x80 | (i === 0 ? 0x10 : 0);
      b[13] = 0xe0;
      b[14] = 0x80 | (pictureId >> 8);
      b[15] = pictureId & 0xff;
      b[16] = tl0;
      b[17] = 0x20; // TID 0, Y=1
      let o = 18;
      if (i === 0) {
        // VP8 payload header: frame tag (P bit 0 = key frame), then for key frames the start code and size.
        const firstPartitionSize = 200;
        const tag = (key ? 0 : 1) | (0 << 1) | (1 << 4) | (firstPartitionSize << 5);
        b[o++] = tag & 0xff;
        b[o++] = (tag >> 8) & 0xff;
        b[o++] = (tag >> 16) & 0xff;
        if (key) {
          b[o++] = 0x9d;
          b[o++] = 0x01;
          b[o++] = 0x2a;
          b.writeUInt16LE(1280, o);
          b.writeUInt16LE(720, o + 2);
          o += 4;
        }
      }
      this.#filler.copy(b, o, 0, size - o);
      this.#send(b);
      this.stats.videoPackets++;
    }
    this.stats.videoFrames++;
    if (key) this.stats.keyFrames++;
  }

  /** Walks a compound RTCP packet: PSFB PLI (206/1) and FIR (206/4) ask for a key frame. */
  #onRtcp(msg: Buffer): void {
    let o = 0;
    while (o + 4 <= msg.length) {
      const fmt = msg[o]! & 0x1f;
      const pt = msg[o + 1]!;
      const words = msg.readUInt16BE(o + 2);
      if (pt === 206 && (fmt === 1 || fmt === 4)) {
        if (fmt === 1) this.stats.plis++;
        else this.stats.firs++;
        this.#keyFramePending = true;
      } else if (pt === 205 && fmt === 1) {
        this.stats.nacks++;
      }
      o += (words + 1) * 4;
    }
  }
}
