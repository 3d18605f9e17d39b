import type { TestServer } from '../helpers/server.ts';
import { sfuServerEnv } from '../integration/sfu/sfuTestEnv.ts';

/** A demo feature is tested twice: in a P2P room, and in a room created with mode `sfu`. */
export const P2P_AND_SFU_ROOMS = [
  { mode: 'p2p' as const, env: async (): Promise<Record<string, string>> => ({}) },
  { mode: 'sfu' as const, env: () => sfuServerEnv() },
];

/** An `sfu` room is made by REST first (a P2P room is made by the first join). */
export async function prepareRoom(server: TestServer, roomId: string, mode: 'p2p' | 'sfu'): Promise<void> {
  if (mode === 'p2p') return;
  const created = await server.app.inject({ method: 'POST', url: '/api/rooms', payload: { roomId, mode } });
  if (created.statusCode !== 201) throw new Error(`could not create room ${roomId}: ${created.body}`);
}
