import type { ChatMessage } from '../protocol/index.ts';
import type { Signaling } from './Signaling.ts';

/**
 * Room chat over signaling. Messages arrive as the client's `chat` event (`{ message }`); names and
 * text are data: render them with textContent, never as HTML.
 *
 * ```ts
 * client.on('chat', ({ message }) => addLine(message.displayName, message.text));
 * await client.chat.send('hello');                     // to the room (kept in its history)
 * await client.chat.send('psst', { toPeerId: 'bob' }); // private (not kept)
 * const earlier = await client.chat.history();
 * ```
 */
export class Chat {
  readonly #signaling: Signaling;

  constructor(signaling: Signaling) {
    this.#signaling = signaling;
  }

  /** Sends; resolves with the message as the server stamped it. */
  async send(text: string, options: { toPeerId?: string } = {}): Promise<ChatMessage> {
    const reply = await this.#signaling.request(
      {
        type: 'chat-message',
        text,
        ...(options.toPeerId !== undefined ? { toPeerId: options.toPeerId } : {}),
      },
      'chat-message',
    );
    return reply.message;
  }

  /** The room's kept messages (the last CHAT_HISTORY), oldest first. */
  async history(): Promise<ChatMessage[]> {
    return (await this.#signaling.request({ type: 'chat-history' }, 'chat-history')).messages;
  }
}
