/** Labels for a contact's tags: known ones from storage, unknown ones from the CRM's tag list. */
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.js';
import type { Connection } from '../connections/registry.js';
import type { ContactData } from '../connectors/types.js';
import { findTagIdsByLabel, getTagLabels, saveTagLabels } from '../directory/tag.repository.js';
import type { DB } from '../storage/schema.js';

/** What labelling tags needs: storage, the clock, and the run's signal for the CRM's tag list. */
interface TagDeps {
  readonly db: Kysely<DB>;
  readonly clock: Clock;
  readonly signal?: AbortSignal | undefined;
}

export async function labelTags(
  deps: TagDeps,
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
      await saveTagLabels(
        deps.db,
        connection.id,
        await connection.connector.listTags({ signal: deps.signal }),
        now,
      );
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

/**
 * Reads the tags a webhook named in its `tags` parameter as ids: a known id
 * stays, a known label becomes its id; when some are neither, the CRM's tag
 * list is loaded once and asked again. What is still unknown stays as given
 * (CRMs that key tags by name, such as Ortto, take new ones that way).
 */
export async function resolveTagReferences(
  deps: TagDeps,
  connection: Connection,
  contact: ContactData,
): Promise<ContactData> {
  const given = contact.tags ?? [];
  const lookUp = async () => {
    const ids = await getTagLabels(deps.db, connection.id, given);
    const byLabel = await findTagIdsByLabel(
      deps.db,
      connection.id,
      given.filter((value) => !ids.has(value)),
    );
    return { ids, byLabel };
  };
  let known = await lookUp();
  if (given.some((value) => !known.ids.has(value) && !known.byLabel.has(value))) {
    try {
      const now = deps.clock.now().toISOString();
      await saveTagLabels(
        deps.db,
        connection.id,
        await connection.connector.listTags({ signal: deps.signal }),
        now,
      );
      known = await lookUp();
    } catch {
      // The CRM's tag list is out of reach: the values are taken as given.
    }
  }
  const tags = given.map((value) =>
    known.ids.has(value) ? value : (known.byLabel.get(value) ?? value),
  );
  return { ...contact, tags: [...new Set(tags)] };
}
