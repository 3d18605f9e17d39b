import { describe, expect, it, vi } from 'vitest';
import { Emitter } from '../../src/client/Emitter.ts';

interface Events {
  ping: { n: number };
  done: undefined;
}

class Box extends Emitter<Events> {
  fire<K extends keyof Events>(type: K, payload: Events[K]): void {
    this.emit(type, payload);
  }
}

describe('client Emitter', () => {
  it('delivers typed payloads to every listener, in order', () => {
    const box = new Box();
    const seen: string[] = [];
    box.on('ping', ({ n }) => seen.push(`a${n}`));
    box.on('ping', ({ n }) => seen.push(`b${n}`));
    box.fire('ping', { n: 1 });
    expect(seen).toEqual(['a1', 'b1']);
  });

  it('on() returns an unsubscribe function; off() works too', () => {
    const box = new Box();
    const a = vi.fn();
    const b = vi.fn();
    const offA = box.on('ping', a);
    box.on('ping', b);
    offA();
    box.off('ping', b);
    box.fire('ping', { n: 1 });
    expect(a).not.toHaveBeenCalled();
    expect(b).not.toHaveBeenCalled();
    expect(box.listenerCount('ping')).toBe(0);
  });

  it('once() fires a single time', () => {
    const box = new Box();
    const fn = vi.fn();
    box.once('ping', fn);
    box.fire('ping', { n: 1 });
    box.fire('ping', { n: 2 });
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith({ n: 1 });
  });

  it('next() resolves with the next payload', async () => {
    const box = new Box();
    const next = box.next('ping');
    box.fire('ping', { n: 7 });
    await expect(next).resolves.toEqual({ n: 7 });
  });

  it('a throwing listener does not stop the others', () => {
    const box = new Box();
    const errors: unknown[] = [];
    box.onListenerError = (e) => errors.push(e);
    const after = vi.fn();
    box.on('ping', () => {
      throw new Error('boom');
    });
    box.on('ping', after);
    box.fire('ping', { n: 1 });
    expect(after).toHaveBeenCalledOnce();
    expect(errors).toHaveLength(1);
  });

  it('a listener may remove another during an emit without skipping anyone this round', () => {
    const box = new Box();
    const second = vi.fn();
    box.on('ping', () => box.off('ping', second));
    box.on('ping', second);
    box.fire('ping', { n: 1 });
    expect(second).toHaveBeenCalledOnce();
    box.fire('ping', { n: 2 });
    expect(second).toHaveBeenCalledOnce();
  });

  it('removeAllListeners() clears one type or all', () => {
    const box = new Box();
    box.on('ping', () => undefined);
    box.on('done', () => undefined);
    box.removeAllListeners('ping');
    expect(box.listenerCount('ping')).toBe(0);
    expect(box.listenerCount('done')).toBe(1);
    box.removeAllListeners();
    expect(box.listenerCount('done')).toBe(0);
  });
});
