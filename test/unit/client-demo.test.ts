import { describe, expect, it } from 'vitest';
import {
  avatarColor,
  fitGrid,
  generateRoomId,
  initials,
  inviteLink,
  isValidRoomId,
  modeLabel,
  roomFromUrl,
  sanitizeRoomId,
  sfuBannerMessage,
} from '../../src/client/demo/helpers.ts';

describe('demo helpers', () => {
  it('reads the room from ?room= or /meeting/:id', () => {
    expect(roomFromUrl(new URL('http://x/?room=abc'))).toBe('abc');
    expect(roomFromUrl(new URL('http://x/meeting/standup-42'))).toBe('standup-42');
    expect(roomFromUrl(new URL('http://x/?room=%20my%20room%20'))).toBe('my-room');
    expect(roomFromUrl(new URL('http://x/'))).toBeUndefined();
    expect(roomFromUrl(new URL('http://x/?room='))).toBeUndefined();
  });

  it('sanitizes room ids to the protocol alphabet', () => {
    expect(sanitizeRoomId('Team Sync / Monday')).toBe('Team-Sync-Monday');
    expect(sanitizeRoomId('###')).toBeUndefined();
    expect(sanitizeRoomId('a'.repeat(300))).toHaveLength(128);
    expect(isValidRoomId(sanitizeRoomId('ok:id@x.y_z') as string)).toBe(true);
  });

  it('generates readable valid room ids', () => {
    let seed = 7;
    const rnd = (n: number) => Uint8Array.from({ length: n }, () => (seed = (seed * 73 + 11) % 256));
    const id = generateRoomId(rnd);
    expect(id).toMatch(/^[a-z]{3}-[a-z]{4}-[a-z]{3}$/);
    expect(isValidRoomId(id)).toBe(true);
    expect(generateRoomId(rnd)).not.toBe(id);
  });

  it('builds an invite link without the name', () => {
    expect(inviteLink('https://call.example', 'a b')).toBe('https://call.example/?room=a%20b');
  });

  it('initials and colors', () => {
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('  grace  ')).toBe('G');
    expect(initials('Jean Claude Van Damme')).toBe('JD');
    expect(initials('')).toBe('?');
    expect(avatarColor('peer-1')).toBe(avatarColor('peer-1'));
    expect(avatarColor('peer-1')).toMatch(/^hsl\(\d+ 45% 42%\)$/);
  });

  it('fits tiles into the box', () => {
    expect(fitGrid(1, 1600, 900, 0)).toEqual({ columns: 1, rows: 1, width: 1600, height: 900 });
    const four = fitGrid(4, 1600, 900, 0);
    expect(four.columns).toBe(2);
    expect(four.width).toBe(800);
    const tall = fitGrid(3, 400, 1000, 10);
    expect(tall.columns).toBe(1);
    expect(tall.rows).toBe(3);
    for (const n of [1, 2, 3, 5, 7, 12]) {
      const f = fitGrid(n, 1200, 700, 12);
      expect(f.columns * f.rows).toBeGreaterThanOrEqual(n);
      expect(f.width * f.columns + 12 * (f.columns - 1)).toBeLessThanOrEqual(1200);
      expect(f.height * f.rows + 12 * (f.rows - 1)).toBeLessThanOrEqual(700);
    }
    expect(fitGrid(0, 100, 100, 0).width).toBe(0);
  });

  it('labels the modes', () => {
    expect(modeLabel('p2p').text).toBe('P2P');
    expect(modeLabel('sfu').text).toBe('SFU');
    expect(modeLabel('upgrading').text).toBe('Switching…');
    expect(modeLabel('downgrading').text).toBe('Switching…');
  });

  it('words the SFU banner by code and by where the call is', () => {
    expect(sfuBannerMessage('SFU_UNREACHABLE', 'p2p')).toMatch(/cannot be reached.*continues peer-to-peer/);
    expect(sfuBannerMessage('SFU_UNREACHABLE', 'sfu')).toMatch(/Video may not arrive/);
    expect(sfuBannerMessage('SFU_UNAVAILABLE', 'sfu')).toMatch(/Waiting for the media server/);
    expect(sfuBannerMessage('SFU_WORKER_DIED', 'p2p')).toMatch(/failed/);
    expect(sfuBannerMessage('ROOM_FULL', 'p2p')).toBeUndefined();
  });
});
