import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ModeActions, ModeSwitcher } from '../../src/client/ModeSwitcher.ts';
import type { ConnectionMode, MediaPath } from '../../src/client/types.ts';

/** Fake actions: records calls; SFU start and "media flows" are resolved by the test. */
function fakes() {
  const calls: string[] = [];
  let sfuUp = false;
  let reachable = false;
  let startCount = 0;
  let startResult: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  let startPromise: Promise<void> | undefined;
  const waiters: Array<{
    path: MediaPath;
    resolve: (flowing: boolean) => void;
    isCurrent: () => boolean;
    oneTrackProves: (() => boolean) | undefined;
  }> = [];
  const actions: ModeActions = {
    startSfu: () => {
      if (!startPromise) {
        startCount++;
        calls.push('startSfu');
        startPromise = new Promise<void>((resolve, reject) => {
          startResult = {
            resolve: () => {
              sfuUp = true;
              resolve();
            },
            reject: (e) => {
              startPromise = undefined;
              reject(e);
            },
          };
        });
      }
      return startPromise;
    },
    prewarmSfu: () => {
      calls.push('prewarmSfu');
      sfuUp = true;
      return Promise.resolve();
    },
    stopSfu: () => {
      if (sfuUp || startPromise) calls.push('stopSfu');
      sfuUp = false;
      startPromise = undefined;
    },
    sfuReachable: () => reachable,
    restartSfu: async () => {
      calls.push('restartSfu');
    },
    openMesh: (options) => calls.push(options?.now ? 'openMesh:now' : 'openMesh'),
    closeMesh: () => calls.push('closeMesh'),
    setPreferredPath: (p) => calls.push(`prefer:${p}`),
    waitForPath: (path, isCurrent, oneTrackProves) =>
      new Promise<boolean>((resolve) => {
        calls.push(`wait:${path}`);
        waiters.push({ path, resolve, isCurrent, oneTrackProves });
      }),
    sendReady: (p) => calls.push(`ready:${p}`),
    modeChanged: (m: ConnectionMode, prev: ConnectionMode) => calls.push(`mode:${prev}->${m}`),
    switched: (m, p) => calls.push(`switched:${m}:${p}`),
    error: (e) => calls.push(`error:${(e as { code?: string }).code ?? e}`),
  };
  // setImmediate, not setTimeout: the tests of the newcomer timer fake setTimeout only.
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    calls,
    actions,
    tick,
    waiters,
    get startCount() {
      return startCount;
    },
    setReachable: (value: boolean) => {
      reachable = value;
    },
    sfuStarted: async () => {
      startResult?.resolve();
      await tick();
    },
    sfuFails: async (code: string) => {
      startResult?.reject(Object.assign(new Error(code), { code }));
      await tick();
    },
    flows: async (path: MediaPath) => {
      for (const w of waiters.splice(0)) if (w.path === path) w.resolve(true);
      await tick();
    },
  };
}

describe('ModeSwitcher', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** The newcomer timer on a fake clock: it fires when the test says, never early on a busy machine. */
  const fakeTimers = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

  it('joining a p2p room opens the mesh and prefers P2P', () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    expect(f.calls).toEqual(['prefer:p2p', 'openMesh']);
    expect(s.allowsNewP2P).toBe(true);
  });

  it('sfu-prewarm in a p2p room builds the SFU session in the background, media staying P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.prewarm(true, { codecs: [] });
    await f.tick();
    expect(f.calls).toEqual(['prefer:p2p', 'openMesh', 'prewarmSfu']);
    expect(s.preferredPath).toBe('p2p');
    // At the threshold the switch starts the (prewarmed) session and waits for its media as usual.
    s.changed('upgrading', 'p2p');
    await f.sfuStarted();
    expect(f.calls.slice(3)).toEqual(['mode:p2p->upgrading', 'startSfu', 'wait:sfu']);
  });

  it('sfu-prewarm ended (the room shrank) drops the session; ignored outside p2p and in sfu rooms', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.prewarm(true, { codecs: [] });
    s.prewarm(false);
    expect(f.calls.slice(-2)).toEqual(['prewarmSfu', 'stopSfu']);
    const forced = fakes();
    const sfuRoom = new ModeSwitcher(forced.actions);
    sfuRoom.joined('sfu', { codecs: [] }, 'sfu');
    sfuRoom.prewarm(true, { codecs: [] });
    sfuRoom.prewarm(false);
    expect(forced.calls).not.toContain('prewarmSfu');
    expect(forced.calls).not.toContain('stopSfu');
  });

  it('joining an sfu room goes straight to the SFU, no P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('sfu', { codecs: [] });
    await f.sfuStarted();
    expect(f.calls).toEqual(['prefer:sfu', 'startSfu']);
    expect(s.allowsNewP2P).toBe(false);
    expect(s.acceptsP2POffers).toBe(false);
  });

  it('joining an upgrading room: SFU first, sfu-ready once it flows, no P2P when it flows soon', async () => {
    fakeTimers();
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { newcomerMeshAfterMs: 50 });
    s.joined('upgrading', {});
    await f.sfuStarted();
    expect(f.calls).toEqual(['prefer:p2p', 'startSfu', 'wait:sfu']);
    await f.flows('sfu');
    expect(f.calls.slice(-3)).toEqual(['prefer:sfu', 'switched:upgrading:sfu', 'ready:sfu']);
    await vi.advanceTimersByTimeAsync(80);
    expect(f.calls.filter((c) => c.startsWith('openMesh'))).toEqual([]);
    expect(s.allowsNewP2P).toBe(false);
  });

  it('a newcomer of an upgrading room proves its SFU path with one track, unless it opened P2P', async () => {
    fakeTimers();
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { newcomerMeshAfterMs: 5 });
    s.joined('upgrading', {});
    await f.sfuStarted();
    const newcomerWait = f.waiters.at(-1);
    // No P2P track to replace: the first track over the SFU is the evidence its sfu-ready gives.
    expect(newcomerWait?.oneTrackProves?.()).toBe(true);
    await vi.advanceTimersByTimeAsync(20);
    expect(f.calls).toContain('openMesh:now');
    // It opened P2P after all: now every track must flow over the SFU before it switches.
    expect(newcomerWait?.oneTrackProves?.()).toBe(false);

    // A peer that was in the room switches from its P2P tracks: every one of them must flow.
    const g = fakes();
    const t = new ModeSwitcher(g.actions);
    t.joined('p2p');
    t.changed('upgrading', 'p2p', {});
    await g.sfuStarted();
    expect(g.waiters.at(-1)?.oneTrackProves).toBeUndefined();
  });

  it('joining an upgrading room whose SFU is reachable but slow: waits for it, no P2P', async () => {
    fakeTimers();
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { newcomerMeshAfterMs: 5 });
    s.joined('upgrading', {});
    await f.sfuStarted();
    f.setReachable(true);
    await vi.advanceTimersByTimeAsync(20);
    expect(f.calls.filter((c) => c.startsWith('openMesh'))).toEqual([]);
    expect(s.allowsNewP2P).toBe(false);
  });

  it('joining an upgrading room whose SFU does not flow soon: opens P2P too, at once', async () => {
    fakeTimers();
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { newcomerMeshAfterMs: 5 });
    s.joined('upgrading', {});
    await f.sfuStarted();
    expect(s.allowsNewP2P).toBe(false);
    await vi.advanceTimersByTimeAsync(20);
    expect(f.calls).toContain('openMesh:now');
    expect(s.allowsNewP2P).toBe(true);
    expect(s.preferredPath).toBe('p2p');
    // The upgrade is aborted: the P2P it opened stays.
    s.changed('p2p', 'upgrading');
    expect(s.mode).toBe('p2p');
    expect(f.calls).not.toContain('closeMesh');
  });

  it('upgrade is make-before-break: P2P kept until the SFU flows, then switch, sfu-ready, and P2P closed on sfu', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    f.calls.length = 0;
    s.changed('upgrading', 'p2p', {});
    expect(f.calls).toEqual(['mode:p2p->upgrading', 'startSfu']);
    // Existing links stay; we open none to a newcomer, but answer one that offers (its SFU is slow).
    expect(s.allowsNewP2P).toBe(false);
    expect(s.acceptsP2POffers).toBe(true);
    await f.sfuStarted();
    expect(f.calls.at(-1)).toBe('wait:sfu');
    expect(f.calls).not.toContain('closeMesh');
    expect(s.preferredPath).toBe('p2p');
    await f.flows('sfu');
    expect(f.calls.slice(-3)).toEqual(['prefer:sfu', 'switched:upgrading:sfu', 'ready:sfu']);
    expect(f.calls).not.toContain('closeMesh');
    s.changed('sfu', 'upgrading');
    expect(f.calls.slice(-2)).toEqual(['mode:upgrading->sfu', 'closeMesh']);
    // No second switch event: the app already has the SFU tracks.
    expect(f.calls.filter((c) => c.startsWith('switched'))).toHaveLength(1);
    expect(f.startCount).toBe(1);
  });

  it('sfu arriving before the SFU flows switches at once and closes P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.changed('upgrading', 'p2p', {});
    await f.sfuStarted();
    f.calls.length = 0;
    s.changed('sfu', 'upgrading');
    expect(f.calls).toEqual(['mode:upgrading->sfu', 'prefer:sfu', 'switched:sfu:sfu', 'closeMesh']);
    // The old wait finishing late does nothing.
    await f.flows('sfu');
    expect(f.calls).not.toContain('ready:sfu');
  });

  it('upgrading straight back to p2p (SFU failure) tears the SFU down and keeps P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.changed('upgrading', 'p2p', {});
    await f.sfuStarted();
    f.calls.length = 0;
    s.changed('p2p', 'upgrading');
    expect(f.calls).toEqual(['mode:upgrading->p2p', 'openMesh', 'stopSfu']);
    expect(s.mode).toBe('p2p');
    expect(s.preferredPath).toBe('p2p');
  });

  it('SFU_UNAVAILABLE while starting falls back to p2p without retrying', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { sfuRetryDelayMs: 1 });
    s.joined('p2p');
    s.changed('upgrading', 'p2p', {});
    f.calls.length = 0;
    await f.sfuFails('SFU_UNAVAILABLE');
    expect(f.calls).toEqual(['error:SFU_UNAVAILABLE', 'mode:upgrading->p2p', 'openMesh']);
    expect(s.mode).toBe('p2p');
    expect(f.startCount).toBe(1);
  });

  it('sfuFailed() (an SFU_WORKER_DIED push) in sfu mode goes back to P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('sfu', {});
    await f.sfuStarted();
    f.calls.length = 0;
    s.sfuFailed();
    expect(f.calls).toEqual(['mode:sfu->p2p', 'openMesh', 'prefer:p2p', 'switched:p2p:p2p', 'stopSfu']);
    // The server's own mode-changed p2p that follows is a no-op.
    s.changed('p2p', 'sfu');
    expect(f.calls).toHaveLength(5);
  });

  it('a transient start failure is retried', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { sfuRetryDelayMs: 1 });
    s.joined('sfu', {});
    await f.sfuFails('INTERNAL');
    await new Promise((r) => setTimeout(r, 10));
    expect(f.startCount).toBe(2);
    await f.sfuStarted();
    expect(s.mode).toBe('sfu');
  });

  it('downgrade mirrors the upgrade: mesh up while the SFU stays, switch when P2P flows, then SFU closes', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('sfu', {});
    await f.sfuStarted();
    f.calls.length = 0;
    s.changed('downgrading', 'sfu', {});
    expect(f.calls).toEqual(['mode:sfu->downgrading', 'openMesh', 'wait:p2p']);
    expect(s.allowsNewP2P).toBe(true);
    expect(s.preferredPath).toBe('sfu');
    await f.flows('p2p');
    expect(f.calls.slice(-3)).toEqual(['prefer:p2p', 'switched:downgrading:p2p', 'ready:p2p']);
    expect(f.calls).not.toContain('stopSfu');
    s.changed('p2p', 'downgrading');
    expect(f.calls.slice(-3)).toEqual(['mode:downgrading->p2p', 'openMesh', 'stopSfu']);
  });

  it('downgrade aborted (back to sfu) closes the new mesh and stays on the SFU', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('sfu', {});
    await f.sfuStarted();
    s.changed('downgrading', 'sfu', {});
    f.calls.length = 0;
    s.changed('sfu', 'downgrading');
    expect(f.calls).toEqual(['mode:downgrading->sfu', 'closeMesh']);
    await f.flows('p2p');
    expect(f.calls).not.toContain('ready:p2p');
  });

  it('joining a downgrading room: SFU first, mesh alongside, switch to P2P when it flows', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('downgrading', {});
    expect(f.calls).toEqual(['prefer:sfu', 'startSfu', 'openMesh', 'wait:p2p']);
    await f.sfuStarted();
    await f.flows('p2p');
    expect(f.calls.slice(-3)).toEqual(['prefer:p2p', 'switched:downgrading:p2p', 'ready:p2p']);
  });

  it('an aborted upgrade after our SFU flowed switches the app back to the P2P tracks, which never stopped', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.changed('upgrading', 'p2p', {});
    await f.sfuStarted();
    await f.flows('sfu');
    expect(s.preferredPath).toBe('sfu');
    f.calls.length = 0;
    s.changed('p2p', 'upgrading');
    expect(f.calls).toEqual(['mode:upgrading->p2p', 'openMesh', 'prefer:p2p', 'switched:p2p:p2p', 'stopSfu']);
    expect(f.calls).not.toContain('closeMesh');
  });

  it('sfu-restart rebuilds the SFU session in place, without a mode change', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('sfu', { codecs: [] });
    await f.sfuStarted();
    f.calls.length = 0;
    s.restarted({ headerExtensions: [] });
    await f.tick();
    expect(f.calls).toEqual(['restartSfu']);
    expect(s.mode).toBe('sfu');
    expect(s.preferredPath).toBe('sfu');
    // Nothing to restart in a p2p room.
    s.changed('p2p', 'sfu');
    f.calls.length = 0;
    s.restarted({});
    await f.tick();
    expect(f.calls).toEqual([]);
  });

  it('a room forced to sfu never falls back to P2P', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions, { sfuRetryDelayMs: 1 });
    s.joined('sfu', {}, 'sfu');
    expect(s.policy).toBe('sfu');
    expect(s.acceptsP2POffers).toBe(false);
    await f.sfuFails('SFU_UNAVAILABLE');
    s.sfuFailed();
    expect(s.mode).toBe('sfu');
    expect(f.calls.filter((c) => c.startsWith('openMesh'))).toEqual([]);
    expect(s.allowsNewP2P).toBe(false);
  });

  it('a repeated mode is ignored; reset() forgets in-flight work', async () => {
    const f = fakes();
    const s = new ModeSwitcher(f.actions);
    s.joined('p2p');
    s.changed('upgrading', 'p2p', {});
    const n = f.calls.length;
    s.changed('upgrading', 'p2p', {});
    expect(f.calls).toHaveLength(n);
    s.reset();
    await f.sfuStarted();
    await f.flows('sfu');
    expect(f.calls).not.toContain('ready:sfu');
    expect(s.mode).toBe('p2p');
  });
});
