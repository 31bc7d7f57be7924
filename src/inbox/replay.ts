/**
 * Replay: a stored webhook is sent through intake again as it was received
 * (with today's connection settings and code), as a new event that records
 * which one it replays. The same path sends a webhook made here (the admin
 * pages' "resync from CRM"), so it is stored, coalesced and logged like any other.
 */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import { AppError } from '../errors.js';
import type { Sealer } from '../lib/seal.js';
import { currentAccessKey } from '../settings/access-keys.js';
import type { DB } from '../storage/schema.js';
import { findEvent } from './inbox.repository.js';
import { openRequest } from './stored-secrets.js';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** The subset of Fastify's `inject` a replay needs. */
export type Inject = (request: {
  method: Method;
  url: string;
  headers: Record<string, string>;
  payload?: string;
}) => Promise<{ statusCode: number; body: string }>;

export interface ReplayDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly sealer: Sealer;
  /** Sends a request through this service's own HTTP routes, in process. */
  readonly inject: Inject;
}

export interface ReplayOutcome {
  statusCode: number;
  eventId: number | undefined;
  body: Record<string, unknown>;
}

/** Sends a webhook through intake with the current access key (in a header, out of every log). */
export async function sendWebhook(
  deps: ReplayDeps,
  request: {
    method: Method;
    url: string;
    contentType?: string | null | undefined;
    body?: string | null;
  },
): Promise<ReplayOutcome> {
  const key = await currentAccessKey(deps.db, deps.clock, deps.sealer);
  const response = await deps.inject({
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
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(response.body) as Record<string, unknown>;
  } catch {
    body = { status: 'error', text: response.body.slice(0, 500) };
  }
  const eventId = typeof body.eventId === 'number' ? body.eventId : undefined;
  return { statusCode: response.statusCode, eventId, body };
}

export async function replayEvent(deps: ReplayDeps, id: number): Promise<ReplayOutcome> {
  const event = await findEvent(deps.db, id);
  if (!event) throw new AppError('NOT_FOUND', `event #${id}`);
  const request = openRequest(event.request, deps.sealer);
  const outcome = await sendWebhook(deps, {
    method: request.method as Method,
    url: request.url,
    contentType: request.contentType,
    body: request.body,
  });
  if (outcome.eventId !== undefined) {
    await deps.db
      .updateTable('webhook_events')
      .set({ replay_of: id })
      .where('id', '=', outcome.eventId)
      .execute();
  }
  return outcome;
}
