/**
 * Replay: a stored webhook is sent through intake again as it was received
 * (with today's connection settings and code), as a new event that records
 * which one it replays.
 */
import { AppError } from '../errors.js';
import type { Service } from '../service.js';
import { currentAccessKey } from '../settings/access-keys.js';
import { findEvent } from './inbox.repository.js';
import { openRequest } from './stored-secrets.js';

export interface ReplayOutcome {
  statusCode: number;
  eventId: number | undefined;
  body: Record<string, unknown>;
}

export async function replayEvent(service: Service, id: number): Promise<ReplayOutcome> {
  const { db } = service.database;
  const event = await findEvent(db, id);
  if (!event) throw new AppError('NOT_FOUND', `event #${id}`);
  const request = openRequest(event.request, service.sealer);
  const key = await currentAccessKey(db, service.clock, service.sealer);
  const method = request.method as 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  const response = await service.app.inject({
    method,
    url: request.url,
    headers: {
      'x-access-key': key.secret,
      ...(request.contentType ? { 'content-type': request.contentType } : {}),
    },
    ...(request.body !== null && method !== 'GET' ? { payload: request.body } : {}),
  });
  const body = response.json<Record<string, unknown>>();
  const eventId = typeof body.eventId === 'number' ? body.eventId : undefined;
  if (eventId !== undefined) {
    await db
      .updateTable('webhook_events')
      .set({ replay_of: id })
      .where('id', '=', eventId)
      .execute();
  }
  return { statusCode: response.statusCode, eventId, body };
}
