import type { ServerMessage, ServerMessageOf } from '../../src/protocol/index.ts';
import { MscPeer, type MscPeer as MscPeerType, type MscSignaling, waitFor } from './mscPeer.ts';
import { TestClient } from './wsClient.ts';

/**
 * A synthetic participant driven over the real WebSocket protocol: it joins, follows the room's
 * mode changes, and in SFU modes produces synthetic audio+video (msc-node) and consumes every other
 * peer. It has no P2P media of its own, so it reports p2p-ready at once when the room goes down.
 */
export class SyntheticSfuClient {
  readonly ws: TestClient;
  readonly peerId: string;
  readonly modes: string[] = [];
  readonly errors: ServerMessageOf<'error'>[] = [];
  /** Client-side failures (a consume racing a closing producer, say); tests may assert on them. */
  readonly failures: string[] = [];
  peer: MscPeerType | undefined;
  /** sfu-restart messages handled. */
  restarts = 0;
  /** Where the SFU start got to (for diagnostics when a test times out). */
  stage = 'idle';
  #starting: Promise<void> | undefined;
  #readySent = false;
  #closed = false;
  readonly #produce: boolean;
  #videoKbps: number | undefined;

  private constructor(ws: TestClient, peerId: string, produce: boolean, audioLevelDbov?: number) {
    this.ws = ws;
    this.peerId = peerId;
    this.#produce = produce;
    this.#audioLevelDbov = audioLevelDbov;
  }

  /** The mic level its audio claims (ssrc-audio-level, −dBov); undefined: no level extension. */
  readonly #audioLevelDbov: number | undefined;

  static async join(
    wsUrl: string,
    roomId: string,
    peerId: string,
    options: { produce?: boolean; resumeToken?: string; audioLevelDbov?: number; videoKbps?: number } = {},
  ): Promise<SyntheticSfuClient> {
    const ws = await TestClient.connect(wsUrl);
    const client = new SyntheticSfuClient(ws, peerId, options.produce ?? true, options.audioLevelDbov);
    client.#videoKbps = options.videoKbps;
    ws.ws.on('message', (data) => client.#onPush(JSON.parse(data.toString()) as ServerMessage));
    const reply = await ws.request({
      type: 'join-room',
      roomId,
      peerId,
      displayName: peerId,
      mediaState: { audio: true, video: true, screen: false },
      ...(options.resumeToken !== undefined ? { resumeToken: options.resumeToken } : {}),
    });
    if (reply.type !== 'room-joined') throw new Error(`join failed: ${JSON.stringify(reply)}`);
    client.resumeToken = reply.resumeToken;
    client.resumed = reply.resumed === true;
    client.modes.push(reply.connectionMode);
    // A resumed peer is told what to do with its SFU side (sfu-restart), not guessed here.
    if (reply.connectionMode !== 'p2p' && !client.resumed) client.#startSfu(reply.routerRtpCapabilities);
    return client;
  }

  /** Leaves its room and joins `roomId` on the same socket (what the SDK does on move-to-room). */
  async moveTo(roomId: string): Promise<ServerMessageOf<'room-joined'>> {
    this.#stopSfu();
    const left = await this.ws.request({ type: 'leave-room' });
    if (left.type !== 'room-left') throw new Error(`leave failed: ${JSON.stringify(left)}`);
    const reply = await this.ws.request({
      type: 'join-room',
      roomId,
      peerId: this.peerId,
      displayName: this.peerId,
      mediaState: { audio: true, video: true, screen: false },
    });
    if (reply.type !== 'room-joined') throw new Error(`join failed: ${JSON.stringify(reply)}`);
    this.modes.push(reply.connectionMode);
    if (reply.connectionMode !== 'p2p') this.#startSfu(reply.routerRtpCapabilities);
    return reply;
  }

  /** From room-joined: presenting it on a new connection resumes this peer. */
  resumeToken: string | undefined;
  /** Whether the join was a resume. */
  resumed = false;

  get mode(): string {
    return this.modes.at(-1) ?? 'p2p';
  }

  /** Resolves when the SFU side is built (transports, producers, initial consumers). */
  async sfuStarted(): Promise<void> {
    await waitFor(() => this.#starting !== undefined, `${this.peerId} to start its SFU side`);
    await this.#starting;
  }

  /** Every producer of the other peers is consumed and has delivered at least `minPackets` packets. */
  receivingFromAll(producerIds: string[], minPackets = 1): boolean {
    return producerIds.every((id) => (this.peer?.receivedFrom(id) ?? 0) >= minPackets);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.peer?.close();
    await this.ws.close();
  }

  #onPush(message: ServerMessage): void {
    if (this.#closed) return;
    switch (message.type) {
      case 'mode-changed':
        this.modes.push(message.mode);
        if (message.mode === 'upgrading' || message.mode === 'sfu')
          this.#startSfu(message.routerRtpCapabilities);
        if (message.mode === 'downgrading') this.ws.send({ type: 'p2p-ready' });
        if (message.mode === 'p2p') this.#stopSfu();
        break;
      case 'sfu-restart':
        // The room's router was replaced: everything SFU is rebuilt against the new one.
        this.restarts++;
        this.#stopSfu();
        this.#startSfu(message.routerRtpCapabilities);
        break;
      case 'sfu-new-producer':
        if (message.peerId !== this.peerId) this.#consume(message.producerId);
        break;
      case 'error':
        this.errors.push(message);
        break;
    }
  }

  #startSfu(routerRtpCapabilities: unknown): void {
    if (this.#starting) return;
    this.#readySent = false;
    this.#starting = (async () => {
      this.stage = 'device';
      const peer = await MscPeer.create({
        peerId: this.peerId,
        routerRtpCapabilities,
        signaling: this.#signaling(),
      });
      this.peer = peer;
      this.stage = 'sfu-join';
      const existing = await peer.join();
      this.stage = 'recv-transport';
      await peer.ensureRecvTransport();
      if (this.#produce) {
        this.stage = 'produce-audio';
        await peer.produce(
          'audio',
          'mic',
          this.#audioLevelDbov !== undefined ? { audioLevelDbov: this.#audioLevelDbov } : {},
        );
        this.stage = 'produce-video';
        await peer.produce(
          'video',
          'camera',
          this.#videoKbps !== undefined ? { videoKbps: this.#videoKbps } : {},
        );
      }
      this.stage = `consume ${existing.length}`;
      // Not #consume: it waits for this very start to finish.
      await Promise.all(existing.map((p) => this.#consumeNow(peer, p.producerId)));
      this.stage = 'started';
      this.#reportReadyWhenFlowing();
    })();
    this.#starting.catch((err) => {
      if (!this.#closed) this.failures.push(`SFU start failed: ${err}`);
    });
  }

  #stopSfu(): void {
    this.peer?.close();
    this.peer = undefined;
    this.#starting = undefined;
  }

  /** A pushed producer: consumed once the SFU side is up. */
  async #consume(producerId: string): Promise<void> {
    await this.#starting?.catch(() => {});
    const peer = this.peer;
    if (peer) await this.#consumeNow(peer, producerId);
  }

  async #consumeNow(peer: MscPeerType, producerId: string): Promise<void> {
    if (peer.received.has(producerId)) return;
    await peer.consume(producerId).catch((err) => {
      if (!this.#closed) this.failures.push(`consume ${producerId} failed: ${err}`);
    });
  }

  /** sfu-ready once every consumed stream delivers packets (the make-before-break signal). */
  #reportReadyWhenFlowing(): void {
    const check = setInterval(() => {
      const peer = this.peer;
      if (this.#closed || !peer) return clearInterval(check);
      const streams = [...peer.received.values()];
      if (streams.every((s) => s.packets > 0)) {
        clearInterval(check);
        if (!this.#readySent && (this.mode === 'upgrading' || this.mode === 'sfu')) {
          this.#readySent = true;
          this.ws.send({ type: 'sfu-ready' });
        }
      }
    }, 50);
  }

  #signaling(): MscSignaling {
    const ask = async <T extends ServerMessage['type']>(message: Record<string, unknown>, expect: T) => {
      const reply = await this.ws.request(message, 10_000);
      if (reply.type !== expect) throw new Error(`${String(message.type)} failed: ${JSON.stringify(reply)}`);
      return reply as ServerMessageOf<T>;
    };
    return {
      join: async (rtpCapabilities) =>
        (await ask({ type: 'sfu-join', rtpCapabilities }, 'sfu-joined')).producers,
      createTransport: (direction) =>
        ask({ type: 'sfu-create-transport', direction }, 'sfu-transport-created'),
      connectTransport: async (transportId, dtlsParameters) => {
        await ask({ type: 'sfu-connect-transport', transportId, dtlsParameters }, 'sfu-transport-connected');
      },
      produce: async ({ transportId, kind, rtpParameters, source }) =>
        (
          await ask(
            { type: 'sfu-produce', transportId, kind, rtpParameters, appData: { source } },
            'sfu-produced',
          )
        ).producerId,
      consume: async (producerId) => {
        const reply = await ask({ type: 'sfu-consume', producerId }, 'sfu-consumed');
        return reply;
      },
      resumeConsumer: async (consumerId) => {
        await ask({ type: 'sfu-resume-consumer', consumerId }, 'sfu-consumer-resumed');
      },
    };
  }
}
