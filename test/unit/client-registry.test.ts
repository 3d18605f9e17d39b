import { describe, expect, it } from 'vitest';
import { type TrackCandidate, TrackRegistry } from '../../src/client/TrackRegistry.ts';
import type { MediaPath, MediaSource } from '../../src/client/types.ts';

let nextId = 1;
const cand = (peerId: string, source: MediaSource, path: MediaPath): TrackCandidate => ({
  id: `${path}-${nextId++}`,
  peerId,
  source,
  kind: source === 'mic' ? 'audio' : 'video',
  path,
});

function setup() {
  const log: string[] = [];
  const reg = new TrackRegistry<TrackCandidate>(
    (c) => log.push(`show ${c.peerId}/${c.source}/${c.path}`),
    (c) => log.push(`hide ${c.peerId}/${c.source}/${c.path}`),
  );
  return { reg, log };
}

describe('TrackRegistry', () => {
  it('shows the first candidate of a source whatever its path', () => {
    const { reg, log } = setup();
    reg.add(cand('a', 'camera', 'sfu'));
    expect(log).toEqual(['show a/camera/sfu']);
  });

  it('keeps the preferred path shown when the other path arrives', () => {
    const { reg, log } = setup();
    reg.add(cand('a', 'camera', 'p2p'));
    reg.add(cand('a', 'camera', 'sfu'));
    expect(log).toEqual(['show a/camera/p2p']);
    expect(reg.candidates()).toHaveLength(2);
  });

  it('switching the preferred path shows the new track BEFORE hiding the old one', () => {
    const { reg, log } = setup();
    reg.add(cand('a', 'camera', 'p2p'));
    reg.add(cand('a', 'mic', 'p2p'));
    reg.add(cand('a', 'camera', 'sfu'));
    reg.add(cand('a', 'mic', 'sfu'));
    log.length = 0;
    reg.setPreferred('sfu');
    expect(log).toEqual(['show a/camera/sfu', 'hide a/camera/p2p', 'show a/mic/sfu', 'hide a/mic/p2p']);
  });

  it('a source with only the old path stays shown after the switch (no gap), until it is removed', () => {
    const { reg, log } = setup();
    const p2p = cand('a', 'screen', 'p2p');
    reg.add(p2p);
    reg.setPreferred('sfu');
    expect(log).toEqual(['show a/screen/p2p']);
    const sfu = cand('a', 'screen', 'sfu');
    reg.add(sfu);
    expect(log).toEqual(['show a/screen/p2p', 'show a/screen/sfu', 'hide a/screen/p2p']);
    reg.remove(p2p);
    expect(log).toHaveLength(3);
    expect(reg.shownFor('a', 'screen')).toBe(sfu);
  });

  it('removing the shown candidate falls back to the other path', () => {
    const { reg, log } = setup();
    const p2p = cand('a', 'camera', 'p2p');
    const sfu = cand('a', 'camera', 'sfu');
    reg.add(p2p);
    reg.add(sfu);
    reg.remove(p2p);
    expect(log).toEqual(['show a/camera/p2p', 'show a/camera/sfu', 'hide a/camera/p2p']);
  });

  it('replacing a candidate on the same path shows the new one then hides the old one', () => {
    const { reg, log } = setup();
    reg.add(cand('a', 'camera', 'p2p'));
    reg.add(cand('a', 'camera', 'p2p'));
    expect(log).toEqual(['show a/camera/p2p', 'show a/camera/p2p', 'hide a/camera/p2p']);
    expect(reg.candidates()).toHaveLength(1);
  });

  it('removing a stale (already replaced) candidate is a no-op', () => {
    const { reg, log } = setup();
    const old = cand('a', 'camera', 'p2p');
    reg.add(old);
    reg.add(cand('a', 'camera', 'p2p'));
    log.length = 0;
    reg.remove(old);
    expect(log).toEqual([]);
  });

  it('removePath / removePeer / clear hide what they remove', () => {
    const { reg, log } = setup();
    reg.add(cand('a', 'camera', 'p2p'));
    reg.add(cand('b', 'camera', 'p2p'));
    reg.add(cand('b', 'camera', 'sfu'));
    log.length = 0;
    reg.removePath('p2p');
    expect(log).toEqual(['hide a/camera/p2p', 'show b/camera/sfu', 'hide b/camera/p2p']);
    log.length = 0;
    reg.removePeer('b');
    expect(log).toEqual(['hide b/camera/sfu']);
    reg.add(cand('c', 'mic', 'sfu'));
    log.length = 0;
    reg.clear();
    expect(log).toEqual(['hide c/mic/sfu']);
    expect(reg.shown()).toEqual([]);
  });

  it('pendingFor lists sources missing or not flowing on the target path', () => {
    const { reg } = setup();
    const aCamP2p = cand('a', 'camera', 'p2p');
    const aCamSfu = cand('a', 'camera', 'sfu');
    reg.add(aCamP2p);
    reg.add(aCamSfu);
    reg.add(cand('a', 'mic', 'p2p'));
    const bCamSfu = cand('b', 'camera', 'sfu');
    reg.add(bCamSfu);
    const flowing = new Set<string>([aCamSfu.id, bCamSfu.id]);
    expect(reg.pendingFor('sfu', (c) => flowing.has(c.id))).toEqual([{ peerId: 'a', source: 'mic' }]);
    expect(reg.pendingFor('p2p', () => true)).toEqual([{ peerId: 'b', source: 'camera' }]);
  });

  it('isShown / shown() / get()', () => {
    const { reg } = setup();
    const p2p = cand('a', 'camera', 'p2p');
    const sfu = cand('a', 'camera', 'sfu');
    reg.add(p2p);
    reg.add(sfu);
    expect(reg.isShown(p2p)).toBe(true);
    expect(reg.isShown(sfu)).toBe(false);
    expect(reg.shown()).toEqual([p2p]);
    expect(reg.get('a', 'camera', 'sfu')).toBe(sfu);
    expect(reg.candidates('sfu')).toEqual([sfu]);
  });
});
