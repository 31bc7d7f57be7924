import type { Kysely } from 'kysely';
import { isSecretName, redactBody, redactRecord, redactUrl } from '../../lib/secrets.js';

const BATCH = 500;

interface LegacyParams {
  raw?: Record<string, string>;
  contact?: { fields?: Record<string, string> };
}

interface LegacyRequest {
  url: string;
  contentType: string | null;
  body: string | null;
}

/**
 * Access keys are checked against a keyed digest and kept sealed: `secret`
 * holds the sealed key from now on (rows from before are sealed when a
 * process that has the sealing key first opens the database).
 *
 * Webhooks stored by earlier versions kept passwords and tokens in clear; they
 * are masked here. Their values cannot be sealed (a migration has no sealing
 * key), so a replay of such an old webhook runs without them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('access_keys').addColumn('secret_hash', 'text').execute();

  const events = db as unknown as Kysely<{
    webhook_events: { id: number; params: string; request: string };
  }>;
  for (let after = 0; ;) {
    const rows = await events
      .selectFrom('webhook_events')
      .select(['id', 'params', 'request'])
      .where('id', '>', after)
      .orderBy('id')
      .limit(BATCH)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const params = maskParams(row.params);
      const request = maskRequest(row.request);
      if (params !== row.params || request !== row.request) {
        await events
          .updateTable('webhook_events')
          .set({ params, request })
          .where('id', '=', row.id)
          .execute();
      }
    }
    after = rows[rows.length - 1]?.id ?? after;
  }
}

function maskParams(text: string): string {
  const params = JSON.parse(text) as LegacyParams;
  const masked: LegacyParams = { ...params };
  if (params.raw) masked.raw = redactRecord(params.raw);
  if (params.contact?.fields)
    masked.contact = {
      ...params.contact,
      fields: redactRecord(params.contact.fields, isSecretName),
    };
  const result = JSON.stringify(masked);
  return result === JSON.stringify(params) ? text : result;
}

function maskRequest(text: string): string {
  const request = JSON.parse(text) as LegacyRequest;
  const masked = {
    ...request,
    url: redactUrl(request.url),
    body: redactBody(request.body, request.contentType),
  };
  return masked.url === request.url && masked.body === request.body ? text : JSON.stringify(masked);
}
