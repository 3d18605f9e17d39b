/* Pure helpers of the demo page (no DOM), unit-tested in test/unit/client-demo.test.ts. */

/** Room ids the server accepts (protocol Id): letters, digits and _ . : @ -, at most 128. */
const ROOM_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

export function isValidRoomId(id: string): boolean {
  return ROOM_ID.test(id);
}

/** The room named by the URL: `?room=abc`, or the server's join-link shape `/meeting/abc`. */
export function roomFromUrl(url: URL): string | undefined {
  const fromQuery = url.searchParams.get('room')?.trim();
  if (fromQuery) return sanitizeRoomId(fromQuery);
  const match = /^\/meeting\/([^/]+)\/?$/.exec(url.pathname);
  if (match?.[1]) return sanitizeRoomId(decodeURIComponent(match[1]));
  return undefined;
}

/** Makes any string a valid room id (invalid characters become '-'); undefined when nothing is left. */
export function sanitizeRoomId(raw: string): string | undefined {
  const cleaned = raw
    .trim()
    .replace(/[^A-Za-z0-9_.:@-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 128);
  return cleaned.length > 0 ? cleaned : undefined;
}

/** A readable random room id like `kqv-mdzt-pwa`, from a source of random bytes. */
export function generateRoomId(randomBytes: (n: number) => Uint8Array): string {
  const letters = 'abcdefghijkmnopqrstuvwxyz'; // no 'l': it reads like 1 or I
  const bytes = randomBytes(10);
  const pick = (i: number) => letters[(bytes[i] ?? 0) % letters.length];
  const part = (from: number, len: number) => Array.from({ length: len }, (_, k) => pick(from + k)).join('');
  return `${part(0, 3)}-${part(3, 4)}-${part(7, 3)}`;
}

/** The link others use to join: the room, without our own name. */
export function inviteLink(origin: string, roomId: string): string {
  return `${origin}/?room=${encodeURIComponent(roomId)}`;
}

/** Up to two initials of a display name. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = [...(words[0] ?? '')][0] ?? '';
  const last = words.length > 1 ? ([...(words[words.length - 1] ?? '')][0] ?? '') : '';
  return (first + last).toUpperCase();
}

/** A stable, pleasant color per peer id. */
export function avatarColor(seed: string): string {
  let h = 0;
  for (let i = 0; i < seed.length; i++) h = (h * 31 + seed.charCodeAt(i)) >>> 0;
  return `hsl(${h % 360} 45% 42%)`;
}

export interface GridFit {
  columns: number;
  rows: number;
  width: number;
  height: number;
}

/**
 * The largest tile size that fits `count` tiles of `aspect` (width / height) into a `width` x
 * `height` box with `gap` between them, trying every column count.
 */
export function fitGrid(count: number, width: number, height: number, gap: number, aspect = 16 / 9): GridFit {
  if (count <= 0 || width <= 0 || height <= 0) return { columns: 1, rows: 1, width: 0, height: 0 };
  let best: GridFit = { columns: 1, rows: count, width: 0, height: 0 };
  for (let columns = 1; columns <= count; columns++) {
    const rows = Math.ceil(count / columns);
    let w = (width - gap * (columns - 1)) / columns;
    let h = w / aspect;
    if (h * rows + gap * (rows - 1) > height) {
      h = (height - gap * (rows - 1)) / rows;
      w = h * aspect;
    }
    if (w > best.width) best = { columns, rows, width: Math.floor(w), height: Math.floor(h) };
  }
  return best;
}

/** What the mode badge says. */
export function modeLabel(mode: string): { text: string; title: string } {
  switch (mode) {
    case 'sfu':
      return { text: 'SFU', title: 'Media is routed through the server (SFU)' };
    case 'upgrading':
    case 'downgrading':
      return { text: 'Switching…', title: 'The call is moving its media to a new route; nothing to do' };
    default:
      return { text: 'P2P', title: 'Media flows directly between participants (peer-to-peer)' };
  }
}

/** What the SFU banner says for an error code, or undefined when the code is not about the SFU. */
export function sfuBannerMessage(code: string, mode: string): string | undefined {
  const onP2p = mode === 'p2p' || mode === 'upgrading';
  switch (code) {
    case 'SFU_UNREACHABLE':
      return onP2p
        ? 'The media server cannot be reached from this network. The call continues peer-to-peer.'
        : 'The media server cannot be reached from this network. Video may not arrive.';
    case 'SFU_UNAVAILABLE':
      return onP2p
        ? 'The media server is unavailable. The call continues peer-to-peer.'
        : 'Waiting for the media server…';
    case 'SFU_WORKER_DIED':
      return 'The media server failed. The call continues peer-to-peer.';
    default:
      return undefined;
  }
}
