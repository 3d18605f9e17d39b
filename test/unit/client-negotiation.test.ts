import { describe, expect, it } from 'vitest';
import { CandidateQueue, decideOnDescription, isPolite, opensFirst } from '../../src/client/negotiation.ts';
import {
  kindOfSource,
  mediaStateFlag,
  SCREEN_STREAM_TAG,
  sourceFromStreamId,
  streamTagFor,
  tagStreamIds,
  USER_STREAM_TAG,
} from '../../src/client/sources.ts';

describe('perfect negotiation roles', () => {
  it('exactly one side of a pair is polite: the greater peer id', () => {
    expect(isPolite('b', 'a')).toBe(true);
    expect(isPolite('a', 'b')).toBe(false);
    for (const [x, y] of [
      ['peer-1', 'peer-2'],
      ['Zed', 'abc'],
      ['x:1', 'x:10'],
    ] as const) {
      expect(isPolite(x, y)).not.toBe(isPolite(y, x));
      expect(opensFirst(x, y)).not.toBe(opensFirst(y, x));
      expect(opensFirst(x, y)).toBe(!isPolite(x, y));
    }
  });
});

describe('decideOnDescription', () => {
  const base = { polite: false, makingOffer: false, isSettingRemoteAnswerPending: false } as const;

  it('applies an offer in stable state', () => {
    expect(decideOnDescription({ ...base, type: 'offer', signalingState: 'stable' })).toEqual({
      ignore: false,
      collision: false,
    });
  });

  it('impolite side ignores a colliding offer (we are making one)', () => {
    expect(
      decideOnDescription({ ...base, type: 'offer', signalingState: 'stable', makingOffer: true }),
    ).toEqual({
      ignore: true,
      collision: true,
    });
  });

  it('impolite side ignores an offer while its own waits for an answer', () => {
    expect(decideOnDescription({ ...base, type: 'offer', signalingState: 'have-local-offer' }).ignore).toBe(
      true,
    );
  });

  it('polite side accepts a colliding offer (rolls back)', () => {
    expect(
      decideOnDescription({ ...base, polite: true, type: 'offer', signalingState: 'have-local-offer' }),
    ).toEqual({ ignore: false, collision: true });
    expect(
      decideOnDescription({
        ...base,
        polite: true,
        type: 'offer',
        signalingState: 'stable',
        makingOffer: true,
      }),
    ).toEqual({ ignore: false, collision: true });
  });

  it('an offer during setRemoteDescription(answer) is not a collision', () => {
    expect(
      decideOnDescription({
        ...base,
        type: 'offer',
        signalingState: 'have-local-offer',
        isSettingRemoteAnswerPending: true,
      }),
    ).toEqual({ ignore: false, collision: false });
  });

  it('applies an answer only while our offer waits for one', () => {
    expect(decideOnDescription({ ...base, type: 'answer', signalingState: 'have-local-offer' }).ignore).toBe(
      false,
    );
    expect(decideOnDescription({ ...base, type: 'answer', signalingState: 'stable' }).ignore).toBe(true);
    expect(
      decideOnDescription({ ...base, polite: true, type: 'answer', signalingState: 'stable' }).ignore,
    ).toBe(true);
  });
});

describe('CandidateQueue', () => {
  it('holds candidates until drained, in order', () => {
    const q = new CandidateQueue<string | null>();
    q.push('a');
    q.push('b');
    q.push(null);
    expect(q.size).toBe(3);
    expect(q.drain()).toEqual(['a', 'b', null]);
    expect(q.size).toBe(0);
    expect(q.drain()).toEqual([]);
  });
});

describe('sources over P2P (msid stream tags)', () => {
  it('maps tag + kind to a source', () => {
    expect(sourceFromStreamId(USER_STREAM_TAG, 'audio')).toBe('mic');
    expect(sourceFromStreamId(USER_STREAM_TAG, 'video')).toBe('camera');
    expect(sourceFromStreamId(SCREEN_STREAM_TAG, 'video')).toBe('screen');
    expect(sourceFromStreamId(SCREEN_STREAM_TAG, 'audio')).toBe('screen-audio');
  });

  it('an untagged track counts as mic or camera', () => {
    expect(sourceFromStreamId(undefined, 'audio')).toBe('mic');
    expect(sourceFromStreamId('{0b8a-random}', 'video')).toBe('camera');
  });

  it('round-trips every source through its tag', () => {
    for (const source of ['mic', 'camera', 'screen', 'screen-audio'] as const) {
      expect(sourceFromStreamId(streamTagFor(source), kindOfSource(source))).toBe(source);
    }
  });

  it('tags use msid token characters only', () => {
    for (const tag of [USER_STREAM_TAG, SCREEN_STREAM_TAG]) expect(tag).toMatch(/^[A-Za-z0-9-]+$/);
  });

  it('replaces local stream ids in every msid line of an SDP', () => {
    const user = '3d1f0a4e-1111-4c2b-9a7e-abcdefabcdef';
    const screen = '{9f8e7d6c-2222-4b3a-8c9d-0123456789ab}';
    const sdp = [
      'v=0',
      `a=msid-semantic: WMS ${user} ${screen}`,
      'm=audio 9 UDP/TLS/RTP/SAVPF 111',
      `a=msid:${user} track-mic`,
      `a=ssrc:1 msid:${user} track-mic`,
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      `a=msid:${user} track-cam`,
      'm=video 9 UDP/TLS/RTP/SAVPF 96',
      `a=msid:${screen} track-screen`,
      '',
    ].join('\r\n');
    const out = tagStreamIds(sdp, { [user]: USER_STREAM_TAG, [screen]: SCREEN_STREAM_TAG });
    expect(out).not.toContain(user);
    expect(out).not.toContain(screen);
    expect(out).toContain(`a=msid:${USER_STREAM_TAG} track-mic`);
    expect(out).toContain(`a=ssrc:1 msid:${USER_STREAM_TAG} track-mic`);
    expect(out).toContain(`a=msid:${USER_STREAM_TAG} track-cam`);
    expect(out).toContain(`a=msid:${SCREEN_STREAM_TAG} track-screen`);
    expect(out.split('\r\n')).toHaveLength(sdp.split('\r\n').length);
  });

  it('media-state flags per source', () => {
    expect(mediaStateFlag('mic')).toBe('audio');
    expect(mediaStateFlag('camera')).toBe('video');
    expect(mediaStateFlag('screen')).toBe('screen');
  });
});
