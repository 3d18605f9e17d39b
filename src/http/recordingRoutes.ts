import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import {
  ProtocolError,
  RecordingParams,
  RecordingStartedResponse,
  RecordingStoppedResponse,
  RestError,
  RoomParams,
} from '../protocol/index.ts';
import type { RoomService } from '../rooms/RoomService.ts';
import type { RoomMediaController } from '../sfu/ConnectionManagerTypes.ts';
import { restError } from './httpErrors.ts';

type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/**
 * POST /api/rooms/:roomId/recordings starts recording a room, DELETE …/recordings/:recordingId
 * stops it (admin, or a host token for the room). The room's peers hear recording-started and
 * recording-stopped. Registered inside roomsPlugin (its rate limit and guards).
 */
export function recordingRoutes(
  base: FastifyInstance,
  deps: { rooms: RoomService; media: RoomMediaController; mayRecord: Guard },
): void {
  const app = base.withTypeProvider<ZodTypeProvider>();
  const { rooms, media, mayRecord } = deps;
  const common = { 401: RestError, 403: RestError, 404: RestError, 429: RestError, 500: RestError };

  app.post(
    '/api/rooms/:roomId/recordings',
    {
      schema: {
        tags: ['recordings'],
        summary: 'Start recording a room (admin or host): a P2P room moves to the SFU meanwhile',
        params: RoomParams,
        response: {
          201: RecordingStartedResponse,
          400: RestError,
          409: RestError,
          503: RestError,
          ...common,
        },
      },
      preValidation: mayRecord,
    },
    async (request, reply) => {
      const { roomId } = request.params;
      const room = await rooms.store.getRoom(roomId);
      if (!room) return reply.code(404).send(restError(404, 'ROOM_NOT_FOUND', `Room ${roomId} not found`));
      try {
        return reply.code(201).send(await media.startRecording(room));
      } catch (err) {
        if (err instanceof ProtocolError && err.code === 'RECORDING_UNAVAILABLE') {
          const busy = err.message.includes('being recorded already');
          return reply.code(busy ? 409 : 503).send(restError(busy ? 409 : 503, err.code, err.message));
        }
        throw err;
      }
    },
  );

  app.delete(
    '/api/rooms/:roomId/recordings/:recordingId',
    {
      schema: {
        tags: ['recordings'],
        summary: 'Stop a recording (admin or host); answers with its file, size and duration',
        params: RecordingParams,
        response: { 200: RecordingStoppedResponse, 400: RestError, ...common },
      },
      preValidation: mayRecord,
    },
    async (request, reply) => {
      const { roomId, recordingId } = request.params;
      const stopped = await media.stopRecording(roomId, recordingId);
      if (!stopped) {
        return reply
          .code(404)
          .send(restError(404, 'ROOM_NOT_FOUND', `Room ${roomId} has no recording ${recordingId} running`));
      }
      return stopped;
    },
  );
}
