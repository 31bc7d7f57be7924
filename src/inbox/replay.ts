/**
 * Replay: a stored webhook is sent through intake again as it was received
 * (with today's connection settings and code), as a new event that records
 * which one it replays. The same path sends a webhook made here (the admin
 * pages' "resync from CRM"), so it is stored, coalesced and logged like any other.
 */
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Sealer } from '../lib/seal.js';
import { currentAccessKey } from '../settings/access-keys.js';
import type { Db } from '../storage/schema.js';
import { findEvent, markReplayOf } from './inbox.repository.js';
import { openRequest } from './stored-secrets.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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
      method: Method;
      url: string;
      headers: Record<string, string>;
      payload?: string;
    }): Promise<{ statusCode: number; json<T>(): T }>;
  };
}

/** Sends a webhook through intake with the current access key (in a header, out of every log). */
export async function sendWebhook(
  target: ReplayTarget,
  request: { method: Method; url: string; contentType?: string | null; body?: string | null },
): Promise<ReplayOutcome> {
  const key = await currentAccessKey(target.database.db, target.clock, target.sealer);
  const response = await target.app.inject({
    method: request.method,
    url: request.url,
    headers: {
      'x-access-key': key.secret,
      accept: 'application/json',
      ...(request.contentType ? { 'content-type': request.contentType } : {}),
    },
    ...(request.body !== null && request.body !== undefined && request.method !== 'GET'
      ? { payload: request.body }
      : {}),
  });
  const body = response.json<Record<string, unknown>>();
  const eventId = typeof body.eventId === 'number' ? body.eventId : undefined;
  return { statusCode: response.statusCode, eventId, body };
}

export async function replayEvent(target: ReplayTarget, id: number): Promise<ReplayOutcome> {
  const { db } = target.database;
  const event = await findEvent(db, id);
  if (!event) throw new AppError('NOT_FOUND', `event #${id}`);
  const request = openRequest(event.request, target.sealer);
  const outcome = await sendWebhook(target, {
    method: request.method as Method,
    url: request.url,
    contentType: request.contentType,
    body: request.body,
  });
  if (outcome.eventId !== undefined) await markReplayOf(db, outcome.eventId, id);
  return outcome;
}
