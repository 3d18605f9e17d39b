/*
 * The OpenCall demo page: joins the room named in the URL and shows everyone in a responsive grid.
 *
 * DOM hooks for tests: every tile has data-peer-id, data-source ('camera' | 'screen'),
 * data-local, data-display-name, data-mic-muted, data-camera-off, data-speaking; #mode-badge has data-mode;
 * #app has data-view ('loading' | 'lobby' | 'call' | 'ended'); the client is window.opencall.
 */
import {
  type ChatMessage,
  type ConnectionMode,
  type MediaSource,
  type MediaState,
  OpenCallClient,
  type OpenCallError,
} from '../index.ts';
import {
  avatarColor,
  fitGrid,
  generateRoomId,
  initials,
  inviteLink,
  modeLabel,
  roomFromUrl,
  sanitizeRoomId,
  sfuBannerMessage,
} from './helpers.ts';

declare global {
  interface Window {
    opencall: OpenCallClient;
  }
}

// ------------------------------------------------------------------ icons (24x24, stroke)

const ICONS = {
  mic: '<path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z"/><path d="M19 11a7 7 0 0 1-14 0"/><path d="M12 18v3"/>',
  micOff:
    '<path d="M15 9.3V6a3 3 0 0 0-5.7-1.3"/><path d="M9 9v3a3 3 0 0 0 5.1 2.1"/><path d="M19 11a7 7 0 0 1-1.2 3.9M16.9 16.9A7 7 0 0 1 5 11"/><path d="M12 18v3"/><path d="M3 3l18 18"/>',
  camera: '<rect x="2.5" y="6" width="13" height="12" rx="2.5"/><path d="M15.5 10.5l6-3.5v10l-6-3.5z"/>',
  cameraOff:
    '<path d="M10.5 6h2.5A2.5 2.5 0 0 1 15.5 8.5v2l6-3.5v10l-1.8-1"/><path d="M15.5 15.5A2.5 2.5 0 0 1 13 18H5a2.5 2.5 0 0 1-2.5-2.5v-7A2.5 2.5 0 0 1 5 6"/><path d="M3 3l18 18"/>',
  screen:
    '<rect x="2.5" y="4" width="19" height="13" rx="2"/><path d="M8 21h8M12 17v4"/><path d="M12 13V8M9.5 10.5 12 8l2.5 2.5"/>',
  link: '<path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/>',
  leave: '<path d="M2.5 15.5 4 18l4-1.5-.5-3a12 12 0 0 1 9 0l-.5 3 4 1.5 1.5-2.5c-5.8-5.6-13.2-5.6-19 0z"/>',
  people:
    '<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0"/><path d="M16 4.6a3.5 3.5 0 0 1 0 6.8M18 14a6.5 6.5 0 0 1 3.5 6"/>',
} as const;

const icon = (name: keyof typeof ICONS): string =>
  `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true">${ICONS[name]}</svg>`;

// ------------------------------------------------------------------ DOM

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
};

const app = $('app');
const views = { lobby: $('lobby'), call: $('call'), ended: $('ended') };
const stage = $('stage');
const grid = $('grid');
const spotlight = $('spotlight');
const emptyState = $('empty-state');
const modeBadge = $('mode-badge');
const modeText = $('mode-text');
const peopleCount = $('people-count');
const toasts = $('toasts');
const reconnectBanner = $('reconnect-banner');
const reconnectText = $('reconnect-text');
const soundBanner = $<HTMLButtonElement>('sound-banner');
const sfuBanner = $('sfu-banner');
const sfuBannerText = $('sfu-banner-text');
const buttons = {
  mic: $<HTMLButtonElement>('btn-mic'),
  camera: $<HTMLButtonElement>('btn-camera'),
  screen: $<HTMLButtonElement>('btn-screen'),
  copy: $<HTMLButtonElement>('btn-copy'),
  leave: $<HTMLButtonElement>('btn-leave'),
};
const lobbyVideo = $<HTMLVideoElement>('lobby-video');
const lobbyMic = $<HTMLButtonElement>('lobby-mic');
const lobbyCamera = $<HTMLButtonElement>('lobby-camera');
const lobbyPreviewOff = $('lobby-preview-off');
const lobbyPreviewText = $('lobby-preview-text');
const nameInput = $<HTMLInputElement>('name-input');
const joinForm = $<HTMLFormElement>('join-form');
const joinButton = $<HTMLButtonElement>('join-button');

type View = 'loading' | 'lobby' | 'call' | 'ended';

function showView(view: View): void {
  app.dataset.view = view;
  views.lobby.hidden = view !== 'lobby';
  views.call.hidden = view !== 'call';
  views.ended.hidden = view !== 'ended';
}

// ------------------------------------------------------------------ state

interface Participant {
  peerId: string;
  displayName: string;
  mediaState: MediaState;
  local: boolean;
  tracks: Map<MediaSource, MediaStreamTrack>;
}

interface Tile {
  el: HTMLElement;
  video: HTMLVideoElement;
  audio: HTMLAudioElement | undefined;
  name: HTMLElement;
  avatar: HTMLElement;
  videoTrack: MediaStreamTrack | undefined;
  audioTrack: MediaStreamTrack | undefined;
  /** The element that will show videoTrack once it has a frame (see showVideo). */
  incoming: HTMLVideoElement | undefined;
}

const NAME_KEY = 'opencall:name';
const url = new URL(location.href);
const wsUrl = `${location.origin.replace(/^http/, 'ws')}/ws`;
const client = new OpenCallClient({ debug: url.searchParams.has('debug') });
window.opencall = client;

let roomId = '';
let displayName = '';
let localStream: MediaStream | null = null;
let wantAudio = true;
let wantVideo = true;
let leaving = false;
const remotes = new Map<string, Participant>();
/** The room's active speaker (the server's active-speaker): its camera tile is outlined. */
let speakerId: string | undefined;
const me: Participant = {
  peerId: 'local',
  displayName: '',
  mediaState: { audio: false, video: false, screen: false },
  local: true,
  tracks: new Map(),
};
const tiles = new Map<string, Tile>();
const blockedAudio = new Set<HTMLMediaElement>();

// ------------------------------------------------------------------ start

function ensureRoom(): string {
  const fromUrl = roomFromUrl(url);
  if (fromUrl) return fromUrl;
  const id = generateRoomId((n) => crypto.getRandomValues(new Uint8Array(n)));
  url.searchParams.set('room', id);
  history.replaceState(null, '', url);
  return id;
}

async function main(): Promise<void> {
  roomId = ensureRoom();
  $('lobby-room').textContent = roomId;
  $('room-name').textContent = roomId;
  document.title = `${roomId} · OpenCall`;
  wireControls();
  wireClient();
  // The SFU's Device loads while the camera starts: a room that switches as we join does not wait for it.
  void client.prepareConnection(wsUrl);

  const name = url.searchParams.get('name')?.trim();
  if (name) {
    displayName = name.slice(0, 100);
    showView('call');
    await acquireMedia();
    await join();
    return;
  }
  nameInput.value = localStorage.getItem(NAME_KEY) ?? '';
  showView('lobby');
  nameInput.focus();
  await acquireMedia();
  updateLobbyPreview();
}

/** Camera + mic, falling back to whichever exists; the call works without either. */
async function acquireMedia(): Promise<void> {
  if (localStream?.getTracks().some((t) => t.readyState === 'live')) return;
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) {
    localStream = null;
    return;
  }
  const attempts: MediaStreamConstraints[] = [
    { audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } } },
    { audio: true, video: false },
    { audio: false, video: true },
  ];
  for (const constraints of attempts) {
    try {
      localStream = await md.getUserMedia(constraints);
      return;
    } catch {
      // try the next
    }
  }
  localStream = null;
  toast('No camera or microphone available: you can still watch and listen.', 'error');
}

function updateLobbyPreview(): void {
  const hasVideo = (localStream?.getVideoTracks().length ?? 0) > 0;
  const hasAudio = (localStream?.getAudioTracks().length ?? 0) > 0;
  if (lobbyVideo.srcObject !== localStream) lobbyVideo.srcObject = localStream;
  for (const t of localStream?.getVideoTracks() ?? []) t.enabled = wantVideo;
  for (const t of localStream?.getAudioTracks() ?? []) t.enabled = wantAudio;
  lobbyPreviewOff.hidden = hasVideo && wantVideo;
  lobbyPreviewText.textContent = hasVideo ? 'Camera is off' : 'No camera found';
  setToggle(lobbyMic, hasAudio && wantAudio, hasAudio, 'mic');
  setToggle(lobbyCamera, hasVideo && wantVideo, hasVideo, 'camera');
}

function setToggle(button: HTMLButtonElement, on: boolean, available: boolean, kind: 'mic' | 'camera'): void {
  button.setAttribute('aria-pressed', String(on));
  button.disabled = !available;
  button.innerHTML = icon(kind === 'mic' ? (on ? 'mic' : 'micOff') : on ? 'camera' : 'cameraOff');
  const what = kind === 'mic' ? 'microphone' : 'camera';
  button.title = available ? `Turn ${what} ${on ? 'off' : 'on'}` : `No ${what} found`;
  button.setAttribute('aria-label', button.title);
}

async function join(): Promise<void> {
  leaving = false;
  showView('call');
  me.displayName = displayName;
  me.tracks.clear();
  remotes.clear();
  if (localStream) client.publish(localStream);
  const hasAudio = (localStream?.getAudioTracks().length ?? 0) > 0;
  const hasVideo = (localStream?.getVideoTracks().length ?? 0) > 0;
  me.mediaState = { audio: hasAudio && wantAudio, video: hasVideo && wantVideo, screen: false };
  setMode(client.mode);
  render();
  try {
    // ?e2ee=1 makes the room end-to-end encrypted when this page is the one creating it.
    if (url.searchParams.get('e2ee') === '1') await createEncryptedRoom(roomId);
    await client.connect(wsUrl, {
      roomId,
      displayName,
      mediaState: { audio: me.mediaState.audio, video: me.mediaState.video },
    });
    $('waiting-banner').hidden = true;
    for (const message of await client.chat.history().catch(() => [])) addChatLine(message);
    me.peerId = client.peerId ?? 'local';
    me.mediaState = client.mediaState;
    setMode(client.mode);
    render();
  } catch (err) {
    const e = err as OpenCallError;
    stopLocalMedia();
    showEnded('Could not join the call', describeError(e));
  }
}

function describeError(e: { code?: string; message?: string }): string {
  switch (e.code) {
    case 'ROOM_FULL':
      return 'This room is full.';
    case 'ROOM_NOT_FOUND':
      return 'This room does not exist.';
    case 'CONNECTION_FAILED':
      return 'The server cannot be reached right now.';
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
      return 'You are not allowed to join this room.';
    default:
      return e.message ?? 'Something went wrong.';
  }
}

function stopLocalMedia(): void {
  for (const t of localStream?.getTracks() ?? []) t.stop();
  localStream = null;
}

function showEnded(title: string, text = ''): void {
  $('ended-title').textContent = title;
  $('ended-text').textContent = text;
  clearTiles();
  reconnectBanner.hidden = true;
  soundBanner.hidden = true;
  hideSfuBanner();
  showView('ended');
}

// ------------------------------------------------------------------ client events

/** One chat line; name and text are set as text, never parsed as HTML. */
function addChatLine(message: ChatMessage): void {
  const line = document.createElement('li');
  const name = document.createElement('span');
  name.className = 'chat-name';
  name.textContent = message.fromPeerId === client.peerId ? 'You' : message.displayName;
  const text = document.createElement('span');
  text.className = 'chat-text';
  text.textContent = message.toPeerId !== undefined ? `(private) ${message.text}` : message.text;
  line.append(name, text);
  const log = $('chat-log');
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

function wireChat(): void {
  const panel = $('chat-panel');
  const toggle = $<HTMLButtonElement>('btn-chat');
  toggle.addEventListener('click', () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute('aria-pressed', String(!panel.hidden));
    if (!panel.hidden) $<HTMLInputElement>('chat-input').focus();
  });
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $<HTMLInputElement>('chat-input');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    client.chat
      .send(text)
      .then(addChatLine)
      .catch((e: Error) => toast(e.message, 'error'));
  });
  client.on('chat', ({ message }) => {
    addChatLine(message);
    if (panel.hidden) toast(`${message.displayName}: ${message.text}`);
  });
}

/** Host side of the waiting room: a knock card with Admit / Deny per guest. */
function showKnock(peerId: string, name: string): void {
  const card = document.createElement('div');
  card.className = 'knock';
  card.dataset.peerId = peerId;
  const text = document.createElement('span');
  text.textContent = `${name} wants to join`;
  const admit = document.createElement('button');
  admit.className = 'admit';
  admit.textContent = 'Admit';
  admit.addEventListener(
    'click',
    () => void client.host.admit(peerId).catch((e: Error) => toast(e.message, 'error')),
  );
  const deny = document.createElement('button');
  deny.className = 'deny';
  deny.textContent = 'Deny';
  deny.addEventListener(
    'click',
    () => void client.host.deny(peerId).catch((e: Error) => toast(e.message, 'error')),
  );
  card.append(text, admit, deny);
  $('knocks').append(card);
}

/**
 * Breakout rooms. Hosts: the button splits the others into rooms of two (at random) or, while
 * rooms are open, brings everyone back. Everyone: a banner names the breakout room one is in.
 */
function wireBreakouts(): void {
  const button = $<HTMLButtonElement>('btn-breakouts');
  const banner = $('breakout-banner');
  let open = false;
  const setOpen = (value: boolean) => {
    open = value;
    button.setAttribute('aria-pressed', String(open));
    button.querySelector('.ctrl-label')!.textContent = open ? 'End breakouts' : 'Breakouts';
  };
  button.addEventListener('click', () => {
    const rooms = Math.max(1, Math.floor(remotes.size / 2));
    const action = open
      ? client.host.closeBreakouts()
      : client.host.openBreakouts(
          Array.from({ length: rooms }, (_, i) => ({ name: `Room ${i + 1}` })),
          'random',
        );
    action.then((r) => setOpen(r.breakouts.length > 0)).catch((e: Error) => toast(e.message, 'error'));
  });
  client.on('breakouts', ({ breakouts }) => setOpen(breakouts.length > 0));
  client.on('moving', ({ name, reason }) =>
    toast(name ? `Moving to ${name}…` : `Back to the main room (${reason})`),
  );
  // The tiles follow by themselves: the SDK reports the old room's peers left and the new ones joined.
  client.on('moved', ({ room, name }) => {
    banner.textContent = name ? `Breakout room: ${name}` : '';
    banner.hidden = !name;
    $('room-name').textContent = name ? `${roomId} · ${name}` : room.roomId;
    render();
  });
  client.on('breakout-message', ({ text }) => toast(`Host to all rooms: ${text}`));
}

/**
 * Files: drop one anywhere on the call to send it to everyone (P2P); a received file shows as a
 * download link in the chat panel.
 */
function wireFiles(): void {
  document.addEventListener('dragover', (event) => event.preventDefault());
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    const file = event.dataTransfer?.files[0];
    if (!file || client.state !== 'connected') return;
    toast(`Sending ${file.name}…`);
    client
      .sendFile(file)
      .then(() => toast(`${file.name} sent`))
      .catch((e: Error) => toast(e.message, 'error'));
  });
  client.on('file-received', ({ fromPeerId, name, file }) => {
    const sender = remotes.get(fromPeerId)?.displayName ?? fromPeerId;
    const line = document.createElement('li');
    const link = document.createElement('a');
    link.href = URL.createObjectURL(file);
    link.download = name;
    link.className = 'file-link';
    link.textContent = `${sender} sent ${name} (${Math.ceil(file.size / 1024)} KB)`;
    line.append(link);
    $('chat-log').append(line);
    toast(`${sender} sent you ${name}`);
  });
}

/** POST /api/rooms with encryption e2ee; a room that exists already keeps what it has. */
async function createEncryptedRoom(id: string): Promise<void> {
  const response = await fetch('/api/rooms', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ roomId: id, encryption: 'e2ee' }),
  });
  if (!response.ok && response.status !== 409) toast('Could not create an encrypted room', 'error');
}

function wireClient(): void {
  wireChat();
  wireBreakouts();
  wireFiles();
  client.on('recording-started', () => {
    $('rec-indicator').hidden = false;
    toast('This call is being recorded');
  });
  client.on('recording-stopped', () => {
    $('rec-indicator').hidden = true;
  });
  // The lock shows while our frames are sealed with the room key.
  client.on('e2ee', ({ active }) => {
    $('e2ee-indicator').hidden = !active;
  });
  client.on('closed', () => {
    $('e2ee-indicator').hidden = true;
  });
  client.on('active-speaker', ({ peerId }) => {
    speakerId = peerId;
    render();
  });
  client.on('knock', ({ peerId, displayName: name }) => showKnock(peerId, name));
  client.on('knock-ended', ({ peerId }) => {
    for (const card of $('knocks').querySelectorAll<HTMLElement>('.knock')) {
      if (card.dataset.peerId === peerId) card.remove();
    }
  });
  client.on('waiting', () => {
    $('waiting-banner').hidden = false;
  });
  client.on('kicked', ({ reason }) => toast(`Removed from the call: ${reason}`, 'error'));
  client.on('mute-requested', () => toast('The host muted you'));
  client.on('peer-joined', (p) => {
    remotes.set(p.peerId, { ...p, local: false, tracks: new Map() });
    if (app.dataset.view === 'call' && client.state === 'connected') toast(`${p.displayName} joined`);
    render();
  });
  client.on('peer-left', ({ peerId, displayName: name }) => {
    remotes.delete(peerId);
    toast(`${name} left`);
    render();
  });
  client.on('track', ({ peerId, source, track }) => {
    const p = remotes.get(peerId);
    if (!p) return;
    p.tracks.set(source, track);
    render();
  });
  client.on('track-removed', ({ peerId, source, track }) => {
    const p = remotes.get(peerId);
    if (!p || p.tracks.get(source) !== track) return;
    p.tracks.delete(source);
    render();
  });
  client.on('media-state-changed', ({ peerId, mediaState }) => {
    const p = remotes.get(peerId);
    if (!p) return;
    p.mediaState = mediaState;
    render();
  });
  client.on('local-track', ({ source, track }) => {
    me.tracks.set(source, track);
    me.mediaState = client.mediaState;
    render();
  });
  client.on('local-track-removed', ({ source, track }) => {
    if (me.tracks.get(source) === track) me.tracks.delete(source);
    me.mediaState = client.mediaState;
    render();
  });
  client.on('mode-changed', ({ mode }) => setMode(mode));
  client.on('ready', ({ path }) => {
    setMode(client.mode);
    if (path === 'sfu') hideSfuBanner();
  });
  client.on('reconnecting', ({ attempt }) => {
    reconnectText.textContent = attempt > 1 ? `Reconnecting… (attempt ${attempt})` : 'Reconnecting…';
    reconnectBanner.hidden = false;
  });
  client.on('reconnected', () => {
    reconnectBanner.hidden = true;
    me.peerId = client.peerId ?? me.peerId;
    setMode(client.mode);
    toast('Reconnected');
    render();
  });
  client.on('closed', ({ reason }) => {
    if (leaving) return;
    stopLocalMedia();
    showEnded(
      'The call ended',
      reason.startsWith('room closed') ? 'The room was closed.' : 'The connection was lost.',
    );
  });
  client.on('error', (e) => {
    const banner = sfuBannerMessage(e.code, client.mode);
    if (banner) {
      // Not blocking, not alarming: the call goes on; say what happened and what it means.
      console.warn('[opencall]', e.code, e.message);
      showSfuBanner(e.code, banner);
      return;
    }
    // Media-path hiccups are handled inside the SDK; show only what a person can act on.
    if (['NEGOTIATION_FAILED', 'SFU_FAILED', 'REQUEST_TIMEOUT'].includes(e.code)) {
      console.warn('[opencall]', e.code, e.message);
      return;
    }
    toast(e.message, 'error');
  });
}

function showSfuBanner(code: string, text: string): void {
  sfuBannerText.textContent = text;
  sfuBanner.dataset.code = code;
  sfuBanner.hidden = false;
}

function hideSfuBanner(): void {
  sfuBanner.hidden = true;
  delete sfuBanner.dataset.code;
}

function setMode(mode: ConnectionMode): void {
  const { text, title } = modeLabel(mode);
  modeBadge.dataset.mode = mode;
  modeBadge.title = title;
  modeText.textContent = text;
}

// ------------------------------------------------------------------ controls

function wireControls(): void {
  buttons.copy.querySelector('.ctrl-icon')!.innerHTML = icon('link');
  buttons.screen.querySelector('.ctrl-icon')!.innerHTML = icon('screen');
  buttons.leave.querySelector('.ctrl-icon')!.innerHTML = icon('leave');
  if (!navigator.mediaDevices?.getDisplayMedia) buttons.screen.hidden = true;

  lobbyMic.addEventListener('click', () => {
    wantAudio = !wantAudio;
    updateLobbyPreview();
  });
  lobbyCamera.addEventListener('click', () => {
    wantVideo = !wantVideo;
    updateLobbyPreview();
  });
  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      nameInput.focus();
      return;
    }
    displayName = name.slice(0, 100);
    localStorage.setItem(NAME_KEY, displayName);
    url.searchParams.set('name', displayName);
    history.replaceState(null, '', url);
    joinButton.disabled = true;
    lobbyVideo.srcObject = null;
    void join().finally(() => {
      joinButton.disabled = false;
    });
  });

  buttons.mic.addEventListener('click', async () => {
    me.mediaState = await client.setMediaState({ audio: !client.mediaState.audio });
    render();
  });
  buttons.camera.addEventListener('click', async () => {
    me.mediaState = await client.setMediaState({ video: !client.mediaState.video });
    render();
  });
  buttons.screen.addEventListener('click', async () => {
    if (client.mediaState.screen) {
      client.stopScreenShare();
    } else {
      try {
        await client.startScreenShare();
      } catch (err) {
        // Cancelling the browser's picker is not an error worth a toast.
        if (!/denied|not allowed|cancel|abort/i.test(String((err as Error).message))) {
          toast('Could not share the screen', 'error');
        }
      }
    }
    me.mediaState = client.mediaState;
    render();
  });
  $('sfu-banner-close').addEventListener('click', hideSfuBanner);
  buttons.copy.addEventListener('click', copyLink);
  $('empty-copy').addEventListener('click', copyLink);
  buttons.leave.addEventListener('click', async () => {
    leaving = true;
    await client.leave();
    stopLocalMedia();
    showEnded('You left the call');
  });
  $('rejoin-button').addEventListener('click', async () => {
    await acquireMedia();
    await join();
  });
  soundBanner.addEventListener('click', () => {
    for (const el of blockedAudio) void el.play().catch(() => undefined);
    blockedAudio.clear();
    soundBanner.hidden = true;
  });
  new ResizeObserver(() => layout()).observe(stage);
}

async function copyLink(): Promise<void> {
  const link = inviteLink(location.origin, roomId);
  try {
    await navigator.clipboard.writeText(link);
  } catch {
    const input = document.createElement('input');
    input.value = link;
    document.body.append(input);
    input.select();
    document.execCommand('copy');
    input.remove();
  }
  toast('Invite link copied');
}

function updateControls(): void {
  const hasMic = me.tracks.has('mic');
  const hasCamera = me.tracks.has('camera');
  const micOn = hasMic && me.mediaState.audio;
  const camOn = hasCamera && me.mediaState.video;
  const sharing = me.tracks.has('screen');
  setControl(
    buttons.mic,
    micOn,
    hasMic,
    micOn ? 'mic' : 'micOff',
    micOn ? 'Mute' : 'Unmute',
    'No microphone',
  );
  setControl(
    buttons.camera,
    camOn,
    hasCamera,
    camOn ? 'camera' : 'cameraOff',
    camOn ? 'Stop video' : 'Start video',
    'No camera',
  );
  buttons.screen.setAttribute('aria-pressed', String(sharing));
  buttons.screen.querySelector('.ctrl-label')!.textContent = sharing ? 'Stop sharing' : 'Share screen';
}

function setControl(
  button: HTMLButtonElement,
  on: boolean,
  available: boolean,
  iconName: keyof typeof ICONS,
  label: string,
  unavailable: string,
): void {
  button.setAttribute('aria-pressed', String(on));
  button.disabled = !available;
  const iconEl = button.querySelector('.ctrl-icon')!;
  const html = icon(iconName);
  if (iconEl.innerHTML !== html) iconEl.innerHTML = html;
  button.querySelector('.ctrl-label')!.textContent = available ? label : unavailable;
  button.title = available ? label : unavailable;
}

// ------------------------------------------------------------------ tiles

const tileKey = (p: Participant, source: 'camera' | 'screen') => `${p.local ? 'local' : p.peerId}|${source}`;

function render(): void {
  if (app.dataset.view !== 'call') return;
  const people = [me, ...remotes.values()];
  const wanted = new Set<string>();
  for (const p of people) {
    wanted.add(tileKey(p, 'camera'));
    updateTile(p, 'camera');
    if (p.tracks.has('screen')) {
      wanted.add(tileKey(p, 'screen'));
      updateTile(p, 'screen');
    }
  }
  for (const [key, tile] of tiles) {
    if (!wanted.has(key)) removeTile(key, tile);
  }
  // Keep DOM order: us first, then everyone in join order. Only tiles out of place move: render()
  // runs on every track, mute and speaker event, and moving a tile with a playing <video> costs
  // style, layout and paint of the whole grid, on a page that a P2P <-> SFU switch keeps busy.
  keepOrder(
    grid,
    people.flatMap((p) => tiles.get(tileKey(p, 'camera'))?.el ?? []),
  );
  keepOrder(
    spotlight,
    people.flatMap((p) => tiles.get(tileKey(p, 'screen'))?.el ?? []),
  );
  stage.classList.toggle('presenting', spotlight.childElementCount > 0);
  emptyState.hidden = remotes.size > 0 || client.state !== 'connected';
  const count = remotes.size + 1;
  if (peopleCount.dataset.count !== String(count)) {
    peopleCount.dataset.count = String(count);
    peopleCount.innerHTML = `${icon('people')}<span>${count}</span>`;
    peopleCount.title = `${count} ${count === 1 ? 'person' : 'people'} in the call`;
  }
  updateControls();
  // Tile sizes depend on the tile counts and the stage's size (a ResizeObserver handles that).
  if (layoutShape() !== laidOutShape) scheduleLayout();
}

/** The tile counts the last layout() sized tiles for. */
let laidOutShape = '';
const layoutShape = () =>
  `${grid.childElementCount}|${spotlight.childElementCount}|${stage.classList.contains('presenting')}`;
let layoutScheduled = false;

/**
 * layout() at the next frame, not now: it reads the grid's size, which forces a synchronous style
 * and layout pass (100 ms and more on a busy page), and render() runs inside the SDK's event
 * handlers, where that would hold back its next signaling step (a newcomer's sfu-join, a resume).
 */
function scheduleLayout(): void {
  if (layoutScheduled) return;
  layoutScheduled = true;
  requestAnimationFrame(() => {
    layoutScheduled = false;
    layout();
  });
}

/** Makes `order` the children of `parent` (they are all tiles), moving only those out of place. */
function keepOrder(parent: HTMLElement, order: HTMLElement[]): void {
  order.forEach((el, i) => {
    if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] ?? null);
  });
}

function updateTile(p: Participant, source: 'camera' | 'screen'): void {
  const key = tileKey(p, source);
  let tile = tiles.get(key);
  if (!tile) {
    tile = createTile(p, source);
    tiles.set(key, tile);
  }
  const el = tile.el;
  el.dataset.peerId = p.peerId;
  el.dataset.displayName = p.displayName;
  el.dataset.speaking = String(source === 'camera' && speakerId !== undefined && speakerId === p.peerId);
  const videoTrack = p.tracks.get(source);
  const audioTrack = p.local ? undefined : p.tracks.get(source === 'camera' ? 'mic' : 'screen-audio');
  if (source === 'camera') {
    el.dataset.micMuted = String(!p.mediaState.audio);
    el.dataset.cameraOff = String(!p.mediaState.video || !videoTrack);
    el.dataset.connecting = String(!p.local && p.mediaState.video && !videoTrack);
    const label = p.local ? `${p.displayName} (You)` : p.displayName;
    setText(tile.name, label);
  } else {
    setText(tile.name, p.local ? 'You are presenting' : `${p.displayName} is presenting`);
  }
  const circle = tile.avatar.firstElementChild as HTMLElement;
  setText(circle, initials(p.displayName));
  circle.style.setProperty('--avatar-color', avatarColor(p.local ? `me:${p.displayName}` : p.peerId));

  if (tile.videoTrack !== videoTrack) {
    tile.videoTrack = videoTrack;
    showVideo(tile, videoTrack);
  }
  if (tile.audio && tile.audioTrack !== audioTrack) {
    tile.audioTrack = audioTrack;
    tile.audio.srcObject = audioTrack ? new MediaStream([audioTrack]) : null;
    if (audioTrack) playMedia(tile.audio);
  }
}

function createTile(p: Participant, source: 'camera' | 'screen'): Tile {
  const el = document.createElement('div');
  el.className = 'tile';
  el.dataset.source = source;
  el.dataset.local = String(p.local);
  const video = createVideo();
  const avatar = document.createElement('div');
  avatar.className = 'avatar';
  avatar.innerHTML = '<div class="avatar-circle"></div>';
  const footer = document.createElement('div');
  footer.className = 'tile-footer';
  footer.innerHTML = `<span class="tile-badge badge-mic" title="Muted">${icon('micOff')}</span><span class="tile-name"><span class="tile-name-text"></span></span>`;
  const status = document.createElement('div');
  status.className = 'tile-status';
  status.textContent = 'Connecting…';
  el.append(video, avatar, footer, status);
  let audio: HTMLAudioElement | undefined;
  if (!p.local) {
    audio = document.createElement('audio');
    audio.autoplay = true;
    el.append(audio);
  }
  return {
    el,
    video,
    audio,
    name: footer.querySelector('.tile-name-text') as HTMLElement,
    avatar,
    videoTrack: undefined,
    audioTrack: undefined,
    incoming: undefined,
  };
}

function createVideo(): HTMLVideoElement {
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // sound plays through the <audio> element, so video autoplay is never blocked
  return video;
}

/** How long a new track may take to show a frame before it replaces the old one anyway. */
const VIDEO_SWAP_TIMEOUT_MS = 2000;

/**
 * Puts `track` on the tile. A <video> given a new srcObject goes blank until the new stream's
 * first frame has gone through its pipeline, 100-300 ms on a busy machine: seen at every P2P <->
 * SFU switch. So a track that replaces another plays first in a second element under the current
 * one (earlier in the tile, both absolutely placed), which takes the place of the old one once it
 * has presented a frame: the picture goes from the last old frame to the first new one.
 */
function showVideo(tile: Tile, track: MediaStreamTrack | undefined): void {
  dropIncoming(tile);
  const current = tile.video;
  if (!track || !current.srcObject) {
    current.srcObject = track ? new MediaStream([track]) : null;
    if (track) playMedia(current);
    return;
  }
  const next = createVideo();
  next.srcObject = new MediaStream([track]);
  tile.incoming = next;
  current.before(next);
  const swap = () => {
    if (tile.incoming !== next) return;
    clearTimeout(timer);
    tile.incoming = undefined;
    current.srcObject = null;
    current.remove();
    tile.video = next;
  };
  const timer = setTimeout(swap, VIDEO_SWAP_TIMEOUT_MS);
  // requestVideoFrameCallback: a frame was presented (not in every browser: then 'playing').
  if (typeof next.requestVideoFrameCallback === 'function') next.requestVideoFrameCallback(swap);
  else (next as HTMLVideoElement).addEventListener('playing', swap, { once: true });
  playMedia(next);
}

/** Forgets a track still waiting for its first frame under the tile's picture. */
function dropIncoming(tile: Tile): void {
  if (!tile.incoming) return;
  tile.incoming.srcObject = null;
  tile.incoming.remove();
  tile.incoming = undefined;
}

function removeTile(key: string, tile: Tile): void {
  tile.video.srcObject = null;
  dropIncoming(tile);
  if (tile.audio) {
    tile.audio.srcObject = null;
    blockedAudio.delete(tile.audio);
  }
  tile.el.remove();
  tiles.delete(key);
}

function clearTiles(): void {
  for (const [key, tile] of [...tiles]) removeTile(key, tile);
  stage.classList.remove('presenting');
}

function playMedia(el: HTMLMediaElement): void {
  el.play().catch((err: Error) => {
    if (err.name === 'NotAllowedError' && !el.muted) {
      blockedAudio.add(el);
      soundBanner.hidden = false;
    }
  });
}

function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Sizes tiles so they fill their area (the presenting strip sizes itself in CSS). */
function layout(): void {
  const gap = 12;
  const presenting = stage.classList.contains('presenting');
  laidOutShape = layoutShape();
  const sizeOf = (el: HTMLElement) => ({ w: el.clientWidth, h: el.clientHeight });
  if (!presenting) {
    const { w, h } = sizeOf(grid);
    const fit = fitGrid(grid.childElementCount, w, h - 4, gap);
    grid.style.setProperty('--tile-w', `${fit.width}px`);
    grid.style.setProperty('--tile-h', `${fit.height}px`);
  }
  const { w, h } = sizeOf(spotlight);
  const fit = fitGrid(spotlight.childElementCount, w, h - 4, gap);
  spotlight.style.setProperty('--tile-w', `${fit.width}px`);
  spotlight.style.setProperty('--tile-h', `${fit.height}px`);
}

// ------------------------------------------------------------------ toasts

function toast(text: string, kind: 'info' | 'error' = 'info'): void {
  const el = document.createElement('div');
  el.className = `toast ${kind}`;
  el.textContent = text;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  toasts.append(el);
  while (toasts.childElementCount > 4) toasts.firstElementChild?.remove();
  setTimeout(() => {
    el.classList.add('leaving');
    setTimeout(() => el.remove(), 300);
  }, 3500);
}

// The URL names the room; an invalid one is cleaned up rather than refused.
if (url.searchParams.has('room')) {
  const clean = sanitizeRoomId(url.searchParams.get('room') ?? '');
  if (clean && clean !== url.searchParams.get('room')) {
    url.searchParams.set('room', clean);
    history.replaceState(null, '', url);
  }
}

void main().catch((err) => {
  console.error(err);
  showEnded('Something went wrong', String((err as Error).message ?? err));
});
