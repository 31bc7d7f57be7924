/**
 * Replay: a stored webhook is sent through intake again as it was received
 * (with today's connection settings and code), as a new event that records
 * which one it replays.
 */
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Sealer } from '../lib/seal.js';
import { currentAccessKey } from '../settings/access-keys.js';
import type { Db } from '../storage/schema.js';
import { findEvent, markReplayOf } from './inbox.repository.js';
import { openRequest } from './stored-secrets.js';

export interface ReplayOutcome {
  statusCode: number;
  eventId: number | undefined;
  body: Record<string, unknown>;
}

/** What a replay needs: the database, and the HTTP app to send the request through in-process. */
export interface ReplayTarget {
  readonly database: { readonly db: Db };
  readonly clock: Clock;
  readonly sealer: Sealer;
  readonly app: {
    inject(request: {
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
      url: string;
      headers: Record<string, string>;
      payload?: string;
    }): Promise<{ statusCode: number; json<T>(): T }>;
  };
}

export async function replayEvent(service: ReplayTarget, id: number): Promise<ReplayOutcome> {
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
  if (eventId !== undefined) await markReplayOf(db, eventId, id);
  return { statusCode: response.statusCode, eventId, body };
}
