/**
 * Whether an SDP offer or answer would send audio or video: any audio/video section that is not
 * rejected (port 0) and whose direction is sendrecv or sendonly (the default when none is given,
 * at media level or else at session level). A peer that may not publish (a viewer) can still
 * receive: recvonly and inactive sections, and data channels, pass.
 */
export function sdpSendsMedia(sdp: string): boolean {
  const lines = sdp.split(/\r?\n/);
  let sessionDirection = 'sendrecv';
  let section: { media: boolean; rejected: boolean; direction: string | undefined } | undefined;
  const sends = (s: NonNullable<typeof section>) =>
    s.media && !s.rejected && ['sendrecv', 'sendonly'].includes(s.direction ?? sessionDirection);
  const sections: Array<NonNullable<typeof section>> = [];
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const [kind, port] = line.slice(2).split(' ');
      section = { media: kind === 'audio' || kind === 'video', rejected: port === '0', direction: undefined };
      sections.push(section);
      continue;
    }
    const direction = /^a=(sendrecv|sendonly|recvonly|inactive)\s*$/.exec(line)?.[1];
    if (direction === undefined) continue;
    if (section) section.direction = direction;
    else sessionDirection = direction;
  }
  return sections.some(sends);
}
