import type { DataConsumer, DataProducer } from 'mediasoup-client/types';
import type { MediaPath } from './types.ts';

/**
 * The sending end of one attempt at a file: a P2P RTCDataChannel, or an SFU DataProducer. Both
 * are RTCDataChannels underneath; this is the part FileTransfer uses, with one event style.
 */
export interface FileSendPipe {
  readonly path: MediaPath;
  readonly readyState: RTCDataChannelState;
  readonly bufferedAmount: number;
  send(data: string | ArrayBuffer | Uint8Array<ArrayBuffer>): void;
  close(): void;
  /** `low`: bufferedAmount fell under the low mark. Returns the unsubscribe. */
  on(event: 'open' | 'close' | 'low', listener: () => void): () => void;
}

/** The receiving end of one attempt at a file. */
export interface FileReceivePipe {
  readonly path: MediaPath;
  readonly label: string;
  onMessage(listener: (data: string | ArrayBuffer) => void): void;
  onClose(listener: () => void): void;
  close(): void;
}

/** Sending pauses while this much waits in the channel, and goes on below the low mark. */
export const HIGH_WATER_BYTES = 4 * 1024 * 1024;
export const LOW_WATER_BYTES = 1024 * 1024;

const channelEvents = { open: 'open', close: 'close', low: 'bufferedamountlow' } as const;

export function channelSendPipe(channel: RTCDataChannel): FileSendPipe {
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
  return {
    path: 'p2p',
    get readyState() {
      return channel.readyState;
    },
    get bufferedAmount() {
      return channel.bufferedAmount;
    },
    send: (data) => channel.send(data as string & ArrayBuffer),
    close: () => channel.close(),
    on(event, listener) {
      const name = channelEvents[event];
      channel.addEventListener(name, listener);
      return () => channel.removeEventListener(name, listener);
    },
  };
}

export function channelReceivePipe(channel: RTCDataChannel): FileReceivePipe {
  channel.binaryType = 'arraybuffer';
  return {
    path: 'p2p',
    label: channel.label,
    onMessage: (listener) => channel.addEventListener('message', (e) => listener(e.data)),
    onClose: (listener) => channel.addEventListener('close', listener, { once: true }),
    close: () => channel.close(),
  };
}

const producerEvents = { open: 'open', close: 'close', low: 'bufferedamountlow' } as const;

export function dataProducerSendPipe(producer: DataProducer): FileSendPipe {
  producer.bufferedAmountLowThreshold = LOW_WATER_BYTES;
  return {
    path: 'sfu',
    get readyState() {
      return producer.closed ? 'closed' : producer.readyState;
    },
    get bufferedAmount() {
      return producer.bufferedAmount;
    },
    send: (data) => producer.send(data as string & ArrayBuffer),
    close: () => {
      if (!producer.closed) producer.close();
    },
    on(event, listener) {
      if (event === 'close') {
        // Closed by us, by its channel, or with its transport (the SFU session went away).
        producer.observer.on('close', listener);
        return () => producer.observer.off('close', listener);
      }
      const name = producerEvents[event];
      producer.on(name, listener);
      return () => producer.off(name, listener);
    },
  };
}

export function dataConsumerReceivePipe(consumer: DataConsumer): FileReceivePipe {
  consumer.binaryType = 'arraybuffer';
  return {
    path: 'sfu',
    label: consumer.label,
    onMessage: (listener) => consumer.on('message', (data: string | ArrayBuffer) => listener(data)),
    onClose: (listener) => consumer.observer.once('close', listener),
    close: () => {
      if (!consumer.closed) consumer.close();
    },
  };
}
