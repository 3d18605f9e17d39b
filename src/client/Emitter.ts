/**
 * A small typed event emitter that runs anywhere (browsers, Node, workers): no `node:` imports and
 * no DOM EventTarget, so payloads stay plain objects and listeners get them directly.
 *
 * A listener that throws does not stop the others; the error is handed to `onListenerError`
 * (by default re-thrown asynchronously, so it shows up in the console without breaking the emit).
 */
// biome-ignore lint/suspicious/noExplicitAny: event maps are keyed records of arbitrary payloads
export type EventMap = Record<string, any>;

export type Listener<P> = (payload: P) => void;

export class Emitter<Events extends EventMap> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>();
  onListenerError: (error: unknown) => void = (error) => {
    queueMicrotask(() => {
      throw error;
    });
  };

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(type);
    if (!set) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  /** Adds a listener that runs at most once. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    set.delete(listener as Listener<never>);
    if (set.size === 0) this.#listeners.delete(type);
  }

  /** Resolves with the next payload of `type`. */
  next<K extends keyof Events>(type: K): Promise<Events[K]> {
    return new Promise((resolve) => this.once(type, resolve));
  }

  listenerCount(type: keyof Events): number {
    return this.#listeners.get(type)?.size ?? 0;
  }

  removeAllListeners(type?: keyof Events): void {
    if (type === undefined) this.#listeners.clear();
    else this.#listeners.delete(type);
  }

  protected emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.#listeners.get(type);
    if (!set) return;
    // Copy: a listener may remove itself (once) or others while we iterate.
    for (const listener of [...set]) {
      try {
        (listener as Listener<Events[K]>)(payload);
      } catch (error) {
        this.onListenerError(error);
      }
    }
  }
}
