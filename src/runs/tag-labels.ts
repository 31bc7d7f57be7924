/** Labels for a contact's tags: known ones from storage, unknown ones from the CRM's tag list. */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import type { ContactData } from '../connectors/types.js';
import { getTagLabels, saveTagLabels } from '../directory/tag.repository.js';
import type { DB } from '../storage/schema.js';

export async function labelTags(
  deps: { readonly db: Kysely<DB>; readonly clock: Clock },
  connection: Connection,
  contact: ContactData,
): Promise<{ labels: Map<string, string>; notices: string[] }> {
  const ids = contact.tags ?? [];
  const now = deps.clock.now().toISOString();
  if (contact.tagLabels) {
    const carried = ids.filter((id) => contact.tagLabels?.[id] !== undefined);
    await saveTagLabels(
      deps.db,
      connection.id,
      carried.map((id) => ({ id, label: contact.tagLabels?.[id] ?? id })),
      now,
    );
  }
  let labels = await getTagLabels(deps.db, connection.id, ids);
  if (ids.some((id) => !labels.has(id))) {
    try {
      await saveTagLabels(deps.db, connection.id, await connection.connector.listTags(), now);
      labels = await getTagLabels(deps.db, connection.id, ids);
    } catch (error) {
      return {
        labels,
        notices: [
          `Could not load tag names from the CRM (${error instanceof Error ? error.message : String(error)}); showing tag ids`,
        ],
      };
    }
  }
  return { labels, notices: [] };
}
