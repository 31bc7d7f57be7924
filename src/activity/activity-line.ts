/** One activity line about a webhook's contact. */
import type { ActivityEntry } from './activity.repository.js';

export function activityLine(
  level: ActivityEntry['level'],
  message: string,
  eventId: number | null,
  context: { connectionId: string; contactId: string; action: string },
  data?: unknown,
  userId?: number | null,
): ActivityEntry {
  return { level, message, eventId, userId, data, ...context };
}
