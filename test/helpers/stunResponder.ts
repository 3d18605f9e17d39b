import { createSocket, type Socket } from 'node:dgram';

/**
 * A STUN server on loopback for tests of ANNOUNCED_IP=auto: answers Binding requests with the
 * address it is told to (a NAT's public side), or with the sender's own, or not at all (`silent`).
 */
export class StunResponder {
  readonly socket: Socket;
  readonly port: number;
  requests = 0;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.port = socket.address().port;
  }

  static async start(options: { mappedAddress?: string; silent?: boolean } = {}): Promise<StunResponder> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const responder = new StunResponder(socket);
    socket.on('message', (message, from) => {
      if (message.length < 20 || message.readUInt16BE(0) !== 0x0001) return;
      responder.requests++;
      if (options.silent) return;
      socket.send(
        bindingSuccess(message.subarray(8, 20), options.mappedAddress ?? from.address, from.port),
        from.port,
        from.address,
      );
    });
    return responder;
  }

  get url(): string {
    return `stun:127.0.0.1:${this.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A Binding success response with one XOR-MAPPED-ADDRESS (IPv4). */
function bindingSuccess(transactionId: Buffer, address: string, port: number): Buffer {
  const message = Buffer.alloc(32);
  message.writeUInt16BE(0x0101, 0);
  message.writeUInt16BE(12, 2);
  message.writeUInt32BE(0x2112a442, 4);
  transactionId.copy(message, 8);
  message.writeUInt16BE(0x0020, 20);
  message.writeUInt16BE(8, 22);
  message[25] = 0x01;
  message.writeUInt16BE(port ^ 0x2112, 26);
  address.split('.').forEach((octet, i) => {
    message[28 + i] = Number(octet) ^ (message[4 + i] ?? 0);
  });
  return message;
}
