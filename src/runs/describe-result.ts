/** The activity lines a finished run writes: what was loaded, what changed, and any notices. */
import { activityLine as entry } from '../activity/activity-line.js';
import type { ActivityEntry } from '../activity/activity.repository.js';
import type { RunResult } from './run-contact.js';

/** The activity lines for a finished run: what was loaded, what changed, and any notices. */
export function describeResult(
  result: RunResult,
  eventId: number | null,
  context: { connectionId: string; contactId: string; action: string },
  coalesced: string,
): ActivityEntry[] {
  const lines: ActivityEntry[] = [];
  const userId = result.userId;
  const fieldNames = Object.keys(result.loaded.fields);
  lines.push(
    entry(
      'debug',
      `Loaded contact ${result.contactId} from the ${result.loaded.source === 'api' ? 'CRM' : 'webhook'}: ${result.loaded.email ?? 'no e-mail'}, ${fieldNames.length} fields${result.loaded.tags ? `, tags: ${result.loaded.tags.join(', ') || 'none'}` : ''}`,
      eventId,
      context,
      result.loaded,
      userId,
    ),
  );
  for (const notice of result.notices)
    lines.push(entry('notice', notice, eventId, context, undefined, userId));
  if (result.status === 'skipped') {
    lines.push(
      entry(
        'info',
        `Skipped ${result.action} for contact ${result.contactId}: ${result.skipReason ?? 'no matching user'}${coalesced}`,
        eventId,
        context,
        undefined,
        null,
      ),
    );
    return lines;
  }
  const tagText = [
    result.tags.added.length ? `added tags ${result.tags.added.join(', ')}` : '',
    result.tags.removed.length ? `removed tags ${result.tags.removed.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const what = result.created
    ? `Created user #${userId} (${result.login}) for contact ${result.contactId}`
    : result.changes.length
      ? `Updated user #${userId} (${result.login}): ${result.changes.join(', ')}`
      : `User #${userId} (${result.login}) was already up to date`;
  const welcome =
    result.welcomeEmail === 'queued'
      ? `; welcome e-mail queued (mail #${result.welcomeEmailId})`
      : '';
  lines.push(
    entry(
      'info',
      `${what}${tagText ? `; ${tagText}` : ''}${welcome}${coalesced}`,
      eventId,
      context,
      {
        changes: result.changes,
        tags: result.tags,
        passwordGenerated: result.passwordGenerated,
        returnPassword: result.returnPassword,
        welcomeEmail: result.welcomeEmail,
      },
      userId,
    ),
  );
  return lines;
}
