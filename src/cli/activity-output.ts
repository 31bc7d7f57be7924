/** One activity-log entry as a line of text, shared by `log` and `events show`. */
import type { ActivityLogRow } from '../storage/schema.js';
import { escapeControls } from './output.js';

export function formatActivity(row: ActivityLogRow): string {
  const where = [
    row.connection_id && `conn ${row.connection_id}`,
    row.contact_id && `contact ${row.contact_id}`,
    row.event_id && `#${row.event_id}`,
  ]
    .filter(Boolean)
    .join(' ');
  return escapeControls(
    `${row.at} ${row.level.toUpperCase().padEnd(7)} ${where ? `[${where}] ` : ''}${row.message}`,
  );
}
