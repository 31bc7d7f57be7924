/** The one check of a CRM's answer against the schema a connector expects of it. */
import type { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Validates an answer's shape. A surprise becomes a permanent CRM_REJECTED
 * naming the call and the first issue (its path, never the values, which may
 * hold a written password), rather than a crash further on.
 */
export function parseAnswer<T>(schema: z.ZodType<T>, value: unknown, crm: string, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const where = issue?.path.join('.') || 'answer';
  throw new AppError(
    'CRM_REJECTED',
    `${what}: unexpected answer from ${crm} (${where}: ${issue?.message ?? 'invalid'})`,
  );
}
